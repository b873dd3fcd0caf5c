"""The combination rules: OvO votes, pairwise coupling, OvR normalisation (NumPy only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.multiclass import OneVsOneClassifier as SklearnOneVsOne

from polyclass.linear._combine import (
    MIN_PROB,
    LinearMulticlassPredictor,
    ovo_decision,
    ovr_normalize,
    pair_indices,
    pairwise_coupling,
)
from polyclass.linear._ovo import OneVsOneClassifier


class FixedScores(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A 'fitted' binary model whose decision value for row ``X[i, 0]`` is ``scores[i]``."""

    def __init__(self, scores: Any = None) -> None:
        self.scores = scores

    def fit(self, X: Any, y: Any) -> FixedScores:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: Any) -> Any:
        return np.asarray(self.scores)[np.asarray(X)[:, 0].astype(int)]

    def predict(self, X: Any) -> Any:
        return (self.decision_function(X) > 0).astype(int)


def _with_fixed_models(model: Any, scores: np.ndarray, n_classes: int) -> Any:
    model.estimators_ = [FixedScores(scores[:, k]).fit(None, None) for k in range(scores.shape[1])]
    model.classes_ = np.arange(n_classes)
    model.pairwise_indices_ = None
    model.n_features_in_ = 1
    model._predictor = None  # ours: take the generic path
    return model


def _fixed_scores(n_rows: int, n_classes: int, seed: int) -> np.ndarray:
    """Sub-model outputs with exact zeros, repeated values and vote ties."""
    rng = np.random.default_rng(seed)
    n_pairs = n_classes * (n_classes - 1) // 2
    scores = rng.normal(size=(n_rows, n_pairs))
    scores[::3] = rng.integers(-2, 3, size=scores[::3].shape)  # integers: ties and zeros
    scores[1::7] = 0.0
    return scores


@pytest.mark.parametrize("n_classes", [2, 3, 4, 6])
def test_ovo_rule_matches_sklearn_on_fixed_sub_model_outputs(n_classes: int) -> None:
    scores = _fixed_scores(200, n_classes, seed=n_classes)
    X = np.arange(200, dtype=float)[:, None]
    theirs = _with_fixed_models(SklearnOneVsOne(FixedScores()), scores, n_classes)
    ours = _with_fixed_models(OneVsOneClassifier(FixedScores()), scores, n_classes)
    assert_array_equal(ours.decision_function(X), theirs.decision_function(X))
    assert_array_equal(ours.predict(X), theirs.predict(X))
    # The NumPy-only rule on the same outputs (predictions = score > 0) is the same.
    direct = ovo_decision(scores > 0, scores, n_classes)
    expected = theirs.decision_function(X)
    assert_array_equal(direct[:, 1] if n_classes == 2 else direct, expected)


def test_ovo_rule_by_hand() -> None:
    # pairs (0,1), (0,2), (1,2): class 1 beats 0, class 0 beats 2, class 1 beats 2.
    decision = ovo_decision([[1, 0, 0]], [[0.5, -2.0, -1.0]], 3)
    sums = np.array([-0.5 + 2.0, 0.5 + 1.0, -2.0 - 1.0])
    votes = np.array([1.0, 2.0, 0.0])
    assert_allclose(decision[0], votes + sums / (3 * (np.abs(sums) + 1)))
    # A three-way vote tie is broken by the summed confidences alone.
    tie = ovo_decision([[1, 0, 1]], [[1.0, -1.0, 3.0]], 3)
    assert tie[0].argmax() == 2
    assert np.all(np.floor(tie[0] + 0.5) == 1)


def test_ovo_rule_checks_columns() -> None:
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\) for 3 classes"):
        ovo_decision(np.zeros((4, 2)), np.zeros((4, 2)), 3)


def _coupling_matrix(second: np.ndarray, n_classes: int) -> np.ndarray:
    """Wu-Lin-Weng's Q for one row, written out entry by entry."""
    r = np.zeros((n_classes, n_classes))  # r[i, j] estimates P(i | i or j)
    for k, (i, j) in enumerate(zip(*pair_indices(n_classes), strict=True)):
        r[j, i] = np.clip(second[k], MIN_PROB, 1 - MIN_PROB)
        r[i, j] = 1 - r[j, i]
    Q = np.zeros((n_classes, n_classes))
    for i in range(n_classes):
        for j in range(n_classes):
            if i != j:
                Q[i, i] += r[j, i] ** 2
                Q[i, j] = -r[j, i] * r[i, j]
    return Q


