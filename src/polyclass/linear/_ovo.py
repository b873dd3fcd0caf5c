"""One-vs-one: one binary classifier per pair of classes, combined by votes or coupling."""

from __future__ import annotations

import queue
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import validate_data

from polyclass._json import plain
from polyclass.linear._combine import ovo_decision, pair_indices, pairwise_coupling
from polyclass.linear._design import float32_suffices
from polyclass.linear._logistic import uses_newton
from polyclass.linear._multiclass_common import (
    MulticlassWrapper,
    base_has,
    binary_scores,
    check_weight_sum,
    fit_batch,
    fold_class_weight,
    is_fast,
    n_workers,
    run_threads,
    validate_fast_params,
)
from polyclass.linear._multiclass_validation import (
    check_binary_scorer,
    check_n_jobs,
    check_sample_weight,
    check_target_shape,
    check_targets,
    check_weight_support,
)
from polyclass.linear._newton import exact_preconditioner_rows


def _class_rows(y_encoded: npt.NDArray[np.intp], n_classes: int) -> list[npt.NDArray[np.intp]]:
    """Row indices of each class, found in one pass (not one pass per pair)."""
    order = np.argsort(y_encoded, kind="stable")
    bounds = np.searchsorted(y_encoded[order], np.arange(n_classes + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(n_classes)]


def _pair_rows(class_rows: list[npt.NDArray[np.intp]], i: int, j: int) -> npt.NDArray[np.intp]:
    """Rows of classes i and j, in their original order (as scikit-learn takes them)."""
    return np.sort(np.concatenate((class_rows[i], class_rows[j])))


def _fit_pair_generic(
    estimator: Any,
    X: Any,
    y_encoded: npt.NDArray[np.intp],
    class_rows: list[npt.NDArray[np.intp]],
    i: int,
    j: int,
    sample_weight: npt.NDArray[Any] | None,
    pairwise: bool,
) -> tuple[Any, npt.NDArray[np.intp]]:
    rows = _pair_rows(class_rows, i, j)
    X_pair = X[np.ix_(rows, rows)] if pairwise else X[rows]
    y01 = (y_encoded[rows] == j).astype(np.intp)
    estimator = clone(estimator)
    if sample_weight is None:
        estimator.fit(X_pair, y01)
    else:
        estimator.fit(X_pair, y01, sample_weight=sample_weight[rows])
    return estimator, rows


def _rows_in_order(X: npt.NDArray[Any], order: npt.NDArray[np.intp], dtype: Any) -> Any:
    """``X[order]`` as ``dtype``, gathered in blocks (no full-size float64 temporary)."""
    if dtype == X.dtype:
        return X[order]
    out = np.empty((order.size, X.shape[1]), dtype=dtype)
    step = 16_384
    for start in range(0, order.size, step):
        out[start : start + step] = X[order[start : start + step]]
    return out


def _fit_pairs_fast(
    estimator: Any,
    X: Any,
    y_encoded: npt.NDArray[np.intp],
    class_rows: list[npt.NDArray[np.intp]],
    weights: npt.NDArray[Any] | None,
    pairs: list[tuple[int, int]],
    names: list[str],
    n_jobs: int | None,
) -> list[tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]]:
    """Each pair's binary problem fitted on that pair's rows only, pairs in threads.

    A pair needs 2/K of the rows, so fitting on its own rows beats a batch over all rows
    with zero weights outside the pair. Gathering a pair's rows out of X row by row is
    slow, so a dense X is copied once with its rows grouped by class; a pair's rows
    are then two contiguous blocks, copied into a buffer reused by the worker (a view
    when the classes are adjacent). A sparse X is indexed per pair. With one worker,
    Newton-CG reads a float32 copy of a large pair's rows in its Hessian products; with
    more, it does not, as each worker's copy would cost
    1/K of X (the models then differ by float32 rounding in those products). Where
    float32 suffices for everything (``float32_suffices``: a large X, ``tol >= 1e-6``)
    the grouped copy is float32 and the pairs never read float64: half the copy and
    half the bytes of every pass.

    On a large X a batch of all pairs over the class-grouped X is no faster (with 6
    columns the products are compute-bound, and a batch takes as many CG steps as its
    slowest pair); on a small one the per-pair solver's Python overhead dominates, so
    all pairs go in one batch, each zero-weighted outside its rows
    (:func:`_batch_all_pairs`).
    """
    template = clone(estimator)
    copy = n_workers(n_jobs, len(pairs)) == 1
    if sp.issparse(X):

        def fit_sparse(i: int, j: int, name: str) -> Any:
            rows = _pair_rows(class_rows, i, j)
            y_bool = y_encoded[rows] == j
            w = None if weights is None else weights[rows]
            w = fold_class_weight(template.class_weight, y_bool, w, X.dtype)
            check_weight_sum(w, name)
            # a sparse pair's float32 Hessian copy is a third of its own X[rows]
            return fit_batch(template, X[rows], y_bool[:, None], w, copy_for_hessian=True)

        arguments = [(i, j, name) for (i, j), name in zip(pairs, names, strict=True)]
        return run_threads(fit_sparse, arguments, n_jobs)
    order = np.concatenate(class_rows)
    bounds = np.cumsum([0] + [len(rows) for rows in class_rows])
    # the one copy of X: rows grouped by class, in float32 where that suffices
    float32 = float32_suffices(X, template.tol, uses_newton(template, X))
    dtype = np.float32 if float32 else X.dtype
    grouped = _rows_in_order(X, order, dtype)
    grouped_w = None if weights is None else weights[order]
    if _batch_all_pairs(template, grouped):
        return _fit_pairs_together(template, grouped, grouped_w, bounds, pairs, names)
    apart = [len(class_rows[i]) + len(class_rows[j]) for i, j in pairs if j != i + 1]
    buffers: queue.SimpleQueue[npt.NDArray[Any]] = queue.SimpleQueue()
    for _ in range(n_workers(n_jobs, len(pairs)) if apart else 0):
        buffers.put(np.empty((max(apart), X.shape[1]), dtype=dtype))

    def fit_dense(i: int, j: int, name: str) -> Any:
        a, b, c, d = bounds[i], bounds[i + 1], bounds[j], bounds[j + 1]
        y_bool = np.zeros(b - a + d - c, dtype=bool)
        y_bool[b - a :] = True
        w = None if grouped_w is None else np.concatenate((grouped_w[a:b], grouped_w[c:d]))
        w = fold_class_weight(template.class_weight, y_bool, w, X.dtype)
        check_weight_sum(w, name)
        if b == c:
            return fit_batch(template, grouped[a:d], y_bool[:, None], w, copy_for_hessian=copy)
        buffer = buffers.get()
        try:
            X_pair = buffer[: y_bool.shape[0]]
            X_pair[: b - a] = grouped[a:b]
            X_pair[b - a :] = grouped[c:d]
            return fit_batch(template, X_pair, y_bool[:, None], w, copy_for_hessian=copy)
        finally:
            buffers.put(buffer)

    arguments = [(i, j, name) for (i, j), name in zip(pairs, names, strict=True)]
    return run_threads(fit_dense, arguments, n_jobs)


