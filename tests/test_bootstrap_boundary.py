"""Bootstrap intervals that do not collapse: plain resampling by default, boundary rules,
and the batched one-vs-rest ranking metrics (checked against sklearn per resample)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from polyclass.metrics import bootstrap_ci, wilson_interval
from polyclass.metrics._bootstrap import _make_evaluator, _resolve, _run
from polyclass.metrics._score_resampling import _OneVsRestEvaluator


def test_constant_classifier_gets_an_interval_of_positive_width() -> None:
    # issue #10: stratified resampling fixed the class counts, so this was 0.35-0.35.
    y = np.array(["a"] * 21 + ["b"] * 21 + ["c"] * 18)
    y = np.random.default_rng(0).permutation(y)
    ci = bootstrap_ci("accuracy_score", y, np.full(60, "b"), random_state=0)
    assert ci.estimate == pytest.approx(21 / 60)
    assert ci.low < ci.estimate < ci.high
    assert ci.high - ci.low > 0.15  # a proportion of 0.35 on 60 rows: about +-0.12
    assert ci.method == "percentile"


def test_default_resampling_lets_the_class_counts_vary() -> None:
    y = np.array([0, 1, 2] * 20)
    name, fn = _resolve("accuracy_score")
    ev = _make_evaluator(name, fn, y, y, None, np.zeros(60, np.intp), {})
    record: list[np.ndarray] = []
    _run(ev, 200, np.random.default_rng(0), record)
    counts = np.concatenate(record)
    # The atoms of a perfect classifier are its three diagonal cells, one per class.
    per_class = counts[:, np.argsort(ev.cell)]
    assert per_class.sum(axis=1).tolist() == [60] * 200
    assert per_class.std(axis=0).min() > 2.0


@pytest.mark.parametrize("n", [30, 45, 69])
@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize(
    ("metric", "kwargs", "scores"),
    [
        ("accuracy_score", {}, False),
        ("balanced_accuracy_score", {}, False),
        ("f1_score", {"average": "macro"}, False),
        ("f1_score", {"average": "weighted"}, False),
        ("recall_score", {"average": "macro"}, False),
        ("precision_score", {"average": "micro"}, False),
        ("roc_auc_score", {"multi_class": "ovr"}, True),
        ("average_precision_score", {}, True),
    ],
)
def test_perfect_classifier_interval_has_positive_width(
    n: int, method: str, metric: str, kwargs: dict[str, Any], scores: bool
) -> None:
    # issue #10: every perfect classifier on 30-69 rows showed 1.000-1.000.
    y = np.array([0, 1, 2] * 23)[:n]
    pred = np.eye(3)[y] * 0.8 + 0.2 / 3 if scores else y
    ci = bootstrap_ci(metric, y, pred, method=method, random_state=0, **kwargs)
    assert ci.estimate == 1.0 and ci.high == 1.0
    assert 0.5 < ci.low < 0.99
    assert ci.method == "wilson"


def test_perfect_accuracy_interval_is_wilson_on_the_rows() -> None:
    y = np.array([0, 1] * 20)
    ci = bootstrap_ci("accuracy_score", y, y, random_state=0)
    assert (ci.low, ci.high) == pytest.approx(wilson_interval(40, 40))
    # Weighted rows count as Kish's effective sample size, (sum w)^2 / sum w^2.
    w = np.array([1.0, 3.0] * 20)
    ci = bootstrap_ci("accuracy_score", y, y, sample_weight=w, random_state=0)
    n_eff = w.sum() ** 2 / (w @ w)
    assert (ci.low, ci.high) == pytest.approx(wilson_interval(n_eff, n_eff))


def test_binary_auc_rule_uses_the_smaller_class() -> None:
    y = np.array([1] * 8 + [0] * 40)
    s = np.where(y == 1, 0.9, 0.1)
    ci = bootstrap_ci("roc_auc_score", y, s, random_state=0)
    assert (ci.low, ci.high) == pytest.approx(wilson_interval(8, 8))
    ci = bootstrap_ci("roc_auc_score", y, 1 - s, random_state=0)  # always wrong
    assert (ci.estimate, ci.low) == (0.0, 0.0)
    assert ci.high == pytest.approx(wilson_interval(0, 8)[1])


def test_all_wrong_classifier_f1_is_bounded_above() -> None:
    y = np.array([0, 1, 2] * 15)
    ci = bootstrap_ci("f1_score", y, (y + 1) % 3, average="macro", random_state=0)
    assert (ci.estimate, ci.low) == (0.0, 0.0)
    # F1 of each class is at most F1 of the upper Wilson bounds of precision and recall.
    assert ci.high == pytest.approx(wilson_interval(0, 15)[1])


# ------------------------------------------------------------ one-vs-rest, batched


def ovr_data(seed: int, n: int = 80, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(k, n, p=np.linspace(2, 1, k) / np.linspace(2, 1, k).sum())
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(np.round(logits, 1))  # ties
    return y, p / p.sum(axis=1, keepdims=True)


def reference_ovr(name: str, y: np.ndarray, s: np.ndarray, average: str) -> float:
    """Average of sklearn's binary metric over the classes defined in the sample."""
    values, weights = [], []
    for c in range(s.shape[1]):
        pos = y == c
        if pos.sum() == 0 or (name == "roc_auc_score" and pos.all()):
            continue
        fn = skm.roc_auc_score if name == "roc_auc_score" else skm.average_precision_score
        values.append(fn(pos, s[:, c]))
        weights.append(pos.sum() if average == "weighted" else 1.0)
    return float(np.average(values, weights=weights))


@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("name", ["roc_auc_score", "average_precision_score"])
def test_one_vs_rest_equals_sklearn_on_the_same_resamples(name: str, average: str) -> None:
    y, s = ovr_data(1)
    kwargs: dict[str, Any] = {"average": average}
    if name == "roc_auc_score":
        kwargs["multi_class"] = "ovr"
        assert reference_ovr(name, y, s, average) == pytest.approx(
            skm.roc_auc_score(y, s, **kwargs), rel=1e-12
        )
    else:
        assert reference_ovr(name, y, s, average) == pytest.approx(
            skm.average_precision_score(np.eye(4)[y], s, average=average), rel=1e-12
        )
    mname, fn = _resolve(name)
    ev = _make_evaluator(mname, fn, y, s, None, np.zeros(len(y), np.intp), kwargs)
    assert isinstance(ev, _OneVsRestEvaluator)
    record: list[np.ndarray] = []
    theta = _run(ev, 40, np.random.default_rng(2), record)
    counts = np.concatenate(record)
    for b in range(40):
        rows = np.repeat(ev.atoms.rows, counts[b])
        expected = reference_ovr(name, y[rows], s[rows], average)
        assert theta[b] == pytest.approx(expected, rel=1e-12, abs=1e-14), b
    if name == "roc_auc_score":
        values, mult = ev.jackknife()
        loo = [reference_ovr(name, np.delete(y, i), np.delete(s, i, 0), average) for i in range(80)]
        np.testing.assert_allclose(values, loo, rtol=1e-12)
        assert (mult == 1).all()


def test_multiclass_average_precision_bca_uses_the_loop_jackknife() -> None:
    y, s = ovr_data(3, n=50, k=3)
    ci = bootstrap_ci("average_precision_score", y, s, method="bca", random_state=0)
    assert ci.method == "bca" and ci.low < ci.estimate < ci.high
