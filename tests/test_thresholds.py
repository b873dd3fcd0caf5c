"""Threshold selection (against brute force over every threshold) and the Bayes decision."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix

from polyclass.metrics import bayes_decision, expected_cost, select_threshold


def brute_force(
    y: np.ndarray,
    s: np.ndarray,
    w: np.ndarray | None,
    criterion: str,
    **kw: float,
) -> tuple[float, float]:
    """(threshold, value) by evaluating every candidate with sklearn's confusion matrix."""
    candidates = np.unique(s)[::-1]
    if criterion in ("youden", "cost"):
        candidates = np.concatenate(([np.inf], candidates))
    rows = []
    for t in candidates:
        tn, fp, fn, tp = confusion_matrix(
            y, (s >= t).astype(int), labels=[0, 1], sample_weight=w
        ).ravel()
        p_, n_ = tp + fn, tn + fp
        precision = tp / (tp + fp) if tp + fp > 0 else np.nan
        recall = tp / p_
        if criterion == "youden":
            value = recall - fp / n_
        elif criterion == "f_beta":
            b2 = kw["beta"] ** 2
            value = (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
        elif criterion == "cost":
            value = -(kw["cost_fp"] * fp + kw["cost_fn"] * fn) / (p_ + n_)
        elif criterion == "precision_at_recall":
            value = precision if recall >= kw["min_recall"] else -np.inf
        else:
            value = recall if precision >= kw["min_precision"] else -np.inf
        rows.append((t, value, precision, recall))
    values = np.array([r[1] for r in rows])
    best = np.max(values)
    ties = [i for i, v in enumerate(values) if v >= best - 1e-12 * max(1, abs(best))]
    if criterion == "precision_at_recall":
        i = ties[-1]  # highest recall among equal precision (lowest threshold)
    else:
        i = ties[0]  # highest threshold (for recall_at_precision: highest precision)
    value = rows[i][1]
    return float(rows[i][0]), float(-value if criterion == "cost" else value)


def make_data(seed: int, n: int = 80, weighted: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2], y[2:4] = 0, 1
    s = np.round(rng.normal(size=n) + y * rng.uniform(0.5, 2.0), 1)  # many ties
    w = rng.uniform(0.2, 3.0, n) if weighted else None
    return y, s, w


CASES = [
    ("youden", {}),
    ("f_beta", {"beta": 1.0}),
    ("f_beta", {"beta": 2.5}),
    ("f_beta", {"beta": 0.4}),
    ("cost", {"cost_fp": 1.0, "cost_fn": 1.0}),
    ("cost", {"cost_fp": 1.0, "cost_fn": 7.0}),
    ("cost", {"cost_fp": 5.0, "cost_fn": 0.5}),
    ("precision_at_recall", {"min_recall": 0.8}),
    ("precision_at_recall", {"min_recall": 0.3}),
    ("recall_at_precision", {"min_precision": 0.7}),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("criterion", "kw"), CASES)
def test_select_threshold_equals_brute_force(
    criterion: str, kw: dict[str, float], seed: int, weighted: bool
) -> None:
    y, s, w = make_data(seed, weighted=weighted)
    expected_t, expected_v = brute_force(y, s, w, criterion, **kw)
    if not np.isfinite(expected_v):
        with pytest.raises(ValueError, match="no threshold reaches"):
            select_threshold(y, s, criterion=criterion, sample_weight=w, **kw)
        return
    got = select_threshold(y, s, criterion=criterion, sample_weight=w, **kw)
    assert got.threshold == expected_t
    assert got.value == pytest.approx(expected_v, rel=1e-9, abs=1e-12)
    # The operating point is what predicting score >= threshold gives.
    tn, fp, fn, tp = confusion_matrix(
        y, (s >= got.threshold).astype(int), labels=[0, 1], sample_weight=w
    ).ravel()
    assert got.recall == pytest.approx(tp / (tp + fn), rel=1e-12)
    assert got.tpr == got.recall
    assert got.fpr == pytest.approx(fp / (fp + tn), rel=1e-12, abs=1e-15)
    if tp + fp > 0:
        assert got.precision == pytest.approx(tp / (tp + fp), rel=1e-12)
    if criterion == "cost":
        cost = (kw["cost_fp"] * fp + kw["cost_fn"] * fn) / (tp + fp + tn + fn)
        assert got.expected_cost == pytest.approx(cost, rel=1e-12)
    else:
        assert got.expected_cost is None


def test_youden_tie_goes_to_the_higher_threshold() -> None:
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]
    # J = 2/3 both at 0.8 (tpr 2/3, fpr 0) and at 0.35 (tpr 1, fpr 1/3).
    choice = select_threshold(y, s)
    assert choice.threshold == 0.8 and choice.value == pytest.approx(2 / 3)