#: On an X of at most this many rows x coefficients^2 (the cost of one problem's dense
#: Hessian over all rows), every pair is fitted in one batch: the per-pair solver's
#: Python overhead then outweighs the passes over the other classes' rows.
BATCH_PAIRS_MAX_COST = 5_000_000


def _batch_all_pairs(template: Any, grouped: npt.NDArray[Any]) -> bool:
    """Whether one batch of all pairs fits the models the pairs would alone, and
    sooner: Newton-CG on a small X, whose preconditioner is then the exact Hessian over
    every row (no row subsample drawn, so the batch's solver steps are each pair's)."""
    n, q = grouped.shape[0], grouped.shape[1] + 1
    return (
        uses_newton(template, grouped)
        and n <= exact_preconditioner_rows(q)
        and n * q * q <= BATCH_PAIRS_MAX_COST
    )


def _fit_pairs_together(
    template: Any,
    grouped: npt.NDArray[Any],
    grouped_w: npt.NDArray[Any] | None,
    bounds: npt.NDArray[np.intp],
    pairs: list[tuple[int, int]],
    names: list[str],
) -> list[tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]]:
    """Every pair as one problem of a single batch over the class-grouped X: a pair's
    column of Y marks its second class, its column of weights is zero outside its rows."""
    n = grouped.shape[0]
    Y = np.zeros((n, len(pairs)), dtype=bool)
    W = np.zeros((n, len(pairs)), dtype=np.float64)
    for k, ((i, j), name) in enumerate(zip(pairs, names, strict=True)):
        rows = np.r_[bounds[i] : bounds[i + 1], bounds[j] : bounds[j + 1]]
        y_bool = np.zeros(rows.size, dtype=bool)
        y_bool[bounds[i + 1] - bounds[i] :] = True
        w = None if grouped_w is None else grouped_w[rows]
        w = fold_class_weight(template.class_weight, y_bool, w, grouped.dtype)
        check_weight_sum(w, name)
        Y[bounds[j] : bounds[j + 1], k] = True
        W[rows, k] = 1.0 if w is None else w
    coef, intercept, n_iter = fit_batch(template, grouped, Y, W, copy_for_hessian=False)
    return [(coef[k : k + 1], intercept[k : k + 1], n_iter[k : k + 1]) for k in range(len(pairs))]


