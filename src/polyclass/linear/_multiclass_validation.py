"""Argument checks shared by the one-vs-rest and one-vs-one wrappers."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.utils.validation import check_array, column_or_1d, has_fit_parameter

from polyclass.linear._labels import encode_labels


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
    classes, y_encoded = encode_labels(y)
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