def _libsvm_coupling(second: np.ndarray, n_classes: int) -> np.ndarray:
    """libsvm's iterative solver of the same problem (multiclass_probability)."""
    Q = _coupling_matrix(second, n_classes)
    p = np.full(n_classes, 1.0 / n_classes)
    for _ in range(10_000):
        Qp = Q @ p
        pQp = p @ Qp
        if np.max(np.abs(Qp - pQp)) < 1e-15:
            break
        for t in range(n_classes):
            diff = (-Qp[t] + pQp) / Q[t, t]
            p[t] += diff
            pQp = (pQp + diff * (diff * Q[t, t] + 2 * Qp[t])) / (1 + diff) ** 2
            Qp = (Qp + diff * Q[t]) / (1 + diff)
            p /= 1 + diff
    return p


def _assert_optimal(second: np.ndarray, proba: np.ndarray, n_classes: int) -> None:
    """Wu-Lin-Weng's optimality conditions: Q p = (p^T Q p) 1, sum(p) = 1, p >= 0."""
    for row, p in zip(second, proba, strict=True):
        Q = _coupling_matrix(row, n_classes)
        Qp = Q @ p
        assert_allclose(Qp, np.full(n_classes, p @ Qp), atol=1e-10)
        assert np.all(p >= 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n_classes", [3, 4, 7])
def test_coupling_is_optimal_and_matches_libsvm(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    n_pairs = n_classes * (n_classes - 1) // 2
    second = rng.uniform(size=(40, n_pairs))
    second[:4] = rng.integers(0, 2, size=(4, n_pairs))  # certain pairs: 0 and 1
    proba = pairwise_coupling(second, n_classes, chunk_size=7)  # several chunks
    _assert_optimal(second, proba, n_classes)
    reference = np.array([_libsvm_coupling(row, n_classes) for row in second])
    assert_allclose(proba, reference, atol=1e-9)


def test_coupling_recovers_consistent_pairwise_probabilities() -> None:
    rng = np.random.default_rng(0)
    truth = rng.dirichlet(np.ones(5), size=30)
    first, second = pair_indices(5)
    pairwise = truth[:, second] / (truth[:, first] + truth[:, second])
    assert_allclose(pairwise_coupling(pairwise, 5), truth, atol=1e-12)


def test_coupling_two_classes_is_the_pairwise_probability() -> None:
    r = np.array([[0.0], [0.3], [1.0]])
    assert_array_equal(pairwise_coupling(r, 2), np.column_stack((1 - r[:, 0], r[:, 0])))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=3, max_value=6).flatmap(
        lambda k: st.tuples(
            st.just(k),
            arrays(
                np.float64,
                st.tuples(st.integers(1, 5), st.just(k * (k - 1) // 2)),
                elements=st.floats(0.0, 1.0),
            ),
        )
    )
)
def test_coupling_properties(case: tuple[int, np.ndarray]) -> None:
    n_classes, second = case
    _assert_optimal(second, pairwise_coupling(second, n_classes), n_classes)


def test_ovr_normalize_like_sklearn() -> None:
    positive = np.array([[0.2, 0.6, 0.2], [0.0, 0.0, 0.0], [0.9, 0.9, 0.1]])
    out = ovr_normalize(positive)
    assert_allclose(out[0], [0.2, 0.6, 0.2])
    assert_array_equal(out[1], [0.0, 0.0, 0.0])  # a zero row stays zero, as in sklearn
    assert_allclose(out.sum(axis=1), [1.0, 0.0, 1.0])
    assert_allclose(ovr_normalize(np.array([[0.25]])), [[0.75, 0.25]])


def test_predictor_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"coef of shape \(n_features, 3\)"):
        LinearMulticlassPredictor("ovo", np.zeros((2, 2)), np.zeros(2), np.arange(3))
    with pytest.raises(ValueError, match="strategy must be"):
        LinearMulticlassPredictor("ecoc", np.zeros((2, 3)), np.zeros(3), np.arange(3))
    predictor = LinearMulticlassPredictor("ovr", np.zeros((2, 3)), np.zeros(3), np.arange(3))
    with pytest.raises(ValueError, match="2 features"):
        predictor.predict(np.zeros((4, 5)))