def test_cost_can_choose_to_predict_nothing_positive() -> None:
    y = [0, 0, 0, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5]
    choice = select_threshold(y, s, criterion="cost", cost_fp=10, cost_fn=1)
    assert choice.threshold == np.inf and choice.recall == 0.0
    assert choice.expected_cost == pytest.approx(1 / 5)


def test_string_labels_need_pos_label() -> None:
    y = np.array(["ham", "spam", "ham", "spam"])
    s = [0.1, 0.9, 0.4, 0.6]
    with pytest.raises(ValueError, match="pass pos_label"):
        select_threshold(y, s)
    choice = select_threshold(y, s, pos_label="spam")
    assert choice.threshold == 0.6 and choice.value == 1.0
    with pytest.raises(ValueError, match="pos_label='eggs' is not a label"):
        select_threshold(y, s, pos_label="eggs")


def test_unreachable_precision_reports_the_best_achievable() -> None:
    y = [1, 0, 1, 0, 0, 0]
    s = [0.9, 0.9, 0.8, 0.8, 0.1, 0.1]
    with pytest.raises(ValueError, match=r"best precision achievable is 0\.5 "):
        select_threshold(y, s, criterion="recall_at_precision", min_precision=0.9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"criterion": "youdens"}, "'criterion' parameter of select_threshold"),
        ({"criterion": "precision_at_recall"}, "needs min_recall"),
        ({"criterion": "recall_at_precision"}, "needs min_precision"),
        ({"criterion": "recall_at_precision", "min_precision": 1.5}, "min_precision"),
        ({"criterion": "f_beta", "beta": 0}, "beta"),
        ({"criterion": "cost", "cost_fp": 0, "cost_fn": 0}, "not both zero"),
        ({"criterion": "cost", "cost_fp": -1}, "cost_fp"),
    ],
)
def test_select_threshold_argument_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        select_threshold([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], **kwargs)  # type: ignore[arg-type]


