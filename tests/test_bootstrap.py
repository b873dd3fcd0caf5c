"""bootstrap_ci: the vectorized evaluation equals a loop over the same resamples, the
jackknife shortcuts equal leave-one-out loops, and the intervals agree with
scipy.stats.bootstrap (statistically: both are Monte Carlo)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

import polyclass.metrics as pm
from polyclass.metrics import bootstrap_ci
from polyclass.metrics._bootstrap import (
    _acceleration,
    _ConfusionEvaluator,
    _LoopEvaluator,
    _make_evaluator,
    _resolve,
    _run,
    _ScoreEvaluator,
)
from polyclass.metrics._encode import encode, unique_labels


def label_data(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = np.array(["ant", "bee", "cow", "doe"])
    y_true = names[rng.choice(3, n, p=[0.6, 0.3, 0.1])]  # 'doe' only ever predicted
    noise = names[rng.integers(0, 4, n)]
    y_pred = np.where(rng.random(n) < 0.7, y_true, noise)
    return y_true, y_pred


def score_data(seed: int, n: int = 90) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    y[:2], y[2:4] = 0, 1
    s = np.round(rng.normal(size=n) + 1.2 * y, 1)  # ties
    return y, s


def quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(*args, **kwargs))


def setup(
    metric: Any,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray | None,
    stratify: bool,
    kwargs: dict[str, Any],
) -> Any:
    name, fn = _resolve(metric)
    strata = encode("t", "y", y, unique_labels(y)) if stratify else np.zeros(len(y), np.intp)
    return _make_evaluator(name, fn, y, p, w, strata, kwargs)


LABEL_CASES: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("accuracy_score", skm.accuracy_score, {}),
    ("balanced_accuracy_score", skm.balanced_accuracy_score, {}),
    ("f1_score", skm.f1_score, {"average": "macro"}),
    ("f1_score", skm.f1_score, {"average": "weighted", "zero_division": 1.0}),
    ("precision_score", skm.precision_score, {"average": "micro"}),
    ("recall_score", skm.recall_score, {"average": "macro", "labels": ["ant", "cow"]}),
    ("fbeta_score", skm.fbeta_score, {"beta": 2.0, "average": "macro"}),
    ("jaccard_score", skm.jaccard_score, {"average": "macro"}),
    ("matthews_corrcoef", skm.matthews_corrcoef, {}),
    ("cohen_kappa_score", skm.cohen_kappa_score, {}),
    ("hamming_loss", skm.hamming_loss, {}),
    (
        "expected_cost",
        pm.expected_cost,
        {"cost_matrix": np.arange(16.0).reshape(4, 4), "labels": ["ant", "bee", "cow", "doe"]},
    ),
]


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("weights", ["none", "few values", "continuous"])
@pytest.mark.parametrize(("name", "reference", "kwargs"), LABEL_CASES)
def test_label_metrics_equal_a_loop_over_the_same_resamples(
    name: str,
    reference: Callable[..., Any],
    kwargs: dict[str, Any],
    weights: str,
    stratify: bool,
) -> None:
    y, p = label_data(1)
    rng = np.random.default_rng(2)
    w = {
        "none": None,
        "few values": rng.choice([0.5, 2.0], len(y)),  # resampled as (cell, weight) groups
        "continuous": rng.uniform(0.5, 2.0, len(y)),  # resampled as rows
    }[weights]
    ev = setup(name, y, p, w, stratify, kwargs)
    assert isinstance(ev, _ConfusionEvaluator)
    assert ev.atoms.by_row == (weights == "continuous")
    record: list[np.ndarray] = []
    theta = _run(ev, 30, np.random.default_rng(5), record)
    counts = np.concatenate(record)
    for b in range(30):
        rows = np.repeat(ev.atoms.rows, counts[b])
        extra = {} if w is None else {"sample_weight": w[rows]}
        expected = quiet(reference, y[rows], p[rows], **extra, **kwargs)
        assert theta[b] == pytest.approx(expected, rel=1e-12, abs=1e-14), b
    # The stratified resamples keep the count of every true class.
    if stratify:
        for cls in np.unique(y):
            drawn = counts[:, np.isin(ev.atoms.rows, np.flatnonzero(y == cls))].sum(axis=1)
            assert np.all(drawn == np.sum(y == cls))


@pytest.mark.parametrize("weights", ["none", "few values", "continuous"])
@pytest.mark.parametrize(("name", "reference", "kwargs"), LABEL_CASES)
def test_confusion_jackknife_equals_leave_one_out(
    name: str, reference: Callable[..., Any], kwargs: dict[str, Any], weights: str
) -> None:
    y, p = label_data(3, n=40)
    rng = np.random.default_rng(4)
    w = {
        "none": None,
        "few values": rng.integers(1, 3, len(y)).astype(float),
        "continuous": rng.uniform(0.5, 2.0, len(y)),
    }[weights]
    ev = setup(name, y, p, w, True, kwargs)
    values, mult = ev.jackknife()
    loo = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        extra = {} if w is None else {"sample_weight": w[keep]}
        loo.append(quiet(reference, y[keep], p[keep], **extra, **kwargs))
    np.testing.assert_allclose(
        np.sort(np.repeat(values, mult.astype(int))), np.sort(loo), rtol=1e-12, atol=1e-14
    )
    loo_a = _acceleration(np.array(loo), np.ones(len(loo)))
    assert _acceleration(values, mult) == pytest.approx(loo_a, rel=1e-9, abs=1e-12)


SCORE_CASES: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("roc_auc_score", skm.roc_auc_score, {}),
    ("roc_auc_score", skm.roc_auc_score, {"max_fpr": 0.3}),
    ("average_precision_score", skm.average_precision_score, {}),
]


@pytest.mark.parametrize("weights", ["none", "integer", "float with zeros"])
@pytest.mark.parametrize(("name", "reference", "kwargs"), SCORE_CASES)
def test_score_metrics_equal_a_loop_and_jackknife(
    name: str, reference: Callable[..., Any], kwargs: dict[str, Any], weights: str
) -> None:
    y, s = score_data(7)
    rng = np.random.default_rng(8)
    w = None
    if weights == "integer":  # few distinct weights: AP's closed-form jackknife
        w = rng.integers(1, 4, len(y)).astype(float)
    elif weights == "float with zeros":  # many distinct weights: the generic jackknife
        w = rng.uniform(0.1, 2.0, len(y))
        w[[5, 6, 50]] = 0.0
    ev = setup(name, y, s, w, True, kwargs)
    assert isinstance(ev, _ScoreEvaluator)
    record: list[np.ndarray] = []
    theta = _run(ev, 40, np.random.default_rng(9), record)
    counts = np.concatenate(record)
    for b in range(40):
        rows = np.repeat(ev.atoms.rows, counts[b])
        extra = {} if w is None else {"sample_weight": w[rows]}
        expected = reference(y[rows], s[rows], **extra, **kwargs)
        assert theta[b] == pytest.approx(expected, rel=1e-12, abs=1e-14), b
    values, mult = ev.jackknife()
    loo = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        extra = {} if w is None else {"sample_weight": w[keep]}
        loo.append(reference(y[keep], s[keep], **extra, **kwargs))
    np.testing.assert_allclose(
        np.sort(np.repeat(values, mult.astype(int))), np.sort(loo), rtol=1e-12, atol=1e-14
    )


def test_public_result_is_built_from_the_same_resamples() -> None:
    y, p = label_data(11)
    kwargs = {"average": "macro"}
    ci = bootstrap_ci("f1_score", y, p, n_resamples=500, random_state=3, **kwargs)
    ev = setup("f1_score", y, p, None, False, kwargs)
    theta = _run(ev, 500, np.random.default_rng(3))
    low, high = np.quantile(theta, [0.025, 0.975])
    assert (ci.low, ci.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert ci.estimate == skm.f1_score(y, p, average="macro")
    assert ci.standard_error == pytest.approx(np.std(theta, ddof=1))
    assert (ci.level, ci.method, ci.n_resamples) == (0.95, "percentile", 500)


def test_seeded_and_reproducible() -> None:
    y, p = label_data(12)
    a = bootstrap_ci("accuracy_score", y, p, random_state=1, n_resamples=300)
    b = bootstrap_ci("accuracy_score", y, p, random_state=1, n_resamples=300)
    c = bootstrap_ci("accuracy_score", y, p, random_state=2, n_resamples=300)
    assert a == b and (a.low, a.high) != (c.low, c.high)
    gen = bootstrap_ci(
        "accuracy_score", y, p, random_state=np.random.default_rng(1), n_resamples=300
    )
    assert gen == a


def test_metric_given_as_function_takes_the_fast_path() -> None:
    y, p = label_data(13)
    assert _resolve(pm.f1_score) == ("f1_score", pm.f1_score)
    by_name = bootstrap_ci("f1_score", y, p, average="macro", random_state=0, n_resamples=200)
    by_fn = bootstrap_ci(pm.f1_score, y, p, average="macro", random_state=0, n_resamples=200)
    assert by_name == by_fn


def test_arbitrary_callable_falls_back_to_a_loop() -> None:
    y, p = label_data(14, n=50)

    def share_of_ants(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(np.mean(y_pred == "ant"))

    ev = setup(share_of_ants, y, p, None, True, {})
    assert isinstance(ev, _LoopEvaluator)
    ci = bootstrap_ci(share_of_ants, y, p, method="bca", n_resamples=200, random_state=0)
    assert ci.low <= ci.estimate <= ci.high and ci.method == "bca"


# --------------------------------------------------------- agreement with scipy


def _accuracy_stat(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(t == p, axis=axis)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_agrees_with_scipy_bootstrap_for_accuracy(method: str) -> None:
    rng = np.random.default_rng(20)
    y = rng.integers(0, 2, 300)
    p = np.where(rng.random(300) < 0.8, y, 1 - y)
    ours = bootstrap_ci(
        "accuracy_score", y, p, method=method, stratify=False, n_resamples=6000, random_state=1
    )
    ref = stats.bootstrap(
        (y, p),
        _accuracy_stat,
        paired=True,
        vectorized=True,
        n_resamples=6000,
        method="BCa" if method == "bca" else "percentile",
        rng=np.random.default_rng(2),
    )
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.01)
    assert ours.standard_error == pytest.approx(ref.standard_error, rel=0.1)


def _auc_stat(t: np.ndarray, sc: np.ndarray, axis: int = -1) -> np.ndarray:
    """ROC AUC along the last axis by Mann-Whitney midranks (vectorized for scipy)."""
    ranks = stats.rankdata(sc, axis=-1)
    pos = t == 1
    m = pos.sum(axis=-1)
    n = t.shape[-1] - m
    return ((ranks * pos).sum(axis=-1) - m * (m + 1) / 2) / (m * n)


def test_agrees_with_scipy_bootstrap_for_roc_auc_bca() -> None:
    y, s = score_data(21, n=150)
    assert _auc_stat(y, s) == pytest.approx(skm.roc_auc_score(y, s), rel=1e-12)
    ours = bootstrap_ci(
        "roc_auc_score", y, s, method="bca", stratify=True, n_resamples=5000, random_state=0
    )
    ref = stats.bootstrap(
        (y, s),
        _auc_stat,
        paired=True,
        vectorized=True,
        n_resamples=5000,
        method="BCa",
        rng=np.random.default_rng(1),
    )
    # scipy does not stratify; with 30% positives the intervals still agree closely.
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.02)


def test_bca_acceleration_equals_scipy_jackknife_formula() -> None:
    # scipy: a = sum(U^3) / (6 (sum U^2)^1.5), U = (n-1)(mean - theta_i), over rows.
    y, s = score_data(22, n=70)
    ev = setup("roc_auc_score", y, s, None, False, {})
    values, mult = ev.jackknife()
    theta_i = np.array([skm.roc_auc_score(np.delete(y, i), np.delete(s, i)) for i in range(len(y))])
    u = (len(y) - 1) * (theta_i.mean() - theta_i)
    scipy_a = (u**3).sum() / len(y) ** 3 / (6 * ((u**2).sum() / len(y) ** 2) ** 1.5)
    assert _acceleration(values, mult) == pytest.approx(scipy_a, rel=1e-9)


@pytest.mark.slow
def test_percentile_and_bca_coverage_is_near_nominal() -> None:
    # 300 datasets from a population with known accuracy 0.8.
    rng = np.random.default_rng(30)
    hits = {"percentile": 0, "bca": 0}
    reps = 300
    for rep in range(reps):
        y = rng.integers(0, 2, 80)
        p = np.where(rng.random(80) < 0.8, y, 1 - y)
        for method in hits:
            ci = bootstrap_ci(
                "accuracy_score", y, p, method=method, n_resamples=400, random_state=rep
            )
            hits[method] += ci.low <= 0.8 <= ci.high
    for method, h in hits.items():
        assert 0.89 <= h / reps <= 0.99, (method, h / reps)


# ---------------------------------------------------------------- edge cases


def test_degenerate_distribution_without_a_rule_warns_of_zero_width() -> None:
    # A perfect classifier: MCC is 1 on every resample and has no boundary rule.
    y = np.array([0, 1] * 20)
    for method in ("percentile", "bca"):
        with pytest.warns(UserWarning, match="zero width"):
            ci = bootstrap_ci("matthews_corrcoef", y, y, method=method, random_state=0)
        assert (ci.estimate, ci.low, ci.high, ci.standard_error) == (1.0, 1.0, 1.0, 0.0)


def test_undefined_resamples_are_dropped_with_a_warning() -> None:
    y = np.array([0, 0, 0, 0, 0, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.9])
    with pytest.warns(UserWarning, match="undefined on"):
        ci = bootstrap_ci("roc_auc_score", y, s, stratify=False, n_resamples=200, random_state=0)
    assert ci.low <= ci.high


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "student"}, "'method' parameter of bootstrap_ci"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"n_resamples": 2.5}, "n_resamples"),
        ({"confidence_level": 95}, "confidence_level"),
        ({"stratify": "yes"}, "stratify"),
    ],
)
def test_argument_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_ci("accuracy_score", [0, 1, 0, 1], [0, 1, 1, 1], **kwargs)


def test_input_errors() -> None:
    with pytest.raises(ValueError, match=r"not a metric of polyclass\.metrics"):
        bootstrap_ci("accuracy", [0, 1], [0, 1])
    with pytest.raises(ValueError, match="metric name or a callable"):
        bootstrap_ci(42, [0, 1], [0, 1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        bootstrap_ci("accuracy_score", [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="not one number"):
        bootstrap_ci("f1_score", [0, 1, 2], [0, 1, 1], average=None)
    with pytest.raises(ValueError, match="BCa needs"):
        bootstrap_ci(
            "roc_auc_score", [0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4], method="bca", stratify=True
        )
