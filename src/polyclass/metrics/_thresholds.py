"""Choosing the operating point of a binary scorer: the threshold that best meets a goal.

Every candidate is exact: the scores are sorted once and the cumulative weighted counts
of positives and negatives are read at each distinct score (the stages shared with
``roc_curve``, in ``_ranking``), so the criterion is evaluated at every threshold where
the confusion matrix changes, and nowhere else. Thresholds follow scikit-learn: a
sample is predicted positive when ``score >= threshold``. The candidate ``+inf``
(predict nothing positive) is included for the criteria where it is meaningful
('youden' and 'cost').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._intervals import binary_target
from ._ranking import curve_counts, sort_scores
from ._validation import (
    check_choice,
    check_consistent_length,
    check_finite_scores,
    check_real,
    check_sample_weight,
    column_or_1d,
)

_CRITERIA = ("youden", "f_beta", "cost", "precision_at_recall", "recall_at_precision")


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold and the operating point it gives on the data.

    Attributes
    ----------
    threshold : float
        Predict positive when ``score >= threshold`` (``inf``: predict nothing positive).
    criterion : str
        The criterion that chose it.
    value : float
        The criterion's value there: Youden's J, the F-beta score, the expected cost
        per sample, the precision (``'precision_at_recall'``) or the recall
        (``'recall_at_precision'``).
    precision, recall : float
        Precision (NaN when nothing is predicted positive) and recall at the threshold.
    fpr, tpr : float
        False- and true-positive rates (``tpr == recall``; ``fpr`` is NaN without
        negatives).
    expected_cost : float or None
        Average cost per sample, ``(cost_fp * FP + cost_fn * FN) / total weight``, for
        ``criterion='cost'``; None otherwise.
    """

    threshold: float
    criterion: str
    value: float
    precision: float
    recall: float
    fpr: float
    tpr: float
    expected_cost: float | None = None


def _near(values: NDArray[np.float64], best: float) -> NDArray[np.bool_]:
    """Values equal to ``best`` up to rounding (1e-12 relative): the ties."""
    return np.asarray(values >= best - 1e-12 * max(1.0, abs(best)))


def _first_best(values: NDArray[np.float64]) -> int:
    """Index of the first (highest-threshold) maximum, ties up to rounding included."""
    return int(np.flatnonzero(_near(values, float(np.nanmax(values))))[0])


def _need(func: str, criterion: str, name: str, value: Any) -> float:
    if value is None:
        raise ValueError(f"{func}: criterion={criterion!r} needs {name}; pass e.g. {name}=0.9.")
    return check_real(func, name, value, low=0, high=1)


