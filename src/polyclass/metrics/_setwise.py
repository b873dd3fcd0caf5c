"""Arguments of the set-wise metrics (precision, recall, F, Jaccard, specificity).

Validates ``average``, ``zero_division``, ``beta``, ``labels`` and ``pos_label`` with
scikit-learn's sentences, and turns ``labels``/``pos_label`` into class indices.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._counts import label_positions
from polyclass.metrics._validation import check_choice, check_real

AVERAGES = ("micro", "macro", "samples", "weighted", "binary", None)


def check_average(func: str, average: Any) -> None:
    check_choice(func, "average", average, AVERAGES)


def check_zero_division(func: str, zero_division: Any, *, allow_nan: bool = True) -> None:
    """'warn', 0, 1 (and NaN when ``allow_nan``), as scikit-learn accepts."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return
    elif isinstance(zero_division, (int, float, np.integer, np.floating)) and not isinstance(
        zero_division, bool
    ):
        z = float(zero_division)
        if z in (0.0, 1.0) or (allow_nan and np.isnan(z)):
            return
    allowed = "'warn', 0.0, 1.0 or np.nan" if allow_nan else "'warn', 0 or 1"
    raise ValueError(
        f"The 'zero_division' parameter of {func} must be one of {allowed}. "
        f"Got {zero_division!r} instead."
    )


def check_beta(func: str, beta: Any) -> float:
    return check_real(func, "beta", beta, low=0.0)


def check_pos_label(func: str, pos_label: Any) -> None:
    ok = pos_label is None or isinstance(pos_label, (str, bool, int, float, np.generic))
    if not ok:
        raise ValueError(
            f"The 'pos_label' parameter of {func} must be an int, float, bool, str or None. "
            f"Got {pos_label!r} instead."
        )


def as_labels(func: str, labels: Any) -> NDArray[Any] | None:
    """``labels`` as a 1-D array (None stays None)."""
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(
            f"{func}: labels must be a 1-D list of class labels, got shape {arr.shape}."
        )
    return arr


def check_unique_labels(func: str, labels: NDArray[Any]) -> None:
    """Raise when a label is listed twice (a matrix cannot have two rows for it)."""
    seen: set[Any] = set()
    for value in labels.tolist():
        if value in seen:
            raise ValueError(
                f"{func}: labels lists {value!r} more than once; pass each label once."
            )
        seen.add(value)


def _render_classes(classes: NDArray[Any]) -> str:
    return str(np.asarray(classes))


def setwise_indices(
    func: str,
    classes: NDArray[Any],
    y_type: str,
    average: str | None,
    labels: Any,
    pos_label: Any,
) -> NDArray[np.intp] | None:
    """Class indices a set-wise metric reports on (-1: a label with no samples).

    ``None`` means every class in order. Mirrors scikit-learn's
    ``_check_set_wise_labels``: binary averaging needs binary targets and a known
    ``pos_label``; ``pos_label`` is ignored (with a warning) for other averages.
    """
    if average == "binary":
        if y_type != "binary":
            options: list[str | None] = [None, "micro", "macro", "weighted"]
            if y_type.startswith("multilabel"):
                options.append("samples")
            raise ValueError(
                f"Target is {y_type} but average='binary'. Please choose another average "
                f"setting, one of {options!r}."
            )
        pos = label_positions(classes, np.array([pos_label], dtype=object))
        if pos[0] < 0 and len(classes) >= 2:
            raise ValueError(
                f"pos_label={pos_label!r} is not a valid label. It should be one of "
                f"{_render_classes(classes)}"
            )
        return pos
    if pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single "
            "positive class.",
            UserWarning,
            stacklevel=3,
        )
    if average == "samples" and not y_type.startswith("multilabel"):
        raise ValueError(
            "Samplewise metrics are not available outside of multilabel classification. "
            "Choose average from None, 'micro', 'macro' or 'weighted'."
        )
    lab = as_labels(func, labels)
    if lab is None:
        return None
    return label_positions(classes, lab)
