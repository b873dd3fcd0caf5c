"""One-vs-rest: one binary classifier per class, the class against all the others."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from sklearn.base import clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed

from polyclass._json import plain
from polyclass.linear._combine import ovr_normalize
from polyclass.linear._multiclass_common import (
    MulticlassWrapper,
    base_has,
    binary_scores,
    fit_batches,
    is_fast,
    problem_weights,
    validate_fast_params,
)
from polyclass.linear._multiclass_validation import (
    check_binary_scorer,
    check_n_jobs,
    check_sample_weight,
    check_target_shape,
    check_targets,
    check_weight_support,
    n_rows,
)


def _fit_generic(estimator: Any, X: Any, y01: npt.NDArray[np.intp], sample_weight: Any) -> Any:
    estimator = clone(estimator)
    if sample_weight is None:
        return estimator.fit(X, y01)
    return estimator.fit(X, y01, sample_weight=sample_weight)


class OneVsRestClassifier(MulticlassWrapper):
    """One-vs-rest multiclass strategy: one binary classifier per class.

    Each class is fitted against all the others. Predictions take the class with the
    largest decision value; probabilities are each model's positive-class probability,
    normalised to sum to one (as scikit-learn's ``OneVsRestClassifier``). With two
    classes a single model is fitted.

    When ``estimator`` is polyclass's ``LogisticRegression`` a fast path validates X
    once and fits the binary problems as a batch: every pass over X serves all of them,
    while each keeps its own solver state, so each model is the one a separate fit
    gives (up to rounding). It never copies X and predicts with one matrix product;
    the fitted models are the same as the generic path's.

    Parameters
    ----------
    estimator : classifier
        A binary classifier with ``fit`` and ``decision_function`` or
        ``predict_proba``; cloned once per class. Its ``class_weight`` (if any) applies
        within each binary problem, to the labels 0 (rest) and 1 (the class).
    n_jobs : int, default=None
        Workers; ``None`` means 1, ``-1`` all cores. The fast path splits the problems
        into one batch per worker, run in threads (the solvers release the GIL) with BLAS
        on one thread each, so ``n_jobs`` is its only source of parallelism; the models
        do not depend on it. The generic path uses joblib's default backend.
    verbose : int, default=0
        joblib verbosity while fitting.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted binary models, one per class (one with two classes); each was fitted
        on labels 0 and 1.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X had string column names.

    See Also
    --------
    OneVsOneClassifier : one model per pair of classes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from polyclass import LogisticRegression, OneVsRestClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = OneVsRestClassifier(LogisticRegression(), n_jobs=2).fit(X, y)
    >>> model.predict(X[:3])
    array([0, 0, 0])
    >>> model.predict_proba(X[:1]).sum().round(6)
    np.float64(1.0)
    """

    _strategy: ClassVar[str] = "ovr"

    def __init__(self, estimator: Any, *, n_jobs: int | None = None, verbose: int = 0) -> None:
        self.estimator = estimator
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> OneVsRestClassifier:
        """Fit one binary model per class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels (binary or multiclass).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed to every binary problem.

        Returns
        -------
        self : OneVsRestClassifier
        """
        owner = type(self).__name__
        check_n_jobs(self.n_jobs, owner)
        check_binary_scorer(self.estimator, owner)
        check_weight_support(self.estimator, sample_weight, owner)
        check_target_shape(y, owner)
        if is_fast(self.estimator):
            return self._fit_fast(X, y, sample_weight)
        self._predictor = None
        self.classes_, y_encoded = check_targets(y, owner)
        problems = [1] if len(self.classes_) == 2 else list(range(len(self.classes_)))
        weights = None
        if sample_weight is not None:
            weights = check_sample_weight(sample_weight, n_rows(X), np.float64)
        self.estimators_ = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_generic)(self.estimator, X, (y_encoded == k).astype(np.intp), weights)
            for k in problems
        )
        first = self.estimators_[0]
        if hasattr(first, "n_features_in_"):
            self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit_fast(self, X: Any, y: Any, sample_weight: Any) -> OneVsRestClassifier:
        owner = type(self).__name__
        validate_fast_params(self.estimator)
        X, y = self._fast_X(X, reset=True, y=y)
        self.classes_, y_encoded = check_targets(y, owner)
        weights = check_sample_weight(sample_weight, X.shape[0], X.dtype)
        problems = [1] if len(self.classes_) == 2 else list(range(len(self.classes_)))
        Y = y_encoded[:, None] == np.asarray(problems)[None, :]
        names = [f"{plain(self.classes_[k])!r} vs rest" for k in problems]
        template = clone(self.estimator)
        batch_weights = problem_weights(template.class_weight, Y, weights, X.dtype, names)
        coef, intercept, n_iter = fit_batches(template, X, Y, batch_weights, self.n_jobs)
        self._set_stacked(
            np.ascontiguousarray(coef.T, dtype=X.dtype), intercept.astype(X.dtype), n_iter
        )
        return self

    def _scores(self, X: Any) -> npt.NDArray[Any]:
        """(n_samples, n_models) confidences of the binary models."""
        predictor = self._fast_predictor()
        if predictor is not None:
            return predictor.scores(self._fast_X(X, reset=False))
        return np.column_stack([binary_scores(e, X) for e in self.estimators_])

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Class with the largest decision value (binary: the model's own threshold).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        scores = self._scores(X)
        return self._labels(scores[:, 0] if len(self.classes_) == 2 else scores)

    @available_if(base_has("predict_proba"))  # type: ignore[untyped-decorator]
    def predict_proba(self, X: Any) -> npt.NDArray[Any]:
        """Each model's positive-class probability, rows normalised to sum to one.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        predictor = self._fast_predictor()
        if predictor is not None:
            return predictor.predict_proba(self._fast_X(X, reset=False))
        positive = np.column_stack([np.asarray(e.predict_proba(X))[:, 1] for e in self.estimators_])
        return ovr_normalize(positive)

    @available_if(base_has("decision_function"))  # type: ignore[untyped-decorator]
    def decision_function(self, X: Any) -> npt.NDArray[Any]:
        """Each model's decision value; 1-D with two classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples,)
        """
        predictor = self._fast_predictor()
        if predictor is not None:
            return predictor.decision_function(self._fast_X(X, reset=False))
        if len(self.estimators_) == 1:
            return np.asarray(self.estimators_[0].decision_function(X))
        return np.column_stack([np.ravel(e.decision_function(X)) for e in self.estimators_])
