"""What the one-vs-rest and one-vs-one wrappers share.

The base class (tags, ``n_classes_``, stored state), argument checks, the detection of
the fast path (the wrapped estimator is exactly polyclass's ``LogisticRegression``),
per-sub-problem weights, and the construction of fitted sub-estimators from
coefficients.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    has_fit_parameter,
    validate_data,
)
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from polyclass.linear._combine import LinearMulticlassPredictor
from polyclass.linear._logistic import LogisticRegression, _validate_params, fit_binary_logistic

FitBinary = Callable[[Any, Any, npt.NDArray[np.bool_], npt.NDArray[Any] | None], Any]

STATE_FORMAT = "polyclass.linear.multiclass"
STATE_VERSION = 1


def fast_fit_function(estimator: object) -> FitBinary | None:
    """polyclass's binary logistic fit if ``estimator`` is exactly its LogisticRegression.

    Subclasses take the generic path: they may override ``fit``.
    """
    return fit_binary_logistic if type(estimator) is LogisticRegression else None


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
    BLAS threads, while BLAS threads on busy cores spin and lose a lot. Measured on the
    2-core benchmark machine under load, 300,000 x 50 with 7 classes: sequential OvR
    3.9-11.9 s with 2 BLAS threads against 1.7-2.6 s with one (OvO 7.3-13.5 s against
    1.9-3.8 s); on an idle machine the two were equal.
    """
    workers = n_workers(n_jobs, len(arguments))
    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1:
            return [function(*a) for a in arguments]
        results: list[Any] = Parallel(n_jobs=workers, prefer="threads")(
            delayed(function)(*a) for a in arguments
        )
    return results


def check_n_jobs(n_jobs: object, owner: str) -> None:
    if n_jobs is not None and (not isinstance(n_jobs, int | np.integer) or n_jobs == 0):
        raise ValueError(
            f"The 'n_jobs' parameter of {owner} must be None, a positive int, or a "
            f"negative int (-1 means all cores). Got {n_jobs!r} instead."
        )


def check_binary_scorer(estimator: object, owner: str) -> None:
    if not hasattr(estimator, "fit") or not (
        hasattr(estimator, "decision_function") or hasattr(estimator, "predict_proba")
    ):
        raise TypeError(
            f"{owner} needs a binary classifier with fit and decision_function or "
            f"predict_proba; got {type(estimator).__name__}. Wrap a classifier such as "
            "polyclass.LogisticRegression()."
        )


def check_weight_support(estimator: object, sample_weight: object, owner: str) -> None:
    if sample_weight is not None and not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(
            f"{owner} got sample_weight, but {type(estimator).__name__}.fit takes no "
            "sample_weight. Drop the weights or wrap an estimator that supports them."
        )


def check_target_shape(y: Any, owner: str) -> None:
    """A missing or multilabel y is refused before X is looked at."""
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None. Pass the class "
            "labels, one per row of X."
        )
    ndim = getattr(y, "ndim", None)
    if ndim is None and isinstance(y, list | tuple):
        ndim = np.ndim(y)
    if ndim == 2 and np.shape(y)[1] > 1:
        raise ValueError(
            f"{owner} takes a 1-D target of class labels; got a 2-D y of shape "
            f"{np.shape(y)} (a multilabel indicator matrix?). Pass one label per row, or "
            "use sklearn.multiclass.OneVsRestClassifier for multilabel targets."
        )


def check_targets(y: Any, owner: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """``classes_`` and the encoded ``y`` for a binary or multiclass target."""
    check_target_shape(y, owner)
    y = column_or_1d(y, warn=True)
    check_array(y, ensure_2d=False, dtype=None, ensure_min_samples=1, input_name="y")
    check_classification_targets(y)
    classes, y_encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{owner} needs at least two classes in y; got one class: {classes[0]!r}. "
            "Check the target column, or drop the wrapper for a one-class problem."
        )
    return classes, y_encoded.astype(np.intp).ravel()


def n_rows(X: Any) -> int:
    """Number of rows of an array-like, sparse matrix or data frame."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return int(np.asarray(X).shape[0])


def check_sample_weight(
    sample_weight: Any, n_samples: int, dtype: npt.DTypeLike
) -> npt.NDArray[Any] | None:
    """Validated per-row weights (a new array), or None."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real):
        return np.full(n_samples, float(sample_weight), dtype=dtype)
    try:
        weights = np.array(sample_weight, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"sample_weight must be numbers, one per row of X; could not convert: {exc}"
        ) from None
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must be 1-D with one weight per row of X ({n_samples}); got "
            f"shape {weights.shape}. Pass an array of shape ({n_samples},)."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            "sample_weight must be finite and non-negative; got "
            f"min={np.min(weights)!r}, max={np.max(weights)!r}. Fix or drop those rows."
        )
    return weights


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