class OneVsOneClassifier(MulticlassWrapper):
    """One-vs-one multiclass strategy: one binary classifier per pair of classes.

    The model of pair ``(i, j)`` (``i < j``) is fitted on the rows of those two classes,
    with ``j`` the positive class. ``decision_function`` and ``predict`` follow
    scikit-learn's ``OneVsOneClassifier`` exactly: each pair votes for a class, and the
    summed confidences, squashed into ``(-1/3, 1/3)``, break ties. Unlike scikit-learn,
    ``predict_proba`` exists: pairwise probabilities are coupled into class
    probabilities by the second method of Wu, Lin and Weng (2004), the one libsvm uses.
    Rows sum to one. Votes and coupling are different rules, so their argmax can
    differ from ``predict``, mostly on rows where votes tie: on the 300,000-row,
    7-class benchmark they agreed on 96.7% of rows; 5.3% had tied votes, and 0.7% of
    rows without a tie disagreed.

    When ``estimator`` is polyclass's ``LogisticRegression`` a fast path validates X
    once, fits each pair on that pair's rows only (cut from one copy of X with its rows
    grouped by class, so within a pair the rows come class by class), in parallel
    threads, and predicts with one matrix product; the fitted models are the same as
    the generic path's.

    Parameters
    ----------
    estimator : classifier
        A binary classifier with ``fit`` and ``decision_function`` or
        ``predict_proba``; cloned once per pair. Its ``class_weight`` (if any) applies
        within each pair, to the labels 0 (first class) and 1 (second class).
    n_jobs : int, default=None
        Pairs fitted at once; ``None`` means 1, ``-1`` all cores. The fast path
        uses threads (the solvers release the GIL) and runs BLAS on one thread per
        worker, so ``n_jobs`` is its only source of parallelism; the generic path uses
        joblib's default backend.

    Attributes
    ----------
    estimators_ : list of estimators
        The ``K (K - 1) / 2`` fitted pairwise models, in the order (0, 1), (0, 2), ...,
        (1, 2), ...; each was fitted on labels 0 and 1.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    pairwise_indices_ : list of ndarray or None
        Training rows of each pair when the estimator takes a precomputed kernel
        (pairwise input), else None.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X had string column names.

    See Also
    --------
    OneVsRestClassifier : one model per class.

    References
    ----------
    T.-F. Wu, C.-J. Lin and R. C. Weng, "Probability estimates for multi-class
    classification by pairwise coupling", JMLR 5 (2004) 975-1005.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from polyclass import LogisticRegression, OneVsOneClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = OneVsOneClassifier(LogisticRegression(), n_jobs=2).fit(X, y)
    >>> model.predict(X[:3])
    array([0, 0, 0])
    >>> model.predict_proba(X[:1]).sum().round(6)
    np.float64(1.0)
    """

    _strategy: ClassVar[str] = "ovo"
    pairwise_indices_: list[npt.NDArray[np.intp]] | None

    def __init__(self, estimator: Any, *, n_jobs: int | None = None) -> None:
        self.estimator = estimator
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> OneVsOneClassifier:
        """Fit one binary model per pair of classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (a square kernel matrix if the estimator is pairwise).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; each pair's model gets the weights of its rows.

        Returns
        -------
        self : OneVsOneClassifier
        """
        owner = type(self).__name__
        check_n_jobs(self.n_jobs, owner)
        check_binary_scorer(self.estimator, owner)
        check_weight_support(self.estimator, sample_weight, owner)
        check_target_shape(y, owner)
        fast = is_fast(self.estimator)
        if fast:
            validate_fast_params(self.estimator)
            X, y = self._fast_X(X, reset=True, y=y)
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], ensure_all_finite=False)
        self.classes_, y_encoded = check_targets(y, owner)
        weights = check_sample_weight(sample_weight, X.shape[0], X.dtype if fast else np.float64)
        first, second = pair_indices(len(self.classes_))
        pairs = list(zip(first.tolist(), second.tolist(), strict=True))
        class_rows = _class_rows(y_encoded, len(self.classes_))
        self.pairwise_indices_ = None
        if fast:
            names = [
                f"{plain(self.classes_[i])!r} vs {plain(self.classes_[j])!r}" for i, j in pairs
            ]
            results = _fit_pairs_fast(
                self.estimator, X, y_encoded, class_rows, weights, pairs, names, self.n_jobs
            )
            coef = np.stack([np.asarray(r[0][0], dtype=X.dtype) for r in results], axis=1)
            intercept = np.array([r[1][0] for r in results], dtype=X.dtype)
            n_iter = np.array([r[2][0] for r in results], dtype=np.int64)
            self._set_stacked(coef, intercept, n_iter)
            return self
        self._predictor = None
        pairwise = bool(get_tags(self.estimator).input_tags.pairwise)
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_pair_generic)(
                self.estimator, X, y_encoded, class_rows, i, j, weights, pairwise
            )
            for i, j in pairs
        )
        self.estimators_ = [estimator for estimator, _ in fitted]
        if pairwise:
            self.pairwise_indices_ = [rows for _, rows in fitted]
        return self

    def _pair_inputs(self, X: Any) -> list[Any]:
        X = validate_data(self, X, accept_sparse=True, ensure_all_finite=False, reset=False)
        if self.pairwise_indices_ is None:
            return [X] * len(self.estimators_)
        return [X[:, rows] for rows in self.pairwise_indices_]

    def decision_function(self, X: Any) -> npt.NDArray[Any]:
        """Votes plus transformed summed confidences, per class (scikit-learn's rule).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples,)
            With two classes, the second class's column.
        """
        predictor = self._fast_predictor()
        if predictor is not None:
            return predictor.decision_function(self._fast_X(X, reset=False))
        inputs = self._pair_inputs(X)
        predictions = np.column_stack(
            [np.asarray(e.predict(Xi)) for e, Xi in zip(self.estimators_, inputs, strict=True)]
        )
        confidences = np.column_stack(
            [binary_scores(e, Xi) for e, Xi in zip(self.estimators_, inputs, strict=True)]
        )
        decision = ovo_decision(predictions, confidences, len(self.classes_))
        return decision[:, 1] if len(self.classes_) == 2 else decision

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Class with the most votes, ties broken by summed confidence.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._labels(self.decision_function(X))

    @available_if(base_has("predict_proba"))  # type: ignore[untyped-decorator]
    def predict_proba(self, X: Any) -> npt.NDArray[Any]:
        """Class probabilities by pairwise coupling (Wu, Lin and Weng 2004, method 2).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Non-negative rows summing to one.
        """
        predictor = self._fast_predictor()
        if predictor is not None:
            return predictor.predict_proba(self._fast_X(X, reset=False))
        inputs = self._pair_inputs(X)
        second = np.column_stack(
            [
                np.asarray(e.predict_proba(Xi))[:, 1]
                for e, Xi in zip(self.estimators_, inputs, strict=True)
            ]
        )
        return pairwise_coupling(second, len(self.classes_))
