"""What the one-vs-rest and one-vs-one wrappers share.

The base class (tags, ``n_classes_``, stored state), the detection of the fast path
(the wrapped estimator is exactly polyclass's ``LogisticRegression``), batched fits of
the binary sub-problems split across threads, per-sub-problem weights, and fitted
sub-estimators built from coefficients.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data

from polyclass.linear._blas import one_blas_thread
from polyclass.linear._combine import LinearMulticlassPredictor
from polyclass.linear._design import DesignCopies, row_block_copies, shared_copies
from polyclass.linear._logistic import (
    LogisticRegression,
    _validate_params,
    fit_binary_logistic,
    fit_binary_logistic_batch,
    uses_newton,
)
from polyclass.linear._multiclass_state import check_state, encode_state


def is_fast(estimator: object) -> bool:
    """Whether ``estimator`` is exactly polyclass's LogisticRegression (the fast path).

    Subclasses take the generic path: they may override ``fit``.
    """
    return type(estimator) is LogisticRegression


def validate_fast_params(estimator: LogisticRegression) -> None:
    """The wrapped LogisticRegression's own parameter checks, before X is touched."""
    _validate_params(estimator)


def _n_cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def n_workers(n_jobs: int | None, n_tasks: int) -> int:
    """joblib's meaning of n_jobs (None is 1, -1 all cores), capped at the task count."""
    n_cpus = _n_cpus()
    if n_jobs is None:
        workers = 1
    elif n_jobs < 0:
        workers = max(1, n_cpus + 1 + n_jobs)
    else:
        workers = n_jobs
    return max(1, min(workers, n_tasks))


def run_threads(
    function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]], n_jobs: int | None
) -> list[Any]:
    """``function(*a)`` for each ``a``, in threads when ``n_jobs`` allows more than one.

    NumPy and BLAS release the GIL, so threads run the solvers in parallel without
    copying X. Parallelism comes from ``n_jobs`` only: every worker runs BLAS on one
    thread. The solvers are dominated by matrix-vector products, which gain little from
    BLAS threads, while BLAS threads on busy cores spin and lose a lot (benchmarks/README.md).
    """
    workers = n_workers(n_jobs, len(arguments))
    with one_blas_thread():
        if workers == 1:
            return [function(*a) for a in arguments]
        results: list[Any] = Parallel(n_jobs=workers, prefer="threads")(
            delayed(function)(*a) for a in arguments
        )
    return results


def fold_class_weight(
    class_weight: Any,
    y_bool: npt.NDArray[np.bool_],
    sample_weight: npt.NDArray[Any] | None,
    dtype: npt.DTypeLike,
) -> npt.NDArray[Any] | None:
    """Per-row weights of one binary sub-problem with the estimator's class_weight folded in.

    The generic path fits each sub-estimator on labels 0 and 1, so its class_weight
    applies to those labels (``'balanced'`` balances the two sides of the sub-problem);
    this computes the same weights so both paths fit the same model.
    """
    if class_weight is None:
        return sample_weight
    labels = y_bool.astype(np.intp)
    try:
        per_class = compute_class_weight(
            class_weight, classes=np.array([0, 1]), y=labels, sample_weight=sample_weight
        )
    except ValueError as exc:
        raise ValueError(
            "The wrapped estimator's class_weight applies to each binary sub-problem, "
            "whose labels are 0 (the rest, or the pair's first class) and 1 (the class, "
            f"or the pair's second class); use 'balanced' or keys 0 and 1. Got "
            f"{class_weight!r}: {exc}"
        ) from None
    weights = np.asarray(per_class, dtype=dtype)[labels]
    return weights if sample_weight is None else sample_weight * weights


def check_weight_sum(weights: npt.NDArray[Any] | None, problem: str) -> None:
    if weights is not None and not np.sum(weights) > 0:
        raise ValueError(
            f"The sample weights of the binary problem {problem} sum to zero, so it has "
            "nothing to fit. Give some rows of those classes a positive weight."
        )


def problem_weights(
    class_weight: Any,
    Y: npt.NDArray[np.bool_],
    sample_weight: npt.NDArray[Any] | None,
    dtype: npt.DTypeLike,
    names: Sequence[str],
) -> npt.NDArray[Any] | None:
    """Row weights of the binary problems (columns of Y): None, shared (n,) or (n, m).

    Class weights apply within each problem (see :func:`fold_class_weight`), so with a
    ``class_weight`` every problem gets its own column.
    """
    if class_weight is None:
        for name in names[:1]:
            check_weight_sum(sample_weight, name)
        return sample_weight
    columns = []
    for k, name in enumerate(names):
        column = fold_class_weight(class_weight, Y[:, k], sample_weight, dtype)
        check_weight_sum(column, name)
        columns.append(np.ones(Y.shape[0], dtype=dtype) if column is None else column)
    return np.stack(columns, axis=1)


