"""Intervals for a metric whose bootstrap distribution has collapsed to one value.

A percentile bootstrap cannot put any mass where the data put none: a perfect
classifier gives 1.0 on every resample, so its percentile interval is ``[1, 1]``
although the population value may well be below 1. These rules replace such an
interval by one built from the proportions the metric is made of, each given a Wilson
score interval (:func:`wilson_interval`, which stays informative at 0 and 1):

- accuracy: the share of correct rows;
- recall and precision of a class: its share of true (predicted) rows found;
- F1 of a class: ``2PR/(P+R)`` grows with both, so its bounds are F1 of the bounds
  of precision and recall (when only one is defined, F1 is at most ``2H/(1+H)``);
- the averages (balanced accuracy, macro, weighted, binary) average those bounds,
  which is conservative: a mean's bound is never wider than the mean of the bounds;
- ROC AUC is ``P(score of a positive > score of a negative)``; ``m = min(positives,
  negatives)`` disjoint pairs are independent draws of that event, so the data are
  at least as informative as ``m`` successes in ``m`` trials: Wilson on ``m``.
  Average precision is 1 exactly when ROC AUC is, and gets the same rule.

Weighted rows count as Kish's effective sample size ``(sum w)^2 / sum w^2``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._intervals import wilson_interval

F64 = NDArray[np.float64]
Bounds = tuple[float, float]
# A rule maps (confusion matrix in effective counts, level) to bounds, or None.
ConfusionRule = Callable[[F64, float], Bounds | None]


def _wilson(hits: F64, trials: F64, level: float) -> tuple[F64, F64]:
    hits = np.minimum(np.maximum(hits, 0.0), trials)
    low, high = wilson_interval(hits, trials, level)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def _zero_division_value(kwargs: dict[str, Any]) -> float | None:
    zd = kwargs.get("zero_division", "warn")
    if isinstance(zd, str):
        return 0.0
    value = float(zd)
    return None if np.isnan(value) else value


def _class_bounds(kind: str, cm: F64, level: float, zd: float) -> tuple[F64, F64, F64]:
    """Per-class ``(low, high, support)`` of recall, precision or F1 of ``cm``."""
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    r_lo, r_hi = _wilson(tp, support, level)
    p_lo, p_hi = _wilson(tp, predicted, level)
    if kind == "recall":
        lo, hi = r_lo, r_hi
    elif kind == "precision":
        lo, hi = p_lo, p_hi
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            both_lo = np.where(p_lo + r_lo > 0, 2 * p_lo * r_lo / (p_lo + r_lo), 0.0)
            both_hi = np.where(p_hi + r_hi > 0, 2 * p_hi * r_hi / (p_hi + r_hi), 0.0)
            one_hi = np.where(np.isnan(p_hi), 2 * r_hi / (1 + r_hi), 2 * p_hi / (1 + p_hi))
        defined = ~np.isnan(p_lo) & ~np.isnan(r_lo)
        lo = np.where(defined, both_lo, 0.0)
        hi = np.where(defined, both_hi, one_hi)
        # With no true and no predicted row the value is the zero_division constant.
        lo = np.where(support + predicted > 0, lo, np.nan)
        hi = np.where(support + predicted > 0, hi, np.nan)
    lo = np.where(np.isnan(lo), zd, lo)
    hi = np.where(np.isnan(hi), zd, hi)
    return lo, hi, support


def _label_positions(classes: NDArray[Any], labels: Any) -> NDArray[np.intp] | None:
    if labels is None:
        return np.arange(len(classes), dtype=np.intp)
    pos = []
    for lab in np.asarray(labels).tolist():
        hit = np.flatnonzero(classes == lab)
        if len(hit) == 0:
            return None
        pos.append(int(hit[0]))
    return np.asarray(pos, dtype=np.intp)


def _prf_rule(kind: str, classes: NDArray[Any], kwargs: dict[str, Any]) -> ConfusionRule | None:
    if set(kwargs) - {"average", "labels", "pos_label", "zero_division"}:
        return None
    average = kwargs.get("average", "binary")
    zd = _zero_division_value(kwargs)
    labels = kwargs.get("labels")
    if average == "weighted" and labels is not None:
        # A label absent from the data has support 0: it weighs nothing.
        labels = [lab for lab in np.asarray(labels).tolist() if (classes == lab).any()]
    at = _label_positions(classes, labels)
    if zd is None or at is None or average not in ("binary", "macro", "weighted", "micro"):
        return None
    if average == "micro":
        # Single-label micro precision, recall and F1 over every class are accuracy.
        return _accuracy_rule if kwargs.get("labels") is None else None
    if average == "binary":
        hit = np.flatnonzero(classes == kwargs.get("pos_label", 1))
        if len(classes) > 2 or len(hit) == 0:
            return None
        at = hit[:1].astype(np.intp)

    def rule(cm: F64, level: float) -> Bounds | None:
        lo, hi, support = _class_bounds(kind, cm, level, zd)
        lo, hi, support = lo[at], hi[at], support[at]
        if average == "weighted":
            if support.sum() <= 0:
                return None
            return float(lo @ support / support.sum()), float(hi @ support / support.sum())
        return float(lo.mean()), float(hi.mean())

    return rule


def _accuracy_rule(cm: F64, level: float) -> Bounds | None:
    low, high = _wilson(np.asarray(np.trace(cm)), np.asarray(cm.sum()), level)
    return float(low), float(high)


def _balanced_rule(cm: F64, level: float) -> Bounds | None:
    lo, hi, support = _class_bounds("recall", cm, level, 0.0)
    present = support > 0
    if not present.any():
        return None
    return float(lo[present].mean()), float(hi[present].mean())


def confusion_rule(
    name: str, classes: NDArray[Any], kwargs: dict[str, Any]
) -> ConfusionRule | None:
    """The boundary rule of confusion metric ``name`` called with ``kwargs``, or None."""
    if name == "accuracy_score":
        plain = set(kwargs) <= {"normalize"} and kwargs.get("normalize", True)
        return _accuracy_rule if plain else None
    if name == "balanced_accuracy_score":
        plain = set(kwargs) <= {"adjusted"} and not kwargs.get("adjusted", False)
        return _balanced_rule if plain else None
    kinds = {"recall_score": "recall", "precision_score": "precision", "f1_score": "f1"}
    if name in kinds:
        return _prf_rule(kinds[name], classes, kwargs)
    return None


def ranking_bounds(value: float, n_pos: float, n_neg: float, level: float) -> Bounds | None:
    """Wilson bounds of a ranking metric at 0 or 1 from ``min(n_pos, n_neg)`` pairs."""
    m = float(min(n_pos, n_neg))
    # Inside (0, 1) a constant ranking (all scores tied, say) is no boundary case.
    if m <= 0 or value not in (0.0, 1.0):
        return None
    low, high = _wilson(np.asarray(value * m), np.asarray(m), level)
    return float(low), float(high)


def effective_scale(weights: F64, multiplicity: F64) -> float:
    """Factor from total weight to Kish's effective number of rows."""
    total = float(weights @ multiplicity)
    squares = float((weights * weights) @ multiplicity)
    return 1.0 if squares == 0 else total / squares


def boundary_interval(
    metric: str,
    confusion_matrix: Any,
    confidence_level: float = 0.95,
    **kwargs: Any,
) -> Bounds | None:
    """Boundary-aware bounds of a confusion metric, from its confusion matrix.

    The rule :func:`bootstrap_ci` uses when every resample gives one value (see this
    module's docstring), for callers that resample a confusion matrix themselves.

    Parameters
    ----------
    metric : str
        ``'accuracy_score'``, ``'balanced_accuracy_score'``, ``'precision_score'``,
        ``'recall_score'`` or ``'f1_score'``.
    confusion_matrix : array-like of shape (n_classes, n_classes)
        Counts, true classes in rows; every class of it enters the averages.
    confidence_level : float, default=0.95
    **kwargs
        The metric's options, e.g. ``average='macro'``.

    Returns
    -------
    tuple of float or None
        ``(low, high)``, or None when the metric or its options have no rule.

    Examples
    --------
    >>> boundary_interval("f1_score", [[1]], average="macro")[1]
    1.0
    """
    cm = np.asarray(confusion_matrix, dtype=np.float64)
    rule = confusion_rule(metric, np.arange(cm.shape[0]), kwargs)
    return None if rule is None else rule(cm, float(confidence_level))
