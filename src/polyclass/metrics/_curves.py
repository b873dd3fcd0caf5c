"""Binary score curves: ``roc_curve``, ``precision_recall_curve``, ``det_curve``, ``auc``.

Each is: validate arguments, validate inputs, counts at the distinct thresholds
(:mod:`polyclass.metrics._ranking`), then the curve from the counts. The ``*_from_counts``
helpers are shared with the streaming :class:`~polyclass.metrics.ScoreCurveState`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import UndefinedMetricWarning

from polyclass.metrics._ranking import binary_counts
from polyclass.metrics._score_inputs import (
    binary_inputs,
    check_bool,
    classes_of,
    pos_label_for_curve,
    positives,
)
from polyclass.metrics._validation import check_consistent_length, column_or_1d

F64 = NDArray[np.float64]


def _curve_counts(
    func: str, y_true: Any, y_score: Any, pos_label: Any, sample_weight: Any
) -> tuple[list[F64], NDArray[Any]]:
    """``[fps, tps, thresholds]`` (a list the caller hands on, see :func:`_roc`) and classes."""
    yt, ys, w = binary_inputs(func, y_true, y_score, sample_weight)
    classes = classes_of(yt)
    pos_label = pos_label_for_curve(func, classes, pos_label)
    tps, fps, thresholds = binary_counts(positives(yt, pos_label), ys, w)
    return [fps, tps, thresholds], classes


def _keep_corners(first: F64, second: F64) -> NDArray[np.intp]:
    """Points where either curve bends: ``np.diff(x, 2) != 0`` as ``dx[1:] != dx[:-1]``."""
    keep = np.empty(first.shape[0], dtype=bool)
    keep[0] = keep[-1] = True
    step = np.diff(first)
    np.not_equal(step[1:], step[:-1], out=keep[1:-1])
    np.subtract(second[1:], second[:-1], out=step)
    keep[1:-1] |= step[1:] != step[:-1]
    return np.flatnonzero(keep)


def _keep_tp_changes(tps: F64) -> NDArray[np.intp]:
    """Points where the true positives change from either neighbour."""
    keep = np.empty(tps.shape[0], dtype=bool)
    keep[0] = keep[-1] = True
    step = np.diff(tps)
    np.logical_or(step[:-1] != 0, step[1:] != 0, out=keep[1:-1])
    return np.flatnonzero(keep)


def _prepend(x: F64, idx: NDArray[np.intp] | None, first: float) -> F64:
    """``[first, *x[idx]]`` (``idx=None``: all of ``x``) in one new array."""
    n = x.shape[0] if idx is None else idx.shape[0]
    out = np.empty(n + 1)
    out[0] = first
    if idx is None:
        out[1:] = x
    else:
        np.take(x, idx, out=out[1:], mode="clip")  # "clip" is unbuffered; idx is valid
    return out


def roc_from_counts(
    fps: F64, tps: F64, thresholds: F64, drop_intermediate: bool = True
) -> tuple[F64, F64, F64]:
    """``(fpr, tpr, thresholds)`` from counts at decreasing thresholds, as ``roc_curve``."""
    return _roc([fps, tps, thresholds], drop_intermediate, stacklevel=4)


def _roc(counts: list[F64], drop_intermediate: bool, stacklevel: int = 3) -> tuple[F64, F64, F64]:
    """:func:`roc_from_counts` on ``[fps, tps, thresholds]`` that the caller gives up.

    The list is emptied so that each count array is freed as soon as its output exists:
    the peak is the counts plus one output array.
    """
    fps, tps, thresholds = counts
    counts.clear()
    idx = _keep_corners(fps, tps) if drop_intermediate and fps.shape[0] > 2 else None
    n_neg, n_pos = float(fps[-1]), float(tps[-1])
    fpr = _prepend(fps, idx, 0.0)
    del fps
    if n_neg <= 0:
        warnings.warn(
            "No negative samples in y_true, false positive value should be meaningless",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
        fpr.fill(np.nan)
    else:
        fpr[1:] /= n_neg
    tpr = _prepend(tps, idx, 0.0)
    del tps
    if n_pos <= 0:
        warnings.warn(
            "No positive samples in y_true, true positive value should be meaningless",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
        tpr.fill(np.nan)
    else:
        tpr[1:] /= n_pos
    return fpr, tpr, _prepend(thresholds, idx, np.inf)


def pr_from_counts(
    fps: F64, tps: F64, thresholds: F64, drop_intermediate: bool = False
) -> tuple[F64, F64, F64]:
    """``(precision, recall, thresholds)`` from counts, as ``precision_recall_curve``."""
    return _pr([fps, tps, thresholds], drop_intermediate, stacklevel=4)


def _pr(counts: list[F64], drop_intermediate: bool, stacklevel: int = 3) -> tuple[F64, F64, F64]:
    """:func:`pr_from_counts` on ``[fps, tps, thresholds]`` that the caller gives up."""
    fps, tps, thresholds = counts
    counts.clear()
    if drop_intermediate and fps.shape[0] > 2:
        idx = _keep_tp_changes(tps)
        fps = fps[idx]
        tps = tps[idx]
        thresholds = thresholds[idx]
        del idx
    n = fps.shape[0]
    precision = np.empty(n + 1)
    precision[-1] = 1.0
    predicted = precision[:-1]  # tps + fps at increasing thresholds, then divided in place
    np.add(tps[::-1], fps[::-1], out=predicted)
    del fps
    if predicted.min() > 0:
        np.divide(tps[::-1], predicted, out=predicted)
    else:  # no weight predicted positive: precision 0 there (it is 0 already)
        np.divide(tps[::-1], predicted, out=predicted, where=predicted != 0)
    recall = np.empty(n + 1)
    recall[-1] = 0.0
    if tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            UserWarning,
            stacklevel=stacklevel,
        )
        recall[:-1] = 1.0
    else:
        np.divide(tps[::-1], tps[-1], out=recall[:-1])
    del tps
    return precision, recall, thresholds[::-1].copy()


def roc_curve(
    y_true: Any,
    y_score: Any,
    *,
    pos_label: Any = None,
    sample_weight: Any = None,
    drop_intermediate: bool = True,
) -> tuple[F64, F64, F64]:
    """Compute the Receiver Operating Characteristic (ROC) curve.

    Same parameters and results as :func:`sklearn.metrics.roc_curve`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels. Unless they are in {0, 1} or {-1, 1}, pass ``pos_label``.
    y_score : array-like of shape (n_samples,)
        Scores (probabilities or decision values); higher means more positive.
    pos_label : int, float, bool or str, default=None
        The label of the positive class.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    drop_intermediate : bool, default=True
        Drop thresholds whose point is collinear with its neighbours.

    Returns
    -------
    fpr, tpr : ndarray of shape (n_thresholds,)
        Increasing false and true positive rates.
    thresholds : ndarray of shape (n_thresholds,)
        Decreasing thresholds; the first is ``np.inf``.

    Examples
    --------
    >>> from polyclass.metrics import roc_curve
    >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist(), thr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    func = "roc_curve"
    drop = check_bool(func, "drop_intermediate", drop_intermediate)
    counts, _ = _curve_counts(func, y_true, y_score, pos_label, sample_weight)
    return _roc(counts, drop)