def test_select_threshold_input_errors() -> None:
    with pytest.raises(ValueError, match="NaN or inf"):
        select_threshold([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="no positive samples"):
        select_threshold([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="no negative samples"):
        select_threshold([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="binary target"):
        select_threshold([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="empty input"):
        select_threshold([], [])


# ------------------------------------------------------------------- Bayes decision


def random_proba(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    p = rng.dirichlet(np.ones(k), size=n)
    return p


@pytest.mark.parametrize("seed", range(4))
def test_bayes_decision_minimises_expected_cost(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    proba = random_proba(rng, 200, k)
    cost = rng.uniform(0, 5, (k, k))
    np.fill_diagonal(cost, 0)
    pred = bayes_decision(proba, cost)
    for i in range(0, 200, 17):
        by_hand = [sum(proba[i, t] * cost[t, j] for t in range(k)) for j in range(k)]
        assert pred[i] == int(np.argmin(by_hand))
    # Realised cost when labels are drawn from proba: no other rule does better on average.
    y = np.array([rng.choice(k, p=p) for p in proba])
    classes = np.arange(k)
    ours = expected_cost(y, pred, cost_matrix=cost, labels=classes)
    argmax = expected_cost(y, proba.argmax(axis=1), cost_matrix=cost, labels=classes)
    expected_ours = np.mean(np.min(proba @ cost, axis=1))
    expected_argmax = np.mean((proba @ cost)[np.arange(200), proba.argmax(axis=1)])
    assert expected_ours <= expected_argmax + 1e-12
    assert np.isfinite(ours) and np.isfinite(argmax)


def test_bayes_decision_zero_one_cost_is_argmax_and_classes_map() -> None:
    rng = np.random.default_rng(1)
    proba = random_proba(rng, 50, 3)
    zero_one = 1 - np.eye(3)
    np.testing.assert_array_equal(bayes_decision(proba, zero_one), proba.argmax(axis=1))
    classes = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(
        bayes_decision(proba, zero_one, classes=classes), classes[proba.argmax(axis=1)]
    )


def test_bayes_decision_costly_misses_flip_the_decision() -> None:
    proba = np.array([[0.7, 0.3], [0.95, 0.05]])
    cost = np.array([[0, 1], [10, 0]])
    assert bayes_decision(proba, cost, classes=["ok", "fraud"]).tolist() == ["fraud", "ok"]


@pytest.mark.parametrize(
    ("proba", "cost", "match"),
    [
        ([[0.5, 0.6]], [[0, 1], [1, 0]], "sum to one"),
        ([[1.2, -0.2]], [[0, 1], [1, 0]], r"lie in \[0, 1\]"),
        ([[0.5, np.nan]], [[0, 1], [1, 0]], "NaN or inf"),
        ([0.5, 0.5], [[0, 1], [1, 0]], "must be 2-D"),
        ([[0.5, 0.5]], [[0, 1, 1], [1, 0, 1], [1, 1, 0]], "3x3 but there are 2 classes"),
        ([[0.5, 0.5]], [[0, 1], [-1, 0]], "non-negative"),
        ([[0.5, 0.5]], [[0, 1]], "square"),
    ],
)
def test_bayes_decision_validation(proba: object, cost: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bayes_decision(proba, cost)  # type: ignore[arg-type]


def test_bayes_decision_classes_length() -> None:
    with pytest.raises(ValueError, match="one label per column"):
        bayes_decision([[0.5, 0.5]], [[0, 1], [1, 0]], classes=["a", "b", "c"])


def test_expected_cost_values() -> None:
    cost = [[0, 1], [10, 0]]
    assert expected_cost([0, 1, 1, 0], [0, 0, 1, 1], cost_matrix=cost) == 2.75
    w = [1, 2, 1, 1]
    assert expected_cost([0, 1, 1, 0], [0, 0, 1, 1], cost_matrix=cost, sample_weight=w) == (
        pytest.approx(21 / 5)
    )
    # labels give the order of the matrix rows and columns.
    y_t, y_p = ["b", "a", "c"], ["a", "a", "b"]
    c3 = [[0, 1, 2], [10, 0, 3], [1, 1, 0]]  # order c, b, a
    assert expected_cost(y_t, y_p, cost_matrix=c3, labels=["c", "b", "a"]) == (
        pytest.approx((3 + 0 + 1) / 3)
    )
    # 0-1 costs give the error rate.
    y1, y2 = [0, 1, 2, 2, 1], [0, 2, 2, 1, 1]
    assert expected_cost(y1, y2, cost_matrix=1 - np.eye(3)) == pytest.approx(
        1 - accuracy_score(y1, y2)
    )


def test_expected_cost_errors() -> None:
    with pytest.raises(ValueError, match="pass labels="):
        expected_cost([0, 1], [0, 1], cost_matrix=np.ones((3, 3)))
    with pytest.raises(ValueError, match="not among the labels"):
        expected_cost([0, 5], [0, 1], cost_matrix=np.ones((2, 2)), labels=[0, 1])