def fit_batch(
    estimator: LogisticRegression,
    X: Any,
    Y: npt.NDArray[np.bool_],
    weights: npt.NDArray[Any] | None,
    hessian_X: DesignCopies | None = None,
    copy_for_hessian: bool = True,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """One batch; a problem whose positive or negative rows all weigh zero is fitted
    alone (as the generic path would fit it), since a batch refuses it. ``hessian_X``:
    float32 copies of X shared between batches; without them the batch makes its own if
    ``copy_for_hessian``."""
    m = Y.shape[1]
    if weights is None:
        alone = np.zeros(m, dtype=bool)
    else:
        live = weights.reshape(Y.shape[0], -1) > 0
        alone = ~(np.any(Y & live, axis=0) & np.any(~Y & live, axis=0))
    if not alone.any():
        return fit_binary_logistic_batch(
            estimator, X, Y, weights, copy_for_hessian=copy_for_hessian, hessian_X=hessian_X
        )
    coef = np.empty((m, X.shape[1]))
    intercept = np.empty(m)
    n_iter = np.empty(m, dtype=np.int32)
    for k in range(m):
        w_k = None if weights is None else (weights if weights.ndim == 1 else weights[:, k])
        coef[k], intercept[k], n_iter[k] = fit_binary_logistic(estimator, X, Y[:, k], w_k)
    return coef, intercept, n_iter


def fit_batches(
    estimator: LogisticRegression,
    X: Any,
    Y: npt.NDArray[np.bool_],
    weights: npt.NDArray[Any] | None,
    n_jobs: int | None,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """The binary problems (columns of Y) on the same X: (m, p) coef, intercepts, n_iter.

    A dense X: the problems are split into one batch per worker (``n_jobs``), run in
    threads. Every pass over X serves a whole batch, while each problem keeps its own
    solver state, so the models do not depend on ``n_jobs`` (up to rounding). A sparse
    X: one batch whatever ``n_jobs``, as its Hessian products read a CSC copy (see
    ``DesignCopies``) whose cost grows slowly with the batch, so one batch beats several
    in threads. With ``n_jobs`` above one, that batch's products run on row blocks of X
    in threads instead (``RowBlocks``).
    """
    m = Y.shape[1]
    if sp.issparse(X):
        return _fit_sparse_batch(estimator, X, Y, weights, n_workers(n_jobs, _n_cpus()))
    workers = n_workers(n_jobs, m)
    bounds = np.linspace(0, m, workers + 1).round().astype(int)
    # one set of float32 copies of X for all batches' Hessian products, not one per batch
    shared = shared_copies(X, -(-m // workers), uses_newton(estimator, X)) if workers > 1 else None
    arguments = []
    for a, b in itertools.pairwise(bounds.tolist()):
        w = weights if weights is None or weights.ndim == 1 else weights[:, a:b]
        arguments.append((estimator, X, Y[:, a:b], w, shared))
    results = run_threads(fit_batch, arguments, n_jobs)
    return (
        np.concatenate([r[0] for r in results], axis=0),
        np.concatenate([r[1] for r in results]),
        np.concatenate([r[2] for r in results]).astype(np.int64),
    )


def _fit_sparse_batch(
    estimator: LogisticRegression,
    X: Any,
    Y: npt.NDArray[np.bool_],
    weights: npt.NDArray[Any] | None,
    workers: int,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """All problems of a sparse X as one batch; with several workers its products run
    on row blocks of X's float32 copies in a thread pool (``RowBlocks``)."""
    shared = None
    pool = ThreadPoolExecutor(workers) if workers > 1 and uses_newton(estimator, X) else None
    try:
        if pool is not None:
            shared = row_block_copies(X, Y.shape[1], pool, workers)
        coef, intercept, n_iter = fit_batch(estimator, X, Y, weights, shared)
    finally:
        if pool is not None:
            pool.shutdown()
    return coef, intercept, np.asarray(n_iter).astype(np.int64)


def fitted_logistic(
    template: Any,
    coef: npt.NDArray[Any],
    intercept: float,
    n_iter: int,
    feature_names: npt.NDArray[Any] | None,
) -> Any:
    """A fitted binary LogisticRegression (labels 0 and 1) from its coefficients."""
    estimator = clone(template)
    estimator.coef_ = np.asarray(coef).reshape(1, -1)
    estimator.intercept_ = np.array([intercept], dtype=estimator.coef_.dtype)
    estimator.classes_ = np.array([0, 1])
    estimator.n_iter_ = np.array([n_iter], dtype=np.int32)
    estimator.n_features_in_ = estimator.coef_.shape[1]
    if feature_names is not None:
        estimator.feature_names_in_ = feature_names
    return estimator


def binary_scores(estimator: Any, X: Any) -> npt.NDArray[Any]:
    """One binary model's confidence in its positive class, as scikit-learn takes it."""
    if hasattr(estimator, "decision_function"):
        return np.ravel(estimator.decision_function(X))
    return np.asarray(estimator.predict_proba(X))[:, 1]


def binary_threshold(estimator: Any) -> float:
    return 0.0 if hasattr(estimator, "decision_function") else 0.5


def base_has(attr: str) -> Callable[[Any], bool]:
    """``available_if`` check: the fitted (or else the wrapped) binary model has ``attr``.

    Raises ``AttributeError`` otherwise, which hides the method as scikit-learn expects.
    """

    def check(self: Any) -> bool:
        source = self.estimators_[0] if hasattr(self, "estimators_") else self.estimator
        getattr(source, attr)
        return True

    return check


class MulticlassWrapper(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Shared behaviour of the one-vs-rest and one-vs-one wrappers."""

    _strategy: ClassVar[str]
    estimator: Any
    n_jobs: int | None
    classes_: npt.NDArray[Any]
    estimators_: list[Any]
    n_features_in_: int
    _predictor: LinearMulticlassPredictor | None

    def _labels(self, decision: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Classes from decision values: (n,) against the binary model's own threshold
        for two classes, else the column of the largest value."""
        if len(self.classes_) == 2:
            threshold = binary_threshold(self.estimators_[0])
            return np.asarray(self.classes_.take((decision > threshold).astype(np.intp)))
        return np.asarray(self.classes_.take(decision.argmax(axis=1)))

    @property
    def n_classes_(self) -> int:
        """Number of classes."""
        return len(self.classes_)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.pairwise = inner.input_tags.pairwise
        return tags

    def _fast_X(self, X: Any, *, reset: bool, y: Any = None) -> Any:
        """X (and y) validated once for the fast path: finite float, dense or CSR."""
        dtype = np.dtype(getattr(self.estimator, "dtype", np.float64))
        if y is None:
            return validate_data(self, X, reset=reset, accept_sparse="csr", dtype=dtype)
        return validate_data(self, X, y, reset=reset, accept_sparse="csr", dtype=dtype)

    def _fast_predictor(self) -> LinearMulticlassPredictor | None:
        check_is_fitted(self, "estimators_")
        return getattr(self, "_predictor", None)

    def _set_stacked(
        self,
        coef: npt.NDArray[Any],
        intercept: npt.NDArray[Any],
        n_iter: npt.NDArray[Any],
    ) -> None:
        """Fitted state of the fast path from stacked (n_features, n_models) coefficients."""
        names = getattr(self, "feature_names_in_", None)
        self.estimators_ = [
            fitted_logistic(self.estimator, coef[:, m], float(intercept[m]), int(n_iter[m]), names)
            for m in range(coef.shape[1])
        ]
        self._predictor = LinearMulticlassPredictor(self._strategy, coef, intercept, self.classes_)

    def to_state(self) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
        """The fitted model as a JSON-able dict and a dict of NumPy arrays (no pickle).

        Only for a wrapper of polyclass's ``LogisticRegression`` (the fast path): the
        arrays are the stacked coefficients, intercepts, iteration counts and labels.
        ``from_state`` rebuilds the wrapper; ``LinearMulticlassPredictor`` predicts from
        the same state with NumPy alone.

        Returns
        -------
        meta : dict
            JSON-able: format, version, strategy, estimator parameters, feature names.
        arrays : dict of str to ndarray
            ``coef`` (n_features, n_models), ``intercept`` (n_models,), ``n_iter``
            (n_models,), ``classes`` (n_classes,); none has dtype object.
        """
        predictor = self._fast_predictor()
        if predictor is None:
            raise ValueError(
                f"to_state needs {type(self).__name__} to wrap polyclass's "
                f"LogisticRegression; it wraps {type(self.estimator).__name__}. Use "
                "polyclass.LogisticRegression, or store the model another way."
            )
        return encode_state(self, predictor)

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Self:
        """A fitted wrapper from ``to_state``'s output (as loaded from JSON and .npy)."""
        params = check_state(cls._strategy, cls.__name__, meta, arrays)
        model = cls(LogisticRegression(**params), n_jobs=meta["n_jobs"])
        model.classes_ = np.asarray(arrays["classes"])
        model.n_features_in_ = int(meta["n_features_in"])
        if meta["feature_names_in"] is not None:
            model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        coef = np.asarray(arrays["coef"])
        if coef.ndim != 2 or coef.shape[0] != model.n_features_in_:
            raise ValueError(
                f"Stored coef has shape {coef.shape}; expected ({model.n_features_in_}, "
                "n_models). The state is corrupt."
            )
        model._set_stacked(coef, np.asarray(arrays["intercept"]), np.asarray(arrays["n_iter"]))
        return model