def precision_recall_curve(
    y_true: Any,
    y_score: Any,
    *,
    pos_label: Any = None,
    sample_weight: Any = None,
    drop_intermediate: bool = False,
) -> tuple[F64, F64, F64]:
    """Compute precision-recall pairs for the distinct thresholds.

    Same parameters and results as :func:`sklearn.metrics.precision_recall_curve`: the
    last point is precision 1, recall 0, with no threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels. Unless they are in {0, 1} or {-1, 1}, pass ``pos_label``.
    y_score : array-like of shape (n_samples,)
        Scores; higher means more positive.
    pos_label : int, float, bool or str, default=None
        The label of the positive class.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    drop_intermediate : bool, default=False
        Drop thresholds where the true positives do not change from both neighbours.

    Returns
    -------
    precision, recall : ndarray of shape (n_thresholds + 1,)
    thresholds : ndarray of shape (n_thresholds,)
        Increasing thresholds.

    Examples
    --------
    >>> from polyclass.metrics import precision_recall_curve
    >>> p, r, t = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> r.tolist(), t.tolist()
    ([1.0, 1.0, 0.5, 0.5, 0.0], [0.1, 0.35, 0.4, 0.8])
    """
    func = "precision_recall_curve"
    drop = check_bool(func, "drop_intermediate", drop_intermediate)
    counts, _ = _curve_counts(func, y_true, y_score, pos_label, sample_weight)
    return _pr(counts, drop)


