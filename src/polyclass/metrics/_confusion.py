"""``confusion_matrix`` and ``multilabel_confusion_matrix``, counted in one bincount.

Also the entry point for code that works on confusion matrices directly (bootstrap,
streaming states): ``confusion_counts`` and, from ``_registry``, ``CONFUSION_METRICS``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass.metrics._counts import confusion_counts, label_confusion, label_positions
from polyclass.metrics._from_confusion import select
from polyclass.metrics._setcounts import (
    SetCounts,
    setcounts_from_confusion,
    setcounts_from_multilabel,
)
from polyclass.metrics._setwise import as_labels, check_unique_labels
from polyclass.metrics._targets import check_targets
from polyclass.metrics._validation import check_choice

__all__ = ["confusion_counts", "confusion_matrix", "multilabel_confusion_matrix"]

Array = NDArray[Any]


def normalize_confusion(cm: Array, normalize: str | None) -> Array:
    """Divide by row ('true'), column ('pred') or grand ('all') totals; 0 where undefined."""
    if normalize is None:
        return cm
    with np.errstate(all="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=-1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=-2, keepdims=True)
        else:
            out = cm / cm.sum(axis=(-2, -1), keepdims=True)
    return np.asarray(np.nan_to_num(out))


def confusion_matrix_from_cm(
    cm: Array,
    classes: Array,
    *,
    labels: ArrayLike | None = None,
    normalize: str | None = None,
    true_present: Array | None = None,
    func: str = "confusion_matrix",
) -> Array:
    """The public confusion matrix from counts over sorted ``classes``.

    ``true_present`` marks the classes occurring in y_true (default: rows with counts).
    """
    check_choice(func, "normalize", normalize, ["true", "pred", "all", None])
    lab = as_labels(func, labels)
    if lab is not None:
        if len(lab) == 0:
            raise ValueError("'labels' should contain at least one label.")
        check_unique_labels(func, lab)
        idx = label_positions(classes, lab)
        in_true = cm.sum(axis=1) > 0 if true_present is None else true_present
        if not select(in_true, idx).any():
            raise ValueError(
                "At least one label specified must be in y_true. "
                f"Got labels={lab.tolist()!r}; y_true holds none of them."
            )
        cm = np.swapaxes(select(np.swapaxes(select(cm, idx), -1, -2), idx), -1, -2)
    cm = normalize_confusion(cm, normalize)
    if cm.shape == (1, 1):
        warnings.warn(
            "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix "
            "to have the correct shape, use the 'labels' parameter to pass all known labels.",
            UserWarning,
            stacklevel=3,
        )
    return np.ascontiguousarray(cm)


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    normalize: str | None = None,
) -> Array:
    """Confusion matrix ``C[i, j]``: samples of true class i predicted as class j.

    Same parameters and results as ``sklearn.metrics.confusion_matrix``: ``labels``
    selects and orders classes (samples of other classes are dropped), ``normalize``
    is None, 'true', 'pred' or 'all'. Integer counts are int64.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    labels : array-like of shape (n_classes,), default=None
        The classes and their order (default: every label seen, sorted).
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    normalize : {'true', 'pred', 'all'} or None, default=None
        Divide by the row sums, the column sums or the total.

    Returns
    -------
    C : ndarray of shape (n_classes, n_classes)
        Counts (int64, or float with weights or ``normalize``).

    Examples
    --------
    >>> confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])
    array([[2, 0, 0],
           [0, 0, 1],
           [1, 0, 2]])
    >>> confusion_matrix(["cat", "ant", "cat"], ["ant", "ant", "cat"], labels=["cat", "ant"])
    array([[1, 1],
           [0, 1]])
    """
    func = "confusion_matrix"
    check_choice(func, "normalize", normalize, ["true", "pred", "all", None])
    t = check_targets(func, y_true, y_pred, sample_weight, allow_multilabel=False)
    lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
    cm = lc.cm
    if t.sample_weight is not None and t.weight_is_int:
        cm = cm.astype(np.int64)
    return confusion_matrix_from_cm(
        cm, lc.classes, labels=labels, normalize=normalize, true_present=lc.true_present
    )


def multilabel_confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    samplewise: bool = False,
) -> Array:
    """One-vs-rest 2x2 matrices ``[[tn, fp], [fn, tp]]`` per class (or per sample).

    Multiclass labels are binarized one-vs-rest; multilabel indicator input is taken
    column by column (``samplewise=True``: row by row). Same parameters and results
    as ``sklearn.metrics.multilabel_confusion_matrix``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        True labels, or a binary indicator matrix for multilabel data.
    y_pred : array-like of the same shape as ``y_true``
        Predicted labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    labels : array-like, default=None
        The classes and their order (default: every label seen, sorted).
    samplewise : bool, default=False
        Multilabel only: one matrix per sample instead of per label.

    Returns
    -------
    C : ndarray of shape (n_labels, 2, 2) or (n_samples, 2, 2)
        ``[[tn, fp], [fn, tp]]`` for each label (or sample).

    Examples
    --------
    >>> multilabel_confusion_matrix(["cat", "ant", "cat"], ["ant", "ant", "cat"]).tolist()
    [[[1, 1], [0, 1]], [[1, 0], [1, 1]]]
    """
    func = "multilabel_confusion_matrix"
    t = check_targets(func, y_true, y_pred, sample_weight)
    average = "samples" if samplewise else None
    if t.kind == "multilabel-indicator":
        c = setcounts_from_multilabel(func, t, average=average, labels=labels, pos_label=None)
    else:
        if samplewise:
            raise ValueError(
                "Samplewise metrics are not available outside of multilabel classification."
            )
        lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight, margins=True)
        c = setcounts_from_confusion(
            func,
            lc.cm,
            lc.classes,
            average=None,
            labels=labels,
            pos_label=None,
            keep=None,
            margins=lc.margins,
        )
    return _stack_mcm(c)


def _stack_mcm(c: SetCounts) -> Array:
    tp = c.tp
    fp = c.pred_sum - tp
    fn = c.true_sum - tp
    return np.stack([c.tn, fp, fn, tp], axis=-1).reshape(-1, 2, 2)


def multilabel_confusion_from_cm(cm: Array, classes: Array, *, labels: Any = None) -> Array:
    """multilabel_confusion_matrix (one-vs-rest) from a (K, K) matrix over ``classes``."""
    c = setcounts_from_confusion(
        "multilabel_confusion_matrix",
        cm,
        classes,
        average=None,
        labels=labels,
        pos_label=None,
        keep=None,
    )
    return _stack_mcm(c)


from polyclass.metrics._registry import CONFUSION_METRICS  # noqa: E402

__all__ += ["CONFUSION_METRICS"]