def plain(label: Any) -> Any:
    """A NumPy scalar label as the Python value, for readable messages."""
    return label.item() if isinstance(label, np.generic) else label


def check_weight_sum(weights: npt.NDArray[Any] | None, problem: str) -> None:
    if weights is not None and not np.sum(weights) > 0:
        raise ValueError(
            f"The sample weights of the binary problem {problem} sum to zero, so it has "
            "nothing to fit. Give some rows of those classes a positive weight."
        )


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


def _encode_param(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, dict):
        return {
            "dict": [[_encode_param(name, k), _encode_param(name, v)] for k, v in value.items()]
        }
    if (isinstance(value, type) and issubclass(value, np.generic)) or isinstance(value, np.dtype):
        return {"dtype": np.dtype(value).name}
    if name == "random_state" and isinstance(value, np.random.RandomState):
        return None  # only seeds fitting; prediction does not depend on it
    raise ValueError(
        f"The estimator parameter {name}={value!r} cannot be stored as JSON. Set it to "
        "None, a number, a string or a dict of those before fitting."
    )


def _decode_param(value: Any) -> Any:
    if isinstance(value, dict):
        if "float" in value:
            return float(value["float"])
        if "dtype" in value:
            return np.dtype(value["dtype"]).type
        return {_decode_param(k): _decode_param(v) for k, v in value["dict"]}
    return value


def label_array(classes: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Class labels as an array ``np.save`` can write without pickle (no object dtype)."""
    if classes.dtype != object:
        return classes
    plain = np.asarray(classes.tolist())
    if (
        plain.dtype != object
        and plain.shape == classes.shape
        and plain.tolist() == classes.tolist()
    ):
        return plain
    raise ValueError(
        "Only labels that are all numbers or all strings can be stored without pickle; got "
        f"labels of types {sorted({type(c).__name__ for c in classes})}. Encode y first."
    )


class MulticlassWrapper(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Shared behaviour of the one-vs-rest and one-vs-one wrappers."""

    _strategy: ClassVar[str]
    estimator: Any
    n_jobs: int | None
    classes_: npt.NDArray[Any]
    estimators_: list[Any]
    n_features_in_: int
    _predictor: LinearMulticlassPredictor | None

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
        params = self.estimator.get_params(deep=False)
        names = getattr(self, "feature_names_in_", None)
        meta = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "strategy": self._strategy,
            "estimator": type(self.estimator).__name__,
            "estimator_params": {k: _encode_param(k, v) for k, v in sorted(params.items())},
            "n_jobs": self.n_jobs,
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
        }
        arrays = {
            "coef": predictor.coef,
            "intercept": predictor.intercept,
            "n_iter": np.array([int(e.n_iter_[0]) for e in self.estimators_], dtype=np.int64),
            "classes": label_array(self.classes_),
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Self:
        """A fitted wrapper from ``to_state``'s output (as loaded from JSON and .npy)."""
        if meta.get("format") != STATE_FORMAT or meta.get("version") != STATE_VERSION:
            raise ValueError(
                f"Not a stored multiclass model: expected format {STATE_FORMAT!r} version "
                f"{STATE_VERSION}; got {meta.get('format')!r} version {meta.get('version')!r}."
            )
        if meta.get("strategy") != cls._strategy:
            right = "OneVsRestClassifier" if meta.get("strategy") == "ovr" else "OneVsOneClassifier"
            raise ValueError(
                f"This state is a {meta.get('strategy')!r} model; load it with "
                f"{right}.from_state, not {cls.__name__}.from_state."
            )
        missing = {"coef", "intercept", "n_iter", "classes"} - set(arrays)
        if missing:
            raise ValueError(f"The stored arrays lack {sorted(missing)}; the state is incomplete.")
        if meta.get("estimator") != "LogisticRegression":
            raise ValueError(
                "A stored multiclass model wraps polyclass's LogisticRegression; this one "
                f"names {meta.get('estimator')!r}. The state is corrupt or from elsewhere."
            )
        params = {k: _decode_param(v) for k, v in meta["estimator_params"].items()}
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
