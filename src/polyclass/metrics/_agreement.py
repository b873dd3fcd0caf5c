"""Agreement statistics from the confusion matrix: Matthews correlation, Cohen's kappa."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass.metrics._counts import label_confusion, label_positions
from polyclass.metrics._from_confusion import (
    kappa_from_confusion,
    mcc_from_confusion,
    present_classes,
    select,
)
from polyclass.metrics._setwise import as_labels, check_unique_labels
from polyclass.metrics._targets import check_targets
from polyclass.metrics._validation import check_choice, check_real

Array = NDArray[Any]


def matthews_corrcoef(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Matthews correlation coefficient, binary and multiclass (0.0 when undefined).

    Same parameters and results as ``sklearn.metrics.matthews_corrcoef``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    mcc : float
        In [-1, 1]: 1 perfect, 0 no better than chance.

    Examples
    --------
    >>> round(matthews_corrcoef([1, 1, 1, -1], [1, -1, 1, 1]), 4)
    -0.3333
    """
    func = "matthews_corrcoef"
    t = check_targets(func, y_true, y_pred, sample_weight, allow_multilabel=False)
    lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
    return float(mcc_from_confusion(lc.cm))


def mcc_from_cm(cm: Array, **_: Any) -> Array:
    """matthews_corrcoef from ``(..., K, K)`` matrices."""
    return mcc_from_confusion(np.asarray(cm))


def _check_kappa_args(weights: Any, replace_undefined_by: Any) -> None:
    func = "cohen_kappa_score"
    check_choice(func, "weights", weights, ["linear", "quadratic", None])
    if not (isinstance(replace_undefined_by, float) and np.isnan(replace_undefined_by)):
        check_real(func, "replace_undefined_by", replace_undefined_by, low=-1.0, high=1.0)


def kappa_from_cm(
    cm: Array,
    *,
    classes: Array | None = None,
    labels: ArrayLike | None = None,
    weights: str | None = None,
    replace_undefined_by: float = np.nan,
    keep: Array | str | None = "auto",
    true_present: Array | None = None,
) -> Array:
    """cohen_kappa_score from ``(..., K, K)`` matrices over ``classes`` (rows = y1)."""
    _check_kappa_args(weights, replace_undefined_by)
    cm = np.asarray(cm)
    mask: Array | None = None
    lab = as_labels("cohen_kappa_score", labels)
    if lab is not None:
        if len(lab) == 0:
            raise ValueError("'labels' should contain at least one label.")
        check_unique_labels("cohen_kappa_score", lab)
        k = cm.shape[-1]
        cls = np.arange(k) if classes is None else np.asarray(classes)
        idx = label_positions(cls, lab)
        y1_present = cm.sum(axis=-1) > 0 if true_present is None else true_present
        if not np.any(select(y1_present, idx)) and not isinstance(keep, str):
            raise ValueError(
                "At least one label in `labels` must be present in `y1` (even though "
                "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
            )
        rows = select(cm, idx)
        cm = select(np.swapaxes(rows, -1, -2), idx)
        cm = np.swapaxes(cm, -1, -2)
    elif isinstance(keep, str):
        mask = present_classes(cm)
    elif keep is not None:
        mask = np.asarray(keep, dtype=bool)
    return kappa_from_confusion(
        cm, weights=weights, replace_undefined_by=replace_undefined_by, keep=mask
    )


def cohen_kappa_score(
    y1: ArrayLike,
    y2: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    weights: str | None = None,
    sample_weight: ArrayLike | None = None,
    replace_undefined_by: float = np.nan,
) -> float:
    """Cohen's kappa: agreement between two labelings beyond chance.

    ``weights`` is None, 'linear' or 'quadratic' (distances between class positions
    in ``labels`` or in sorted order). Undefined kappa gives ``replace_undefined_by``
    with an ``UndefinedMetricWarning``. Same parameters and results as
    ``sklearn.metrics.cohen_kappa_score``.

    Parameters
    ----------
    y1, y2 : array-like of shape (n_samples,)
        The two labelings (e.g. two annotators, or truth and prediction).
    labels : array-like, default=None
        The classes to count, in order (default: every label seen, sorted).
    weights : {None, 'linear', 'quadratic'}, default=None
        How disagreements are weighted by the distance between classes.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    replace_undefined_by : float, default=nan
        The value returned when kappa is undefined.

    Returns
    -------
    kappa : float
        1 perfect agreement, 0 agreement by chance.

    Examples
    --------
    >>> y1 = ["negative", "positive", "negative", "neutral", "positive"]
    >>> y2 = ["negative", "positive", "negative", "neutral", "negative"]
    >>> cohen_kappa_score(y1, y2)
    0.6875
    """
    func = "cohen_kappa_score"
    _check_kappa_args(weights, replace_undefined_by)
    t = check_targets(func, y1, y2, sample_weight, allow_multilabel=False)
    lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
    return float(
        kappa_from_cm(
            lc.cm,
            classes=lc.classes,
            labels=labels,
            weights=weights,
            replace_undefined_by=replace_undefined_by,
            keep=None,
            true_present=lc.true_present,
        )
    )