def select_threshold(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    criterion: str = "youden",
    beta: float = 1.0,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
    min_recall: float | None = None,
    min_precision: float | None = None,
    pos_label: Any = None,
    sample_weight: ArrayLike | None = None,
) -> ThresholdChoice:
    """Choose the decision threshold on binary scores that best meets a criterion.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary true labels.
    y_score : array-like of shape (n_samples,)
        Scores of the positive class (probabilities or decision values); ties allowed.
    criterion : {'youden', 'f_beta', 'cost', 'precision_at_recall', \
'recall_at_precision'}, default='youden'
        - ``'youden'``: maximise Youden's J = TPR - FPR.
        - ``'f_beta'``: maximise F-beta (``beta > 1`` favours recall).
        - ``'cost'``: minimise ``cost_fp * FP + cost_fn * FN``.
        - ``'precision_at_recall'``: maximise precision subject to
          ``recall >= min_recall``.
        - ``'recall_at_precision'``: maximise recall subject to
          ``precision >= min_precision``.
    beta : float, default=1.0
        Weight of recall in F-beta (``criterion='f_beta'``); positive.
    cost_fp, cost_fn : float, default=1.0
        Cost of one false positive and of one false negative (``criterion='cost'``);
        non-negative, not both zero.
    min_recall, min_precision : float in [0, 1], default=None
        The constraint of ``'precision_at_recall'`` and ``'recall_at_precision'``.
    pos_label : label, default=None
        The positive class. Default: 1 (or True) when ``y_true`` takes values in
        {0, 1} or {-1, 1}, as ``roc_curve``; other labels need it.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    ThresholdChoice
        ``threshold``, ``criterion``, ``value``, ``precision``, ``recall``, ``fpr``,
        ``tpr`` and ``expected_cost`` (for ``'cost'``).

    Notes
    -----
    The search is exact over every distinct score. Ties in the criterion (equal up to
    a relative 1e-12, so that rounding does not decide) go to the
    higher threshold (fewer positive predictions), except for
    ``'precision_at_recall'``, where equal precision goes to the higher recall, and
    ``'recall_at_precision'``, where equal recall goes to the higher precision.
    A constraint that no threshold meets raises a ``ValueError`` stating the best
    value achievable.

    Examples
    --------
    >>> from polyclass.metrics import select_threshold
    >>> y = [0, 0, 1, 1, 0, 1]
    >>> s = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]
    >>> select_threshold(y, s).threshold  # J = 2/3 at 0.8 and at 0.35: the higher wins
    0.8
    >>> select_threshold(y, s, criterion="cost", cost_fp=1, cost_fn=10).threshold
    0.35
    >>> select_threshold(y, s, criterion="recall_at_precision", min_precision=1.0).recall
    0.6666666666666666
    """
    func = "select_threshold"
    check_choice(func, "criterion", criterion, _CRITERIA)
    yt = column_or_1d(func, "y_true", y_true)
    ys = column_or_1d(func, "y_score", y_score)
    n = check_consistent_length(func, y_true=yt, y_score=ys)
    score = check_finite_scores(func, "y_score", ys).astype(np.float64, copy=False)
    w = check_sample_weight(func, sample_weight, n)
    pos = binary_target(func, yt, pos_label, default="standard")

    ss = sort_scores(pos, score, w)
    if len(ss.order) == 0:
        raise ValueError(f"{func}: every sample weight is zero; pass positive weights.")
    tps, fps = curve_counts(ss.pos_w, ss.neg_w, ss.threshold_idx)
    thresholds = ss.thresholds
    n_pos, n_neg = float(tps[-1]), float(fps[-1])
    if n_pos <= 0:
        raise ValueError(
            f"{func}: y_true has no positive samples (or they all have zero weight), so "
            "recall is undefined. Check pos_label or pass data with both classes."
        )
    if criterion in ("youden", "cost"):
        # Candidate +inf: predict nothing positive.
        tps = np.concatenate(([0.0], tps))
        fps = np.concatenate(([0.0], fps))
        thresholds = np.concatenate(([np.inf], thresholds))
    predicted = tps + fps
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tps / predicted, np.nan)
        recall = tps / n_pos
        fpr = fps / n_neg if n_neg > 0 else np.full_like(fps, np.nan)

    cost: NDArray[np.float64] | None = None
    if criterion == "youden":
        if n_neg <= 0:
            raise ValueError(
                f"{func}: y_true has no negative samples, so the false-positive rate and "
                "Youden's J are undefined. Pass data with both classes."
            )
        values = (tps * n_neg - fps * n_pos) / (n_pos * n_neg)  # TPR - FPR, one rounding
        idx = _first_best(values)
    elif criterion == "f_beta":
        b = check_real(func, "beta", beta, low=0, closed="neither")
        if not np.isfinite(b):
            raise ValueError(f"{func}: beta must be finite, got {beta}.")
        b2 = b * b
        values = (1 + b2) * tps / ((1 + b2) * tps + b2 * (n_pos - tps) + fps)
        idx = _first_best(values)
    elif criterion == "cost":
        c_fp = check_real(func, "cost_fp", cost_fp, low=0)
        c_fn = check_real(func, "cost_fn", cost_fn, low=0)
        if not (np.isfinite(c_fp) and np.isfinite(c_fn)) or c_fp + c_fn == 0:
            raise ValueError(
                f"{func}: cost_fp and cost_fn must be finite and not both zero; got "
                f"cost_fp={cost_fp}, cost_fn={cost_fn}."
            )
        cost = (c_fp * fps + c_fn * (n_pos - tps)) / (n_pos + n_neg)
        values = cost
        idx = _first_best(-values)
    elif criterion == "precision_at_recall":
        r_min = _need(func, criterion, "min_recall", min_recall)
        feasible = recall >= r_min
        # recall reaches 1 at the lowest threshold, so some threshold is always feasible.
        best = np.max(np.where(feasible, precision, -np.inf))
        idx = int(np.flatnonzero(feasible & _near(precision, best))[-1])
        values = precision
    else:
        p_min = _need(func, criterion, "min_precision", min_precision)
        feasible = precision >= p_min
        if not feasible.any():
            j = int(np.nanargmax(precision))
            raise ValueError(
                f"{func}: no threshold reaches precision >= {p_min:g}; the best precision "
                f"achievable is {precision[j]:.6g} (recall {recall[j]:.6g} at threshold "
                f"{thresholds[j]:.6g}). Lower min_precision."
            )
        best = np.max(np.where(feasible, recall, -np.inf))
        idx = int(np.flatnonzero(feasible & _near(recall, best))[0])
        values = recall

    return ThresholdChoice(
        threshold=float(thresholds[idx]),
        criterion=criterion,
        value=float(values[idx]),
        precision=float(precision[idx]),
        recall=float(recall[idx]),
        fpr=float(fpr[idx]),
        tpr=float(recall[idx]),
        expected_cost=None if cost is None else float(cost[idx]),
    )
