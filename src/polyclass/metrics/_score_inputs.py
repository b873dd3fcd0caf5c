"""Input checks shared by the score metrics: targets, scores, pos_label, flags.

Sentences follow scikit-learn's where it has one, extended with the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._encode import check_label_types, unique_labels
from polyclass.metrics._validation import (
    check_consistent_length,
    check_finite_scores,
    check_sample_weight,
    column_or_1d,
)

F64 = NDArray[np.float64]


def check_bool(func: str, name: str, value: Any) -> bool:
    """Return ``value`` as bool; raise unless it is a Python or NumPy bool."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(
        f"The {name!r} parameter of {func} must be an instance of 'bool' or "
        f"'numpy.bool'. Got {value!r} instead."
    )


def check_labels(func: str, name: str, y: NDArray[Any]) -> NDArray[Any]:
    """Refuse NaN, continuous (non-integer float) and mixed string/number labels."""
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"{func}: {name} contains NaN or inf (first at index {bad}). "
                "Class labels must be finite; drop or label those rows."
            )
        if not np.array_equal(y, np.round(y)):
            bad = int(np.flatnonzero(y != np.round(y))[0])
            raise ValueError(
                f"{func}: {name} holds continuous values (e.g. {y[bad]!r} at index {bad}); "
                "continuous format is not supported. Pass class labels (ints, strings "
                "or bools)."
            )
    elif y.dtype.kind not in "biuUSO":
        raise ValueError(f"{func}: {name} must hold class labels, got dtype {y.dtype}.")
    check_label_types(func, y)
    return y


def binary_inputs(
    func: str, y_true: Any, y_score: Any, sample_weight: Any, *, require_weight: bool = True
) -> tuple[NDArray[Any], F64, F64 | None]:
    """Validate 1-D labels, 1-D finite scores and weights; return them as arrays."""
    yt = column_or_1d(func, "y_true", y_true)
    if y_score is None:
        raise ValueError(f"{func}: y_score is None; pass one score per sample.")
    ys = np.asarray(y_score)
    if ys.ndim == 2 and ys.shape[1] == 1:
        ys = ys.ravel()
    if ys.ndim != 1:
        raise ValueError(
            f"{func}: y_score must be 1-D (one score per sample), got an array of shape "
            f"{ys.shape}. For binary probabilities pass the positive column, e.g. "
            "y_score[:, 1]."
        )
    n = check_consistent_length(func, y_true=yt, y_score=ys, sample_weight=sample_weight)
    ys = check_finite_scores(func, "y_score", ys).astype(np.float64, copy=False)
    w = check_sample_weight(func, sample_weight, n)
    check_labels(func, "y_true", yt)
    if require_weight:
        check_positive_total(func, w)
    return yt, ys, w


def check_positive_total(func: str, w: F64 | None) -> None:
    """Raise when every sample weight is zero."""
    if w is not None and not (w > 0).any():
        raise ValueError(
            f"{func}: every sample_weight is zero, so no sample counts. "
            "Give at least one sample a positive weight."
        )


def _contains(classes: NDArray[Any], value: Any) -> bool:
    return any(value == c for c in classes.tolist())


def pos_label_for_curve(func: str, classes: NDArray[Any], pos_label: Any) -> Any:
    """scikit-learn's pos_label rule for curves, plus a clear error for unknown labels.

    With ``pos_label=None`` the labels must be in {0, 1} or {-1, 1} (then 1 is
    positive). A given ``pos_label`` that is not among two or more labels of ``y_true``
    is an error (with one label only, it is taken as the absent class).
    """
    if pos_label is None:
        numeric = classes.dtype.kind not in "OUS"
        ok = numeric and len(classes) <= 2
        if ok:
            values = set(classes.tolist())
            ok = any(values <= allowed for allowed in ({0, 1}, {-1, 1}))
        if not ok:
            if numeric and len(classes) > 2:
                raise ValueError(
                    f"{func}: multiclass format is not supported: y_true has "
                    f"{len(classes)} labels. Pass pos_label to score one class against "
                    "the rest, or use roc_auc_score(..., multi_class='ovr')."
                )
            shown = ", ".join(repr(c) for c in classes.tolist())
            raise ValueError(
                f"y_true takes value in {{{shown}}} and pos_label is not "
                "specified: either make y_true take value in {0, 1} or "
                "{-1, 1} or pass pos_label explicitly."
            )
        return 1
    if len(classes) >= 2 and not _contains(classes, pos_label):
        shown = ", ".join(repr(c) for c in classes.tolist())
        raise ValueError(
            f"{func}: pos_label={pos_label!r} is not a valid label. It should be one of "
            f"[{shown}]. Pass one of the labels of y_true."
        )
    return pos_label


def positives(y_true: NDArray[Any], pos_label: Any) -> NDArray[np.bool_]:
    """Boolean mask of samples whose label equals ``pos_label``."""
    if y_true.dtype.kind in "biuf" and isinstance(pos_label, str):
        return np.zeros(y_true.shape[0], dtype=bool)
    return np.asarray(y_true == pos_label, dtype=bool)


def classes_of(y_true: NDArray[Any]) -> NDArray[Any]:
    """Sorted distinct labels of ``y_true``."""
    return unique_labels(y_true)
