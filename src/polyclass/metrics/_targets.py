"""What kind of target a metric was given: binary, multiclass or multilabel-indicator.

scikit-learn's ``type_of_target`` semantics, but cheap on large inputs: the dtype and
the shape say most of it; integer-valued floats are checked chunk by chunk (no full
temporary copy); the binary/multiclass split is decided later from the number of
labels found, which the label metrics count anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._encode import check_label_types, unique_labels
from polyclass.metrics._validation import check_consistent_length, check_sample_weight

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Targets:
    """Validated label inputs of a label metric.

    ``kind`` is ``'labels'`` for 1-D class labels (binary or multiclass, decided by the
    number of distinct labels) or ``'multilabel-indicator'`` for 0/1 matrices.
    """

    kind: str
    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    sample_weight: NDArray[np.float64] | None
    weight_is_int: bool


def _first_bad_float(y: NDArray[Any]) -> int | None:
    """Index of the first non-finite or non-integral float, else None (chunked scan)."""
    flat = y.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        c = flat[start : start + _CHUNK]
        ok = np.isfinite(c)
        if ok.all():
            ok = c == np.floor(c)
            if ok.all():
                continue
        return start + int(np.flatnonzero(~ok)[0])
    return None


def _continuous_error(func: str, name: str, y: NDArray[Any], i: int) -> ValueError:
    v = y.reshape(-1)[i].item()
    if not np.isfinite(v):
        return ValueError(
            f"{func}: {name} contains {v!r} at index {i}; class labels must be finite. "
            "Drop or impute those samples."
        )
    return ValueError(
        f"{func}: {name} holds continuous values ({v!r} at index {i}), but classification "
        "metrics need class labels. Threshold the scores into labels first, or use a score "
        "metric such as roc_auc_score."
    )


def _object_labels(func: str, name: str, y: NDArray[Any]) -> NDArray[Any]:
    """Turn an object array of labels into a string or numeric array, or raise."""
    if y.size == 0:
        return y
    values = y.tolist()
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    if any(isinstance(v, str) for v in values):
        raise ValueError(
            f"{func}: mix of label input types (string and number) within {name}. "
            "Convert all labels to one type."
        )
    if all(isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) for v in values):
        return np.asarray(values)
    bad = next(v for v in values if not isinstance(v, (bool, int, float, np.generic)))
    raise ValueError(
        f"{func}: {name} contains {bad!r} of type {type(bad).__name__}; labels must be "
        "integers, strings or booleans."
    )


def as_label_array(func: str, name: str, y: Any) -> NDArray[Any]:
    """Return ``y`` as a 1-D array of class labels (ints, bools, integral floats or str)."""
    if y is None:
        raise ValueError(f"{func}: {name} is None; pass a 1-D array-like of class labels.")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(
            f"{func}: {name} must be 1-D class labels, got an array of shape {arr.shape}."
        )
    return check_label_values(func, name, arr)


def check_label_values(func: str, name: str, arr: NDArray[Any]) -> NDArray[Any]:
    """Check the dtype and values of a label array; convert object arrays."""
    kind = arr.dtype.kind
    if kind == "O":
        arr = _object_labels(func, name, arr)
        kind = arr.dtype.kind
    if kind == "f":
        bad = _first_bad_float(arr)
        if bad is not None:
            raise _continuous_error(func, name, arr, bad)
    elif kind == "S":
        raise ValueError(f"{func}: {name} holds bytes labels; convert them to str or integers.")
    elif kind == "c":
        raise ValueError(f"{func}: {name} is complex; labels must be integers, str or bool.")
    elif kind not in "biuU":
        raise ValueError(
            f"{func}: {name} has dtype {arr.dtype}; labels must be integers, str or bool."
        )
    return arr


def _is_indicator(arr: NDArray[Any]) -> bool:
    if arr.dtype.kind == "b":
        return True
    if arr.dtype.kind not in "iuf":
        return False
    return bool(np.isin(arr, (0, 1)).all())


def check_targets(
    func: str,
    y_true: Any,
    y_pred: Any,
    sample_weight: Any = None,
    *,
    allow_multilabel: bool = True,
) -> Targets:
    """Validate a pair of label targets (and weights), as scikit-learn's ``_check_targets``.

    Raises ``ValueError`` for mismatched lengths, empty input, continuous or NaN
    values, mixed string and number labels, and mixed target kinds.
    """
    if y_true is None or y_pred is None:
        name = "y_true" if y_true is None else "y_pred"
        raise ValueError(f"{func}: {name} is None; pass an array-like of class labels.")
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    t_multi = t.ndim == 2 and t.shape[1] > 1
    p_multi = p.ndim == 2 and p.shape[1] > 1
    check_consistent_length(func, y_true=t, y_pred=p)
    if t_multi or p_multi:
        for name, a, multi in (("y_true", t, t_multi), ("y_pred", p, p_multi)):
            if not multi:
                raise ValueError(
                    f"{func}: classification metrics can't handle a mix of "
                    "multilabel-indicator and 1-D label targets. Pass both as 0/1 "
                    "indicator matrices or both as 1-D labels."
                )
            if not _is_indicator(a):
                raise ValueError(
                    f"{func}: {name} is 2-D but not a 0/1 indicator matrix "
                    "(multiclass-multioutput is not supported). Pass 1-D labels or a "
                    "multilabel indicator matrix."
                )
        if t.shape[1] != p.shape[1]:
            raise ValueError(
                f"{func}: multi-label binary indicator input with different numbers of "
                f"labels: y_true has {t.shape[1]} columns and y_pred {p.shape[1]}."
            )
        if not allow_multilabel:
            raise ValueError(f"{func}: multilabel-indicator is not supported.")
        w = check_sample_weight(func, sample_weight, t.shape[0])
        return Targets("multilabel-indicator", t, p, w, _weight_is_int(sample_weight))
    t = as_label_array(func, "y_true", t)
    p = as_label_array(func, "y_pred", p)
    check_label_types(func, t, p)
    w = check_sample_weight(func, sample_weight, t.shape[0])
    return Targets("labels", t, p, w, _weight_is_int(sample_weight))


def _weight_is_int(sample_weight: Any) -> bool:
    if sample_weight is None:
        return True
    return np.asarray(sample_weight).dtype.kind in "biu"


def type_of_target(y: Any, input_name: str = "y") -> str:
    """Return 'binary', 'multiclass' or 'multilabel-indicator' like scikit-learn's.

    Continuous values, NaN and unsupported layouts raise ``ValueError`` rather than
    returning 'continuous' or 'unknown', because no label metric accepts them.

    Examples
    --------
    >>> type_of_target([0, 1, 1])
    'binary'
    >>> type_of_target(["a", "b", "c"])
    'multiclass'
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] > 1:
        if _is_indicator(arr):
            return "multilabel-indicator"
        raise ValueError(
            f"type_of_target: {input_name} is 2-D but not a 0/1 indicator matrix "
            "(multiclass-multioutput is not supported)."
        )
    labels = as_label_array("type_of_target", input_name, arr)
    return "binary" if len(unique_labels(labels)) <= 2 else "multiclass"
