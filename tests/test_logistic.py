"""polyclass.LogisticRegression against sklearn's, and its internal binary entry point."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from polyclass import LogisticRegression
from polyclass.linear._logistic import fit_binary_logistic


def _data(n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=400, n_features=8, n_informative=5, n_classes=n_classes, random_state=seed
    )


def test_fit_binary_logistic_matches_sklearn() -> None:
    X, y = _data(2)
    w = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    est = LogisticRegression(C=0.5, tol=1e-10)
    coef, intercept, n_iter = fit_binary_logistic(est, X, y == 1, w)
    ref = SkLogisticRegression(C=0.5, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(coef, ref.coef_[0], rtol=1e-5, atol=1e-7)
    assert intercept == pytest.approx(ref.intercept_[0], rel=1e-5, abs=1e-7)
    assert n_iter > 0
    # sparse input gives the same answer, and X is left untouched
    Xs = sp.csr_matrix(X)
    coef_s, intercept_s, _ = fit_binary_logistic(est, Xs, y == 1, w)
    np.testing.assert_allclose(coef_s, coef, rtol=1e-6, atol=1e-8)
    assert intercept_s == pytest.approx(intercept, rel=1e-6, abs=1e-8)


def test_fit_binary_logistic_needs_both_classes() -> None:
    X, _ = _data(2)
    with pytest.raises(ValueError, match="both a positive and a negative"):
        fit_binary_logistic(LogisticRegression(), X, np.ones(X.shape[0], dtype=bool), None)
