"""Per-label counts (tp, predicted, true, total) for the set-wise metrics.

From a confusion matrix (binary and multiclass targets, any leading batch dims) or
from 0/1 indicator matrices (multilabel, per label or per sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._from_confusion import class_counts, present_classes, select
from polyclass.metrics._setwise import as_labels, setwise_indices
from polyclass.metrics._targets import Targets

Array = NDArray[Any]


@dataclass(frozen=True)
class SetCounts:
    """Counts per reported label ``(..., L)``; ``total`` broadcasts against them."""

    tp: Array
    pred_sum: Array
    true_sum: Array
    total: Array
    keep: Array | None = None
    sample_weight: Array | None = None

    @property
    def neg_sum(self) -> Array:
        return np.asarray(self.total - self.true_sum)

    @property
    def tn(self) -> Array:
        # scikit-learn's order of operations: total - tp - fp - fn
        fp = self.pred_sum - self.tp
        fn = self.true_sum - self.tp
        return np.asarray(self.total - self.tp - fp - fn)


def y_type_of(n_classes: int) -> str:
    return "binary" if n_classes <= 2 else "multiclass"


def setcounts_from_confusion(
    func: str,
    cm: Array,
    classes: Array | None,
    *,
    average: str | None,
    labels: Any,
    pos_label: Any,
    keep: Array | str | None,
    margins: tuple[Array, Array, Array] | None = None,
) -> SetCounts:
    """Counts for the labels a set-wise metric reports on, from ``(..., K, K)`` matrices.

    ``keep='auto'`` drops classes with no true and no predicted sample from averages
    (what scikit-learn does on data lacking them) unless ``labels`` is given.
    """
    cm = np.asarray(cm)
    k = cm.shape[-1]
    if classes is None:
        classes = np.arange(k)
    elif len(classes) != k:
        raise ValueError(
            f"{func}: classes has {len(classes)} entries but the confusion matrix is "
            f"{k}x{k}. Pass the labels that index its rows."
        )
    idx = setwise_indices(func, np.asarray(classes), y_type_of(k), average, labels, pos_label)
    mask: Array | None = None
    if isinstance(keep, str):
        if labels is None and average != "binary":
            mask = present_classes(cm)
            if mask.all():
                mask = None
    elif keep is not None:
        mask = np.asarray(keep, dtype=bool)
    if cm.ndim == 2 and cm.dtype.kind in "iu" and not np.trace(cm):
        # scikit-learn's counts come out as floats when no sample is on the diagonal
        cm = cm.astype(np.float64)
    tp, pred_sum, true_sum, total = class_counts(cm)
    if margins is not None:
        # scikit-learn rebuilds the sums from its 2x2 matrices: tp + (sum - tp)
        true_sum = tp + (margins[0] - tp)
        pred_sum = tp + (margins[1] - tp)
        total = margins[2]
    return SetCounts(
        select(tp, idx),
        select(pred_sum, idx),
        select(true_sum, idx),
        np.asarray(total)[..., None],
        None if mask is None else select(mask, idx),
    )


def _weighted_count(x: Array, axis: int, w: Array | None) -> Array:
    if w is None:
        return np.asarray(np.count_nonzero(x, axis=axis).astype(np.int64))
    if axis == 0:
        # row-major order of the nonzeros, as scikit-learn's sparse count does
        rows, cols = np.nonzero(x)
        return np.bincount(cols, weights=w[rows], minlength=x.shape[1])
    return np.asarray(np.count_nonzero(x, axis=1) * w)


def setcounts_from_multilabel(
    func: str,
    targets: Targets,
    *,
    average: str | None,
    labels: Any,
    pos_label: Any,
) -> SetCounts:
    """Counts per label (or per sample for ``average='samples'``) of indicator matrices."""
    t = targets.y_true != 0
    p = targets.y_pred != 0
    w = targets.sample_weight
    n, n_labels = t.shape
    setwise_indices(func, np.arange(n_labels), "multilabel-indicator", average, None, pos_label)
    lab = as_labels(func, labels)
    if lab is not None and len(lab):
        if lab.dtype.kind not in "iu":
            raise ValueError(
                f"{func}: for multilabel targets, labels are column indices in [0, "
                f"{n_labels}); got {lab.tolist()!r}."
            )
        if lab.max() >= n_labels or lab.min() < 0:
            raise ValueError(
                "All labels must be in [0, n labels) for multilabel targets. "
                f"Got {lab.tolist()!r} with {n_labels} columns."
            )
        t = t[:, lab]
        p = p[:, lab]
    axis = 1 if average == "samples" else 0
    tp = _weighted_count(t & p, axis, w)
    pred_sum = _weighted_count(p, axis, w)
    true_sum = _weighted_count(t, axis, w)
    if w is not None:  # scikit-learn rebuilds the sums from its 2x2 matrices
        pred_sum = tp + (pred_sum - tp)
        true_sum = tp + (true_sum - tp)
    if average == "samples":
        total = np.asarray(t.shape[1] * (np.ones(n) if w is None else w))
        return SetCounts(tp, pred_sum, true_sum, total, None, w)
    total = np.asarray(n if w is None else w.sum())
    return SetCounts(tp, pred_sum, true_sum, total)
