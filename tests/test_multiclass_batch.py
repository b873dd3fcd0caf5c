"""The wrappers' fast path: batched one-vs-rest, class-grouped one-vs-one, any n_jobs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification

from polyclass import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier

OURS = {"ovr": OneVsRestClassifier, "ovo": OneVsOneClassifier}


class Generic(LogisticRegression):
    """polyclass's LogisticRegression behind the wrappers' generic path (not exact type)."""


def _data(n_classes: int = 5, n: int = 500, seed: int = 0) -> tuple[Any, Any, Any]:
    X, y = make_classification(
        n_samples=n,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        weights=np.linspace(1.0, 3.0, n_classes) / np.linspace(1.0, 3.0, n_classes).sum(),
        random_state=seed,
    )
    labels = np.array(["eel", "ant", "dog", "cat", "bee", "fox", "gnu"])[y]  # not sorted
    return X, labels, np.random.default_rng(seed).uniform(0.2, 3.0, n)


def _assert_same_models(a: Any, b: Any, X: Any, atol: float) -> None:
    assert_allclose(a.decision_function(X), b.decision_function(X), rtol=0, atol=atol)
    for ea, eb in zip(a.estimators_, b.estimators_, strict=True):
        assert type(ea) is LogisticRegression
        assert_allclose(ea.coef_, eb.coef_, rtol=0, atol=atol)
        assert_allclose(ea.intercept_, eb.intercept_, rtol=0, atol=atol)
        assert ea.n_iter_[0] == eb.n_iter_[0]


@pytest.mark.parametrize("strategy", ["ovr", "ovo"])
@pytest.mark.parametrize("sparse", [False, True])
def test_models_do_not_depend_on_n_jobs(strategy: str, sparse: bool) -> None:
    # default tol: problems stop at different iterations, so batches of different
    # composition would differ by ~tol if a batch stopped its problems together
    X, y, w = _data(5, seed=1)
    Xf = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X)) if sparse else X
    fits = [
        OURS[strategy](LogisticRegression(), n_jobs=n_jobs).fit(Xf, y, sample_weight=w)
        for n_jobs in (None, 2, 3)
    ]
    for other in fits[1:]:
        _assert_same_models(fits[0], other, Xf, atol=1e-12)


@pytest.mark.parametrize("strategy", ["ovr", "ovo"])
@pytest.mark.parametrize("params", [{}, {"class_weight": "balanced", "fit_intercept": False}])
def test_fast_path_is_generic_path_at_default_tol(strategy: str, params: dict[str, Any]) -> None:
    X, y, w = _data(6, seed=2)
    fast = OURS[strategy](LogisticRegression(**params)).fit(X, y, sample_weight=w)
    generic = OURS[strategy](Generic(**params)).fit(X, y, sample_weight=w)
    assert fast._predictor is not None and generic._predictor is None
    _assert_same_models(fast, generic, X, atol=1e-10)


def test_ovr_class_without_weight_is_fitted_alone_like_the_generic_path() -> None:
    X, y, w = _data(4, seed=3)
    w[y == "dog"] = 0.0  # "dog vs rest" has no positive row of positive weight
    fast = OneVsRestClassifier(LogisticRegression(), n_jobs=2).fit(X, y, sample_weight=w)
    generic = OneVsRestClassifier(Generic()).fit(X, y, sample_weight=w)
    _assert_same_models(fast, generic, X, atol=1e-10)


def test_float32_ovo_and_ovr_keep_dtype() -> None:
    X, y, _ = _data(4, seed=4)
    for cls in (OneVsRestClassifier, OneVsOneClassifier):
        model = cls(LogisticRegression(dtype="float32"), n_jobs=2).fit(X, y)
        assert model.estimators_[0].coef_.dtype == np.float32
        reference = cls(LogisticRegression()).fit(X, y)
        assert_allclose(model.decision_function(X), reference.decision_function(X), atol=1e-3)
