"""Fitted estimators from coefficients solved elsewhere (``polyclass.scale`` solves on a
cluster what ``fit`` solves in memory, then hands the coefficients back here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import clone

from polyclass.linear._logistic import LogisticRegression
from polyclass.linear._multiclass_common import validate_fast_params
from polyclass.linear._ovo import OneVsOneClassifier
from polyclass.linear._ovr import OneVsRestClassifier


def fitted_from_coefficients(
    template: Any,
    classes: npt.NDArray[Any],
    W: npt.NDArray[np.float64],
    n_iter: int,
) -> Any:
    """A fitted copy of ``template`` whose coefficients are ``W``.

    Parameters
    ----------
    template : LogisticRegression, OneVsRestClassifier or OneVsOneClassifier
        Unfitted; its parameters are kept (a wrapper must wrap LogisticRegression).
    classes : ndarray
        The sorted class labels.
    W : ndarray of shape (n_problems, n_features + fit_intercept)
        One row per problem (1 for a binary model, one per class for the multinomial
        one and for one-vs-rest, one per pair in scikit-learn's order for one-vs-one),
        the intercept last, as the solvers return them.
    n_iter : int
        Iterations the solver took.

    Returns
    -------
    estimator
        Fitted exactly as ``fit`` leaves it (the multinomial intercepts centred).
    """
    estimator = clone(template)
    if isinstance(estimator, LogisticRegression):
        fit_intercept = bool(estimator.fit_intercept)
    elif isinstance(estimator, OneVsRestClassifier | OneVsOneClassifier):
        if not isinstance(estimator.estimator, LogisticRegression):
            raise TypeError(
                "fitted_from_coefficients builds one-vs-rest/one-vs-one wrappers of polyclass's "
                f"LogisticRegression; this one wraps {type(estimator.estimator).__name__}."
            )
        validate_fast_params(estimator.estimator)
        fit_intercept = bool(estimator.estimator.fit_intercept)
    else:
        raise TypeError(
            "fitted_from_coefficients builds a LogisticRegression, OneVsRestClassifier or "
            f"OneVsOneClassifier; got {type(template).__name__}."
        )
    p = W.shape[1] - int(fit_intercept)
    coef = np.array(W[:, :p], dtype=np.float64)
    intercept = W[:, p].copy() if fit_intercept else np.zeros(W.shape[0])
    if isinstance(estimator, LogisticRegression):
        dtype = np.dtype(estimator.dtype)
        if coef.shape[0] > 1:
            intercept -= intercept.mean()
            if not np.isfinite(estimator.C):
                coef -= coef.mean(axis=0)
        estimator.classes_ = np.asarray(classes)
        estimator.coef_ = coef.astype(dtype)
        estimator.intercept_ = intercept.astype(dtype)
        estimator.n_iter_ = np.array([n_iter], dtype=np.int32)
        estimator.n_features_in_ = p
        return estimator
    dtype = np.dtype(estimator.estimator.dtype)
    estimator.classes_ = np.asarray(classes)
    estimator.n_features_in_ = p
    estimator._set_stacked(
        np.ascontiguousarray(coef.T, dtype=dtype),
        intercept.astype(dtype),
        np.full(W.shape[0], n_iter, dtype=np.int64),
    )
    return estimator
