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
) -> tuple[F64, F64, F64, NDArray[Any]]:
    yt, ys, w = binary_inputs(func, y_true, y_score, sample_weight)
    classes = classes_of(yt)
    pos_label = pos_label_for_curve(func, classes, pos_label)
    tps, fps, thresholds = binary_counts(positives(yt, pos_label), ys, w)
    return tps, fps, thresholds, classes


def _keep_corners(first: F64, second: F64) -> NDArray[np.intp]:
    keep = np.empty(first.shape[0], dtype=bool)
    keep[0] = keep[-1] = True
    np.logical_or(np.diff(first, 2) != 0, np.diff(second, 2) != 0, out=keep[1:-1])
    return np.flatnonzero(keep)


def roc_from_counts(
    fps: F64, tps: F64, thresholds: F64, drop_intermediate: bool = True
) -> tuple[F64, F64, F64]:
    """``(fpr, tpr, thresholds)`` from counts at decreasing thresholds, as ``roc_curve``."""
    if drop_intermediate and fps.shape[0] > 2:
        idx = _keep_corners(fps, tps)
        fps, tps, thresholds = fps[idx], tps[idx], thresholds[idx]
    n = fps.shape[0]
    thr = np.empty(n + 1)
    thr[0] = np.inf
    thr[1:] = thresholds
    fpr = np.empty(n + 1)
    tpr = np.empty(n + 1)
    if fps[-1] <= 0:
        warnings.warn(
            "No negative samples in y_true, false positive value should be meaningless",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        fpr.fill(np.nan)
    else:
        fpr[0] = 0.0
        np.divide(fps, fps[-1], out=fpr[1:])
    if tps[-1] <= 0:
        warnings.warn(
            "No positive samples in y_true, true positive value should be meaningless",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        tpr.fill(np.nan)
    else:
        tpr[0] = 0.0
        np.divide(tps, tps[-1], out=tpr[1:])
    return fpr, tpr, thr


def pr_from_counts(
    fps: F64, tps: F64, thresholds: F64, drop_intermediate: bool = False
) -> tuple[F64, F64, F64]:
    """``(precision, recall, thresholds)`` from counts, as ``precision_recall_curve``."""
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.empty(fps.shape[0], dtype=bool)
        keep[0] = keep[-1] = True
        np.logical_or(np.diff(tps[:-1]) != 0, np.diff(tps[1:]) != 0, out=keep[1:-1])
        idx = np.flatnonzero(keep)
        fps, tps, thresholds = fps[idx], tps[idx], thresholds[idx]
    n = fps.shape[0]
    predicted = tps + fps
    precision = np.empty(n + 1)
    precision[-1] = 1.0
    np.divide(tps[::-1], predicted[::-1], out=precision[:-1], where=predicted[::-1] != 0)
    precision[:-1][predicted[::-1] == 0] = 0.0
    recall = np.empty(n + 1)
    recall[-1] = 0.0
    if tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            UserWarning,
            stacklevel=3,
        )
        recall[:-1] = 1.0
    else:
        np.divide(tps[::-1], tps[-1], out=recall[:-1])
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
    tps, fps, thresholds, _ = _curve_counts(func, y_true, y_score, pos_label, sample_weight)
    return roc_from_counts(fps, tps, thresholds, drop)


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
    tps, fps, thresholds, _ = _curve_counts(func, y_true, y_score, pos_label, sample_weight)
    return pr_from_counts(fps, tps, thresholds, drop)


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
    tps, fps, thresholds, classes = _curve_counts(
        func, y_true, y_score, pos_label, sample_weight
    )
    tps = np.concatenate(([0.0], tps))
    fps = np.concatenate(([0.0], fps))
    thresholds = np.concatenate(([np.inf], thresholds))
    if drop and fps.shape[0] > 2:
        keep = np.empty(fps.shape[0], dtype=bool)
        keep[0] = keep[-1] = True
        np.logical_or(np.diff(tps[:-1]) != 0, np.diff(tps[1:]) != 0, out=keep[1:-1])
        idx = np.flatnonzero(keep)
        fps, tps, thresholds = fps[idx], tps[idx], thresholds[idx]
    if classes.shape[0] != 2:
        raise ValueError(
            "Only one class is present in y_true. Detection error tradeoff curve is not "
            "defined in that case. Pass samples of both classes."
        )
    fns = tps[-1] - tps
    p_count = tps[-1]
    n_count = fps[-1]
    first = int(np.searchsorted(fps, fps[0], side="right"))
    first_ind = first - 1 if first > 0 else None
    last_ind = int(np.searchsorted(tps, tps[-1])) + 1
    sl = slice(first_ind, last_ind)
    return fps[sl][::-1] / n_count, fns[sl][::-1] / p_count, thresholds[sl][::-1].copy()


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