def det_curve(
    y_true: Any,
    y_score: Any,
    pos_label: Any = None,
    sample_weight: Any = None,
    drop_intermediate: bool = False,
) -> tuple[F64, F64, F64]:
    """Compute the Detection Error Tradeoff (DET) curve.

    Same parameters and results as :func:`sklearn.metrics.det_curve`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels. Unless they are in {0, 1} or {-1, 1}, pass ``pos_label``.
    y_score : array-like of shape (n_samples,)
        Scores; higher means more positive.
    pos_label : int, float, bool or str, default=None
        The label of the positive class.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    drop_intermediate : bool, default=False
        Drop thresholds where the true positives do not change from both neighbours.

    Returns
    -------
    fpr, fnr : ndarray of shape (n_thresholds,)
        False positive rate (decreasing) and false negative rate (increasing).
    thresholds : ndarray of shape (n_thresholds,)
        Increasing thresholds (the last may be ``np.inf``).

    Examples
    --------
    >>> from polyclass.metrics import det_curve
    >>> fpr, fnr, thr = det_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), fnr.tolist(), thr.tolist()
    ([0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.35, 0.4, 0.8])
    """
    func = "det_curve"
    drop = check_bool(func, "drop_intermediate", drop_intermediate)
    counts, classes = _curve_counts(func, y_true, y_score, pos_label, sample_weight)
    fps, tps, thresholds = counts
    del counts
    # Each rebinding frees the array it replaces: one extra array at a time.
    tps = _prepend(tps, None, 0.0)
    fps = _prepend(fps, None, 0.0)
    thresholds = _prepend(thresholds, None, np.inf)
    if drop and fps.shape[0] > 2:
        idx = _keep_tp_changes(tps)
        fps = fps[idx]
        tps = tps[idx]
        thresholds = thresholds[idx]
        del idx
    if classes.shape[0] != 2:
        raise ValueError(
            "Only one class is present in y_true. Detection error tradeoff curve is not "
            "defined in that case. Pass samples of both classes."
        )
    p_count = tps[-1]
    n_count = fps[-1]
    first = int(np.searchsorted(fps, fps[0], side="right"))
    first_ind = first - 1 if first > 0 else None
    last_ind = int(np.searchsorted(tps, tps[-1])) + 1
    sl = slice(first_ind, last_ind)
    fpr = fps[sl][::-1] / n_count
    del fps
    fnr = np.subtract(p_count, tps[sl][::-1])  # false negatives
    del tps
    fnr /= p_count
    return fpr, fnr, thresholds[sl][::-1].copy()


def auc(x: Any, y: Any) -> float:
    """Area under a curve by the trapezoidal rule, as :func:`sklearn.metrics.auc`.

    Parameters
    ----------
    x : array-like of shape (n,)
        X coordinates, monotonic increasing or decreasing.
    y : array-like of shape (n,)
        Y coordinates.

    Returns
    -------
    float

    Examples
    --------
    >>> from polyclass.metrics import auc
    >>> auc([0.0, 0.5, 1.0], [0.0, 0.75, 1.0])
    0.625
    """
    func = "auc"
    xa = column_or_1d(func, "x", x)
    ya = column_or_1d(func, "y", y)
    if xa.shape[0] != ya.shape[0]:
        check_consistent_length(func, x=xa, y=ya)
    if xa.shape[0] < 2:
        raise ValueError(
            "At least 2 points are needed to compute area under curve, but x.shape = "
            f"{xa.shape[0]}. Pass two or more points."
        )
    dx = np.diff(xa)
    direction = 1
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1
        else:
            raise ValueError(
                f"x is neither increasing nor decreasing : {xa}. Sort the points by x."
            )
    area = (dx * (ya[1:] + ya[:-1]) / 2.0).sum()
    return float(direction * area)
