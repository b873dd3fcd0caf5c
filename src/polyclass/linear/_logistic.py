"""``LogisticRegression``: binary and multinomial (softmax) logistic regression."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from polyclass.linear._blas import one_blas_thread
from polyclass.linear._design import DesignCopies
from polyclass.linear._labels import encode_labels
from polyclass.linear._lbfgs import lbfgs
from polyclass.linear._loss import Array, LogisticLoss
from polyclass.linear._newton import (
    _MAX_DENSE_COEF,
    SolveResult,
    hessian_on_rows,
    newton_cg,
)
from polyclass.linear._newton_batch import newton_cg_batch
from polyclass.linear._proximal import fista, proximal_newton
from polyclass.linear._scores import (
    linear_scores,
    log_proba_from_scores,
    predict_from_scores,
    proba_from_scores,
)
from polyclass.linear._state import logistic_from_state, logistic_to_state

_SOLVERS = ("auto", "lbfgs", "newton-cg", "proximal")
_DTYPES = {"float64": np.float64, "float32": np.float32}


def _dtype_name(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = ""
    if name not in _DTYPES:
        raise ValueError(
            "The 'dtype' parameter of LogisticRegression must be 'float64' or 'float32'. "
            f"Got {dtype!r} instead."
        )
    return str(name)


class LogisticRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Logistic regression, binary or multinomial (softmax), with our own solvers.

    Minimises scikit-learn's objective::

        C * sum_i w_i * loss_i + (1 - l1_ratio) / 2 * ||W||^2 + l1_ratio * ||W||_1

    where ``w_i`` are the sample weights times the class weights and the intercept is
    not penalised. With two classes the loss is the binary log loss and ``coef_`` has
    one row; with more it is the multinomial log loss in scikit-learn's symmetric
    parametrisation (one row per class, intercepts summing to zero).

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength, positive; ``np.inf`` means no penalty.
    l1_ratio : float, default=0.0
        Elastic-net mixing in ``[0, 1]``: 0 is the L2 penalty, 1 the lasso.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    class_weight : dict, 'balanced' or None, default=None
        Weights multiplied into the sample weights, per class; ``'balanced'`` uses
        ``n_samples / (n_classes * class_count)``.
    tol : float, default=1e-4
        Stop when the largest absolute entry of the gradient (of the objective divided
        by ``C * sum(sample_weight)``, scikit-learn's criterion) is at most ``tol``; with
        an L1 part, the same on the minimum-norm subgradient (proximal Newton) or the
        proximal gradient mapping (FISTA). ``tol=1e-4`` leaves about 1e-4 relative error
        in the coefficients; ask for 1e-6 or less when they must match closely.
    max_iter : int, default=100
        Most outer iterations of the solver (Newton steps, L-BFGS iterations, proximal
        Newton steps, or tens of FISTA steps); reaching it warns ``ConvergenceWarning``.
    solver : {'auto', 'lbfgs', 'newton-cg', 'proximal'}, default='auto'
        ``'auto'`` takes, for a smooth penalty, ``'newton-cg'`` (exact Hessian-vector
        products; preconditioned by a subsampled Hessian when X is dense and the
        coefficients few, by the Hessian's diagonal when X is sparse) and ``'lbfgs'``
        for a dense X with many coefficients. Whenever an L1 part is present it takes
        ``'proximal'``, the only solver supporting it: proximal Newton with coordinate
        descent on the quadratic model for up to 600 coefficients, accelerated
        proximal gradient (FISTA) beyond.
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_`` when their shapes fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the row subsample the Newton solver uses for its preconditioner and its
        first iterate; the optimum does not depend on it.
    verbose : int, default=0
        Print solver progress when positive.
    dtype : {'float64', 'float32'}, default='float64'
        Floating type X is converted to; coefficients are returned in it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : ndarray of shape (1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from polyclass import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X, y)
    >>> clf.coef_.shape
    (3, 4)
    >>> round(clf.score(X, y), 2)
    0.97
    """

    classes_: NDArray[Any]
    coef_: NDArray[Any]
    intercept_: NDArray[Any]
    n_iter_: NDArray[np.int32]
    n_features_in_: int

    def __init__(
        self,
        *,
        C: float = 1.0,
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        class_weight: dict[Any, float] | str | None = None,
        tol: float = 1e-4,
        max_iter: int = 100,
        solver: str = "auto",
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        dtype: str = "float64",
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    # --- fitting ---------------------------------------------------------------------
    def fit(
        self, X: ArrayLike | sp.spmatrix, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> LogisticRegression:
        """Fit the model to ``X`` (n_samples, n_features) and labels ``y``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Training rows; sparse input is converted to CSR.
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight per row.

        Returns
        -------
        self : LogisticRegression
        """
        _validate_params(self)
        dtype = _DTYPES[_dtype_name(self.dtype)]
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=dtype, y_numeric=False, ensure_all_finite=True
        )
        classes, y_codes = encode_labels(y)
        if classes.shape[0] < 2:
            raise ValueError(
                "LogisticRegression needs samples of at least 2 classes, but the data "
                f"contains only one class: {classes[0]!r}. Check that y is the intended "
                "target, or that a filter or split did not drop the other classes."
            )
        self.classes_ = classes
        sw = _check_weights(sample_weight, X.shape[0])
        if self.class_weight is not None:
            cw = compute_class_weight(
                self.class_weight,
                classes=classes,
                y=y,
                sample_weight=sw,
            )
            per_row = cw[y_codes]
            sw = per_row if sw is None else sw * per_row
        n_classes = classes.shape[0]
        K = 1 if n_classes == 2 else n_classes
        n_features = X.shape[1]
        w0 = None
        if self.warm_start and hasattr(self, "coef_"):
            prev = np.asarray(self.coef_, dtype=np.float64)
            if prev.shape == (K, n_features):
                w0 = np.zeros((K, n_features + int(self.fit_intercept)))
                w0[:, :n_features] = prev
                if self.fit_intercept:
                    w0[:, n_features] = np.asarray(self.intercept_, dtype=np.float64)
                w0 = w0.ravel()
        codes = (y_codes == 1) if n_classes == 2 else y_codes
        result = _solve(self, X, codes, n_classes, sw, w0)
        W = result.w.reshape(K, n_features + int(self.fit_intercept))
        coef = W[:, :n_features].copy()
        intercept = W[:, n_features].copy() if self.fit_intercept else np.zeros(K)
        if K > 1:
            intercept -= intercept.mean()
            if not np.isfinite(self.C):
                coef -= coef.mean(axis=0)
        self.coef_ = coef.astype(dtype)
        self.intercept_ = intercept.astype(dtype)
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        return self

    # --- prediction --------------------------------------------------------------------
    def _scores(self, X: ArrayLike | sp.spmatrix) -> NDArray[Any]:
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            reset=False,
            ensure_all_finite=True,
        )
        coef = self.coef_.astype(X.dtype, copy=False)
        return linear_scores(X, coef, self.intercept_.astype(X.dtype, copy=False))

    def decision_function(self, X: ArrayLike | sp.spmatrix) -> NDArray[Any]:
        """Linear scores: shape (n_samples,) for two classes, else (n_samples, n_classes).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray
            For two classes, positive means ``classes_[1]``.
        """
        return self._scores(X)

    def predict(self, X: ArrayLike | sp.spmatrix) -> NDArray[Any]:
        """Most probable class of each row.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return predict_from_scores(self._scores(X), self.classes_)

    def predict_proba(self, X: ArrayLike | sp.spmatrix) -> NDArray[Any]:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return proba_from_scores(self._scores(X))

    def predict_log_proba(self, X: ArrayLike | sp.spmatrix) -> NDArray[Any]:
        """Log of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return log_proba_from_scores(self._scores(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # --- pickle-free state -----------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """The fitted model as JSON-able metadata and plain arrays (no pickle).

        Returns
        -------
        meta : dict
            Hyperparameters, feature names and format version; ``json.dumps``-able.
        arrays : dict of str to ndarray
            ``coef``, ``intercept``, ``classes``, ``n_iter``; none has object dtype,
            so each saves with ``np.save`` and loads with ``allow_pickle=False``.

        Examples
        --------
        >>> import numpy as np
        >>> from polyclass import LogisticRegression
        >>> clf = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        >>> meta, arrays = clf.to_state()
        >>> clone = LogisticRegression.from_state(meta, arrays)
        >>> bool(np.all(clone.predict([[0.5], [2.5]]) == clf.predict([[0.5], [2.5]])))
        True
        """
        check_is_fitted(self)
        return logistic_to_state(self)

    @classmethod
    def from_state(
        cls, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]
    ) -> LogisticRegression:
        """A fitted estimator from :meth:`to_state`'s output; predicts identically.

        Parameters
        ----------
        meta : dict
        arrays : dict of str to ndarray

        Returns
        -------
        estimator : LogisticRegression
        """
        est = cls()
        logistic_from_state(est, meta, arrays)
        return est


# --- shared by fit and the one-vs-rest / one-vs-one wrappers ------------------------------
def _validate_params(est: LogisticRegression) -> None:
    def bad(name: str, expected: str) -> ValueError:
        return ValueError(
            f"The '{name}' parameter of LogisticRegression must be {expected}. "
            f"Got {getattr(est, name)!r} instead."
        )

    C = est.C
    if isinstance(C, bool) or not isinstance(C, numbers.Real) or not C > 0:
        raise bad("C", "a float > 0 (np.inf for no penalty)")
    r = est.l1_ratio
    if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r <= 1:
        raise bad("l1_ratio", "a float in the range [0, 1]")
    if not isinstance(est.fit_intercept, bool | np.bool_):
        raise bad("fit_intercept", "a bool")
    tol = est.tol
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
        raise bad("tol", "a float >= 0")
    mi = est.max_iter
    if isinstance(mi, bool) or not isinstance(mi, numbers.Integral) or mi < 0:
        raise bad("max_iter", "an int >= 0")
    if est.solver not in _SOLVERS:
        raise bad("solver", "one of " + ", ".join(repr(s) for s in _SOLVERS))
    cw = est.class_weight
    if not (cw is None or cw == "balanced" or isinstance(cw, dict)):
        raise bad("class_weight", "a dict, 'balanced' or None")
    if not isinstance(est.warm_start, bool | np.bool_):
        raise bad("warm_start", "a bool")
    v = est.verbose
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise bad("verbose", "an int >= 0")
    _dtype_name(est.dtype)
    has_l1 = r > 0 and np.isfinite(C)
    if has_l1 and est.solver in ("lbfgs", "newton-cg"):
        raise ValueError(
            f"solver={est.solver!r} supports only a smooth penalty, but l1_ratio={r} "
            "adds an L1 part. Use solver='proximal' (or 'auto'), or set l1_ratio=0."
        )


def _check_weights(sample_weight: ArrayLike | None, n: int) -> NDArray[np.float64] | None:
    if sample_weight is None:
        return None
    sw = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
    if sw.ndim != 1:
        raise ValueError(
            f"sample_weight must be 1-D of length n_samples={n}; got shape {sw.shape}."
        )
    check_consistent_length(sw, np.empty(n))
    if np.any(sw < 0):
        raise ValueError(
            "sample_weight must be non-negative; got negative weights at rows "
            f"{np.flatnonzero(sw < 0)[:5].tolist()}. Drop those rows or fix the weights."
        )
    if not sw.sum() > 0:
        raise ValueError("sample_weight sums to zero; at least one row needs a positive weight.")
    return np.array(sw, dtype=np.float64)


def _pick_solver(est: LogisticRegression, X: Any, n_classes: int) -> str:
    has_l1 = est.l1_ratio > 0 and np.isfinite(est.C)
    if est.solver != "auto":
        return str(est.solver)
    if has_l1:
        return "proximal"
    K = 1 if n_classes == 2 else n_classes
    n_coef = K * (X.shape[1] + int(est.fit_intercept))
    # Newton-CG: preconditioned by a subsampled Hessian when X is dense and the
    # coefficients few, by the Hessian's diagonal when X is sparse (its square shares
    # X's index arrays). A dense wide X would need a dense copy for that diagonal.
    if sp.issparse(X) or n_coef <= _MAX_DENSE_COEF:
        return "newton-cg"
    return "lbfgs"


def _solve(
    est: LogisticRegression,
    X: Any,
    y: NDArray[Any],
    n_classes: int,
    sample_weight: NDArray[np.float64] | None,
    w0: Array | None,
    copy_for_hessian: bool = True,
) -> SolveResult:
    """Run the chosen solver on validated data; warns if it did not converge.

    ``copy_for_hessian`` lets Newton-CG keep a float32 copy of a large dense X for its
    Hessian products (half of X's size); the per-thread binary fits pass False.

    A 2-D ``y`` (n, m) is a batch of m binary problems (smooth penalty only), each with
    its own column of ``sample_weight`` (or the shared 1-D weights).
    """
    C = float(est.C)
    sw_sum: Any = float(X.shape[0]) if sample_weight is None else np.sum(sample_weight, axis=0)
    l1: Any
    if np.isfinite(C):
        l2 = (1.0 - est.l1_ratio) / (C * sw_sum)
        l1 = est.l1_ratio / (C * sw_sum)
    else:
        l2 = l1 = 0.0
    if y.ndim == 2 and est.l1_ratio > 0 and np.isfinite(C):
        raise ValueError("a batch of binary problems supports only a smooth penalty")
    l1 = float(np.max(l1))
    loss = LogisticLoss(X, y, sample_weight, n_classes, bool(est.fit_intercept), l2)
    if w0 is None:
        w0 = np.zeros(loss.n_coef)
    solver = _pick_solver(est, X, n_classes)
    seed = check_random_state(est.random_state).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    tol, max_iter, verbose = float(est.tol), int(est.max_iter), int(est.verbose)
    # One BLAS thread: the passes over X are memory-bound, and the Hessian-vector
    # products walk X in cache-sized row blocks whose small products lose far more to
    # BLAS thread start-up and spinning (on a busy machine, ~10x) than threads gain.
    with one_blas_thread():
        result = _run_solver(solver, loss, w0, l1, tol, max_iter, rng, verbose, copy_for_hessian)
    if not result.converged:
        warnings.warn(
            f"LogisticRegression (solver={solver!r}) did not converge: {result.message}. "
            "Increase max_iter, loosen tol, or scale the features (e.g. StandardScaler).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return result


def _run_solver(
    solver: str,
    loss: LogisticLoss,
    w0: Array,
    l1: float,
    tol: float,
    max_iter: int,
    rng: np.random.Generator,
    verbose: int,
    copy_for_hessian: bool,
) -> SolveResult:
    if solver == "proximal" and loss.n_coef <= _MAX_DENSE_COEF:
        hessian = hessian_on_rows(loss, rng)
        result = proximal_newton(loss, w0, l1, tol, max_iter, hessian, verbose)
    elif solver == "proximal":
        # one iteration = ten accelerated proximal-gradient steps
        result = fista(loss, w0, l1, tol, max_iter * 10, verbose)
        result.n_iter = -(-result.n_iter // 10)
    elif solver == "newton-cg":
        result = newton_cg(
            loss, w0, tol, max_iter, rng, verbose, half_precision_hessian=copy_for_hessian
        )
    else:
        result = lbfgs(loss, w0, tol, max_iter, verbose)
    return result


def fit_binary_logistic(
    estimator: LogisticRegression,
    X: Any,
    y: NDArray[np.bool_],
    sample_weight: NDArray[np.floating] | None,
) -> tuple[NDArray[np.float64], float, int]:
    """Fit one binary problem with ``estimator``'s hyperparameters.

    For the one-vs-rest and one-vs-one wrappers: ``X`` is already validated (2-D,
    finite, CSR or dense, of ``estimator.dtype``) and is never copied; ``y`` is a bool
    array (True = positive class); ``sample_weight`` are the final per-row weights
    (class weights folded in). ``class_weight`` and ``warm_start`` of ``estimator`` are
    not used. Safe to call from several threads at once.

    Returns
    -------
    coef : ndarray of shape (n_features,)
    intercept : float
    n_iter : int
    """
    _validate_params(estimator)
    y = np.asarray(y, dtype=bool)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be a 1-D bool array of length n_samples={X.shape[0]}; got shape {y.shape}."
        )
    if y.all() or not y.any():
        raise ValueError(
            "fit_binary_logistic needs both a positive and a negative row; got only "
            f"{'positive' if y.any() else 'negative'} rows."
        )
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    result = _solve(estimator, X, y, 2, sw, None, copy_for_hessian=False)
    n_features = X.shape[1]
    coef = result.w[:n_features].copy()
    intercept = float(result.w[n_features]) if estimator.fit_intercept else 0.0
    return coef, intercept, int(result.n_iter)


def fit_binary_logistic_batch(
    estimator: LogisticRegression,
    X: Any,
    Y: NDArray[np.bool_],
    sample_weight: NDArray[np.floating] | None,
    *,
    copy_for_hessian: bool = True,
    hessian_X: DesignCopies | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int32]]:
    """Fit m independent binary problems on the same X at once (one-vs-rest, one-vs-one).

    Same contract as :func:`fit_binary_logistic`, with ``Y`` of shape (n, m) (column k
    is problem k's positive rows) and ``sample_weight`` None, shared (n,) or per problem
    (n, m); a zero weight leaves a row out of a problem. When the solver is Newton-CG
    (a smooth penalty and few coefficients, or any sparse X) every pass over X serves
    all m problems while each keeps its own solver state (see ``_newton_batch``), so
    each result is the one :func:`fit_binary_logistic` gives for that problem alone,
    up to rounding, and independent of what else is in the batch. Otherwise (an L1
    part, or L-BFGS) it runs m separate fits. ``copy_for_hessian`` lets Newton-CG keep a
    float32 copy of a large dense X for its Hessian products (half of X's size);
    ``hessian_X`` is that copy made once by the caller (``_design.shared_copies``) for
    several batches. Memory: a few (n, m) float64 buffers besides X, which is not copied.

    Returns
    -------
    coef : ndarray of shape (m, n_features)
    intercept : ndarray of shape (m,)
    n_iter : ndarray of shape (m,)
    """
    _validate_params(estimator)
    Y = np.asarray(Y, dtype=bool)
    n, p = X.shape
    if Y.ndim != 2 or Y.shape[0] != n:
        raise ValueError(f"Y must be a 2-D bool array with {n} rows; got shape {Y.shape}.")
    m = Y.shape[1]
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if sw is not None and sw.shape not in ((n,), (n, m)):
        raise ValueError(f"sample_weight must have shape ({n},) or ({n}, {m}); got {sw.shape}.")
    live = np.ones((n, 1), dtype=bool) if sw is None else sw.reshape(n, -1) > 0
    has_pos = np.any(Y & live, axis=0)
    has_neg = np.any(~Y & live, axis=0)
    if not np.all(has_pos & has_neg):
        bad = np.flatnonzero(~(has_pos & has_neg))[:5].tolist()
        raise ValueError(
            "fit_binary_logistic_batch needs a positive and a negative row of positive "
            f"weight in every problem; problems {bad} lack one."
        )
    if not uses_newton(estimator, X):
        fits = [
            fit_binary_logistic(
                estimator, X, Y[:, k], None if sw is None else (sw if sw.ndim == 1 else sw[:, k])
            )
            for k in range(m)
        ]
        return (
            np.array([f[0] for f in fits]).reshape(m, p),
            np.array([f[1] for f in fits], dtype=np.float64),
            np.array([f[2] for f in fits], dtype=np.int32),
        )
    C = float(estimator.C)
    sw_sum: Any = float(n) if sw is None else np.sum(sw, axis=0)
    l2 = (1.0 - estimator.l1_ratio) / (C * sw_sum) if np.isfinite(C) else 0.0
    loss = LogisticLoss(X, Y, sw, 2, bool(estimator.fit_intercept), l2)
    seed = check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max)
    with one_blas_thread():
        result = newton_cg_batch(
            loss,
            float(estimator.tol),
            int(estimator.max_iter),
            np.random.default_rng(seed),
            int(estimator.verbose),
            half_precision_hessian=copy_for_hessian,
            x_hess=hessian_X,
        )
    del loss
    if not result.converged.all():
        bad = np.flatnonzero(~result.converged)
        warnings.warn(
            f"LogisticRegression (solver='newton-cg') did not converge on {bad.size} of "
            f"{m} binary problems (first: problem {bad[0]}, {result.messages[bad[0]]}). "
            "Increase max_iter, loosen tol, or scale the features (e.g. StandardScaler).",
            ConvergenceWarning,
            stacklevel=2,
        )
    coef = result.W[:, :p].copy()
    intercept = result.W[:, p].copy() if estimator.fit_intercept else np.zeros(m)
    return coef, intercept, result.n_iter.astype(np.int32)


def uses_newton(estimator: LogisticRegression, X: Any) -> bool:
    """Whether binary fits of ``estimator`` on ``X`` run Newton-CG (and its copies of X)."""
    return _pick_solver(estimator, X, 2) == "newton-cg"
