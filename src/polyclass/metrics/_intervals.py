"""Closed-form confidence intervals: Wilson for proportions, DeLong for ROC AUC.

Wilson's score interval (Wilson 1927) is the interval ``statsmodels`` returns for
``proportion_confint(method='wilson')``; unlike the normal ("Wald") interval it stays
inside [0, 1] and keeps close to its nominal coverage for small counts and for
proportions near 0 or 1, which is where precision and recall of rare classes live.

DeLong's variance of the ROC AUC (DeLong, DeLong & Clarke-Pearson 1988) comes from
the *placement values*: for a positive, the share of negatives it outscores (ties
count one half); for a negative, the share of positives that outscore it. The AUC is
the mean placement and its variance is ``var(V10)/m + var(V01)/n``. Placements are
computed in ``O(n log n)`` from one sort with ties grouped, the midrank algorithm of
Sun & Xu (2014), instead of the ``O(m n)`` pairwise comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from ._encode import check_label_types, encode, unique_labels
from ._validation import (
    check_consistent_length,
    check_finite_scores,
    check_real,
    check_sample_weight,
    column_or_1d,
)


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a two-sided confidence interval.

    Attributes
    ----------
    estimate : float
        The metric on the whole data.
    low, high : float
        Lower and upper ends of the interval.
    level : float
        The confidence level, e.g. 0.95.
    method : str
        How the interval was made: ``'percentile'``, ``'bca'`` or ``'delong'``.
    n_resamples : int or None
        Bootstrap resamples used (None for closed-form intervals).
    standard_error : float
        Standard deviation of the bootstrap distribution, or DeLong's standard error.
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str
    n_resamples: int | None
    standard_error: float


class DelongTest(NamedTuple):
    """Result of :func:`delong_test`: unpacks as ``z, p_value, auc_a, auc_b, var_diff``."""

    z: float
    p_value: float
    auc_a: float
    auc_b: float
    var_diff: float


@dataclass(frozen=True)
class PrecisionRecallIntervals:
    """Per-class precision and recall with Wilson confidence intervals.

    Each array attribute has one entry per label, in the order of ``labels``. An
    interval is NaN where its denominator is zero (a class never predicted has no
    precision; a class absent from ``y_true`` has no recall).
    """

    labels: NDArray[Any]
    precision: NDArray[np.float64]
    precision_low: NDArray[np.float64]
    precision_high: NDArray[np.float64]
    recall: NDArray[np.float64]
    recall_low: NDArray[np.float64]
    recall_high: NDArray[np.float64]
    support: NDArray[np.int64]
    level: float


def _z_two_sided(func: str, confidence_level: Any) -> float:
    level = check_real(func, "confidence_level", confidence_level, low=0, high=1, closed="neither")
    return float(ndtri(1.0 - (1.0 - level) / 2.0))


# ---------------------------------------------------------------------------- Wilson


@overload
def wilson_interval(
    successes: float, trials: float, confidence_level: float = 0.95
) -> tuple[float, float]: ...


@overload
def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence_level: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence_level: float = 0.95
) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion ``successes / trials``.

    Parameters
    ----------
    successes : float or array-like
        Number of successes (non-negative; weighted counts are accepted).
    trials : float or array-like
        Number of trials, at least ``successes``. Broadcasts against ``successes``.
        Where ``trials`` is 0 the interval is ``(nan, nan)``: there is no information.
    confidence_level : float, default=0.95
        Two-sided confidence level in (0, 1).

    Returns
    -------
    low, high : float or ndarray
        Floats for scalar input, arrays of the broadcast shape otherwise.

    Notes
    -----
    With ``p = successes / trials``, ``n = trials`` and ``z`` the normal quantile,
    the interval is ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``, the same
    formula as ``statsmodels.stats.proportion.proportion_confint(method='wilson')``.

    Examples
    --------
    >>> from polyclass.metrics import wilson_interval
    >>> low, high = wilson_interval(5, 10)
    >>> round(low, 4), round(high, 4)
    (0.2366, 0.7634)
    """
    func = "wilson_interval"
    z = _z_two_sided(func, confidence_level)
    k = np.asarray(successes)
    n = np.asarray(trials)
    for name, arr in (("successes", k), ("trials", n)):
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{func}: {name} must be numeric counts, got dtype {arr.dtype}.")
        if not np.isfinite(arr).all():
            raise ValueError(f"{func}: {name} contains NaN or inf; pass finite counts.")
        if (arr < 0).any():
            raise ValueError(f"{func}: {name} must be non-negative, got {arr.min()}.")
    try:
        k_b, n_b = np.broadcast_arrays(k.astype(np.float64), n.astype(np.float64))
    except ValueError:
        raise ValueError(
            f"{func}: successes of shape {k.shape} and trials of shape {n.shape} do not "
            "broadcast; pass arrays of the same shape."
        ) from None
    if (k_b > n_b).any():
        i = np.argwhere(k_b > n_b)[0]
        raise ValueError(
            f"{func}: successes exceed trials ({k_b[tuple(i)]} > {n_b[tuple(i)]}); "
            "successes must be at most trials."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_b / n_b
        z2 = z * z
        denom = 1.0 + z2 / n_b
        center = (p + z2 / (2.0 * n_b)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_b + z2 / (4.0 * n_b * n_b)) / denom
    # The bounds are exactly 0 at p = 0 and 1 at p = 1; keep rounding from moving them.
    low = np.where(k_b == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(k_b == n_b, 1.0, np.clip(center + half, 0.0, 1.0))
    low = np.where(n_b > 0, low, np.nan)
    high = np.where(n_b > 0, high, np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def precision_recall_intervals(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    confidence_level: float = 0.95,
) -> PrecisionRecallIntervals:
    """Per-class precision and recall with Wilson confidence intervals.

    Precision of class ``c`` is a proportion over the samples predicted ``c``;
    recall is a proportion over the samples whose true class is ``c``. Each gets a
    Wilson score interval (:func:`wilson_interval`), which behaves well for the small
    counts of rare classes.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels (ints, strings or bools).
    labels : array-like, default=None
        The classes to report, in this order. Default: the sorted union of the labels
        in ``y_true`` and ``y_pred``.
    confidence_level : float, default=0.95
        Two-sided confidence level in (0, 1).

    Returns
    -------
    PrecisionRecallIntervals
        ``labels``, ``precision``, ``precision_low``, ``precision_high``, ``recall``,
        ``recall_low``, ``recall_high``, ``support`` (true count per class), ``level``.

    Examples
    --------
    >>> from polyclass.metrics import precision_recall_intervals
    >>> r = precision_recall_intervals([0, 0, 1, 1, 1], [0, 1, 1, 1, 1])
    >>> r.precision.tolist(), r.recall.tolist()
    ([1.0, 0.75], [0.5, 1.0])
    >>> round(float(r.recall_low[1]), 4)
    0.4385
    """
    func = "precision_recall_intervals"
    _z_two_sided(func, confidence_level)
    yt = column_or_1d(func, "y_true", y_true)
    yp = column_or_1d(func, "y_pred", y_pred)
    check_consistent_length(func, y_true=yt, y_pred=yp)
    check_label_types(func, yt, yp)
    if labels is None:
        classes = unique_labels(yt, yp)
        t_codes = encode(func, "y_true", yt, classes)
        p_codes = encode(func, "y_pred", yp, classes)
        inverse = np.arange(len(classes))
    else:
        classes = column_or_1d(func, "labels", labels)
        if len(classes) == 0:
            raise ValueError(f"{func}: labels is empty; pass at least one label or None.")
        check_label_types(func, yt, classes)
        order = np.argsort(classes, kind="stable")
        sorted_classes = classes[order]
        if np.any(sorted_classes[1:] == sorted_classes[:-1]):
            raise ValueError(f"{func}: labels contains duplicates; list each class once.")
        inverse = np.argsort(order, kind="stable")
        # Samples whose label is not listed are left out of that class's counts, as in
        # scikit-learn's precision_recall_fscore_support(labels=...).
        t_codes = _codes_or_minus_one(yt, sorted_classes)
        p_codes = _codes_or_minus_one(yp, sorted_classes)
    k = len(classes)
    hit = (t_codes == p_codes) & (t_codes >= 0)
    tp = np.bincount(t_codes[hit], minlength=k)[inverse].astype(np.int64)
    support = np.bincount(t_codes[t_codes >= 0], minlength=k)[inverse].astype(np.int64)
    predicted = np.bincount(p_codes[p_codes >= 0], minlength=k)[inverse].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), np.nan)
        recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
    p_low, p_high = wilson_interval(tp, predicted, confidence_level)
    r_low, r_high = wilson_interval(tp, support, confidence_level)
    return PrecisionRecallIntervals(
        labels=classes,
        precision=precision,
        precision_low=p_low,
        precision_high=p_high,
        recall=recall,
        recall_low=r_low,
        recall_high=r_high,
        support=support,
        level=float(confidence_level),
    )


def _codes_or_minus_one(y: NDArray[Any], sorted_classes: NDArray[Any]) -> NDArray[np.intp]:
    """Index of each label in ``sorted_classes``, or -1 when it is not there."""
    idx = np.searchsorted(sorted_classes, y)
    idx = np.minimum(idx, len(sorted_classes) - 1)
    found = sorted_classes[idx] == y
    return np.where(found, idx, -1).astype(np.intp)


# ---------------------------------------------------------------------------- DeLong


def binary_target(
    func: str, y_true: NDArray[Any], pos_label: Any, *, default: str
) -> NDArray[np.bool_]:
    """Return ``y_true == positive class`` as booleans.

    ``default`` says which class is positive when ``pos_label`` is None: ``'greater'``
    (as ``roc_auc_score``: the greater of the two labels) or ``'standard'`` (as
    ``roc_curve``: labels must be {0, 1}, {-1, 1} or bools and 1/True is positive).
    """
    classes = unique_labels(y_true)
    if len(classes) > 2:
        shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes[:10])
        raise ValueError(
            f"{func}: y_true has {len(classes)} classes [{shown}] but a binary target is "
            "needed. Binarize it first, e.g. y_true == your_positive_class."
        )
    if pos_label is not None:
        matches = classes == pos_label
        if not np.any(matches):
            shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes)
            raise ValueError(
                f"{func}: pos_label={pos_label!r} is not a label of y_true (labels: [{shown}]). "
                "Pass one of those labels as pos_label."
            )
        positive = classes[np.flatnonzero(matches)[0]]
    elif default == "greater":
        positive = classes[-1]
    else:
        standard = classes.dtype.kind in "biuf" and set(classes.tolist()) <= {0, 1, -1}
        if not standard or (len(classes) == 2 and set(classes.tolist()) == {-1, 0}):
            shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes)
            raise ValueError(
                f"{func}: y_true takes values in [{shown}] and pos_label is not specified: "
                "either make y_true take value in {0, 1} or {-1, 1} or pass pos_label "
                "explicitly."
            )
        positive = classes.dtype.type(1)
    return np.asarray(y_true == positive, dtype=bool)


def _check_binary_scores(
    func: str,
    y_true: ArrayLike,
    scores: dict[str, ArrayLike],
    sample_weight: ArrayLike | None,
    pos_label: Any,
) -> tuple[NDArray[np.bool_], list[NDArray[np.float64]], NDArray[np.float64] | None]:
    yt = column_or_1d(func, "y_true", y_true)
    arrays = {name: column_or_1d(func, name, s) for name, s in scores.items()}
    n = check_consistent_length(func, y_true=yt, **arrays)
    checked = [
        check_finite_scores(func, name, a).astype(np.float64, copy=False)
        for name, a in arrays.items()
    ]
    w = check_sample_weight(func, sample_weight, n)
    pos = binary_target(func, yt, pos_label, default="greater")
    return pos, checked, w


def _placements(
    pos: NDArray[np.bool_], score: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """DeLong placement of every sample, from one sort (Sun & Xu's midranks).

    Returns ``(v10, v01)`` of length n: ``v10[i]`` is, for a positive ``i``, the
    weighted share of negatives scored below it (ties count one half); ``v01[j]`` is,
    for a negative ``j``, the share of positives scored above it. Entries of the other
    class are 0. The AUC is the weighted mean of ``v10`` over positives.
    """
    order = np.argsort(score, kind="stable")
    s = score[order]
    new_group = np.empty(len(s), dtype=bool)
    new_group[0] = True
    np.not_equal(s[1:], s[:-1], out=new_group[1:])
    group = np.cumsum(new_group) - 1
    n_groups = int(group[-1]) + 1
    w_sorted = w[order]
    pos_sorted = pos[order]
    pos_g = np.bincount(group, weights=np.where(pos_sorted, w_sorted, 0.0), minlength=n_groups)
    neg_g = np.bincount(group, weights=np.where(pos_sorted, 0.0, w_sorted), minlength=n_groups)
    w_pos, w_neg = pos_g.sum(), neg_g.sum()
    neg_below = np.cumsum(neg_g) - neg_g
    pos_above = w_pos - np.cumsum(pos_g)
    v10_g = (neg_below + 0.5 * neg_g) / w_neg
    v01_g = (pos_above + 0.5 * pos_g) / w_pos
    g = np.empty(len(s), dtype=np.intp)
    g[order] = group
    v10 = np.where(pos, v10_g[g], 0.0)
    v01 = np.where(pos, 0.0, v01_g[g])
    return v10, v01


def _class_weights(
    func: str, pos: NDArray[np.bool_], w: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], float, float]:
    weights = np.ones(len(pos)) if w is None else w
    w_pos = float(weights[pos].sum())
    w_neg = float(weights[~pos].sum())
    if w_pos <= 1.0 or w_neg <= 1.0:
        raise ValueError(
            f"{func}: DeLong's variance needs at least two positive and two negative samples "
            f"(total weight > 1 in each class); got positive weight {w_pos:g} and negative "
            f"weight {w_neg:g}. Collect more samples of the rarer class."
        )
    return weights, w_pos, w_neg


def _delong_components(
    pos: NDArray[np.bool_],
    scores: list[NDArray[np.float64]],
    weights: NDArray[np.float64],
    w_pos: float,
    w_neg: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUCs (k,) and DeLong covariance (k, k) for k score vectors on the same samples."""
    v10 = np.empty((len(scores), int(pos.sum())))
    v01 = np.empty((len(scores), int((~pos).sum())))
    for i, s in enumerate(scores):
        a, b = _placements(pos, s, weights)
        v10[i], v01[i] = a[pos], b[~pos]
    wp, wn = weights[pos], weights[~pos]
    auc = v10 @ wp / w_pos
    d10 = v10 - auc[:, None]
    d01 = v01 - (v01 @ wn / w_neg)[:, None]
    s10 = (d10 * wp) @ d10.T / (w_pos - 1.0)
    s01 = (d01 * wn) @ d01.T / (w_neg - 1.0)
    return auc, s10 / w_pos + s01 / w_neg


def roc_auc_ci(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    confidence_level: float = 0.95,
    sample_weight: ArrayLike | None = None,
    pos_label: Any = None,
) -> ConfidenceInterval:
    """ROC AUC with DeLong's standard error and a normal confidence interval.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary true labels.
    y_score : array-like of shape (n_samples,)
        Scores for the positive class (higher means more likely positive); ties allowed.
    confidence_level : float, default=0.95
        Two-sided confidence level in (0, 1).
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights: a weight of 3 counts as three identical samples, so the
        variance uses the total weight of each class as its sample size.
    pos_label : label, default=None
        The positive class. Default: the greater label, as ``roc_auc_score`` does.

    Returns
    -------
    ConfidenceInterval
        ``estimate`` equals ``roc_auc_score``; ``low, high = auc ∓ z·se`` clipped to
        [0, 1]; ``method='delong'``.

    Notes
    -----
    The variance is computed in ``O(n log n)`` (Sun & Xu 2014). At least two positive
    and two negative samples are needed.

    Examples
    --------
    >>> from polyclass.metrics import roc_auc_ci
    >>> ci = roc_auc_ci([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> round(ci.estimate, 4), round(ci.standard_error, 4)
    (0.8889, 0.1571)
    """
    func = "roc_auc_ci"
    z = _z_two_sided(func, confidence_level)
    pos, (score,), w = _check_binary_scores(
        func, y_true, {"y_score": y_score}, sample_weight, pos_label
    )
    weights, w_pos, w_neg = _class_weights(func, pos, w)
    auc, cov = _delong_components(pos, [score], weights, w_pos, w_neg)
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    est = float(auc[0])
    return ConfidenceInterval(
        estimate=est,
        low=max(0.0, est - z * se),
        high=min(1.0, est + z * se),
        level=float(confidence_level),
        method="delong",
        n_resamples=None,
        standard_error=se,
    )


def delong_test(
    y_true: ArrayLike,
    y_score_a: ArrayLike,
    y_score_b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    pos_label: Any = None,
) -> DelongTest:
    """DeLong's test that two correlated ROC AUCs (same samples) are equal.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary true labels.
    y_score_a, y_score_b : array-like of shape (n_samples,)
        Scores of two models on the same samples.
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights (see :func:`roc_auc_ci`).
    pos_label : label, default=None
        The positive class. Default: the greater label.

    Returns
    -------
    DelongTest
        Named tuple ``(z, p_value, auc_a, auc_b, var_diff)``: ``z = (auc_a - auc_b) /
        sqrt(var_diff)`` and the two-sided normal ``p_value``. When both models rank
        the samples identically, ``var_diff`` is 0, ``z`` is 0 and ``p_value`` is 1.

    Examples
    --------
    >>> from polyclass.metrics import delong_test
    >>> y = [0, 0, 0, 1, 1, 1, 0, 1]
    >>> a = [0.1, 0.3, 0.2, 0.8, 0.7, 0.9, 0.4, 0.6]
    >>> b = [0.5, 0.3, 0.6, 0.4, 0.7, 0.9, 0.2, 0.1]
    >>> res = delong_test(y, a, b)
    >>> round(res.auc_a, 4), round(res.auc_b, 4), round(res.p_value, 3)
    (1.0, 0.625, 0.134)
    """
    func = "delong_test"
    pos, (sa, sb), w = _check_binary_scores(
        func, y_true, {"y_score_a": y_score_a, "y_score_b": y_score_b}, sample_weight, pos_label
    )
    weights, w_pos, w_neg = _class_weights(func, pos, w)
    auc, cov = _delong_components(pos, [sa, sb], weights, w_pos, w_neg)
    var_diff = float(max(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1], 0.0))
    diff = float(auc[0] - auc[1])
    scale = max(abs(float(cov[0, 0])), abs(float(cov[1, 1])), 1e-300)
    if var_diff <= 1e-12 * scale:
        z = 0.0 if abs(diff) <= 1e-12 else float(np.sign(diff) * np.inf)
    else:
        z = diff / float(np.sqrt(var_diff))
    p_value = float(2.0 * ndtr(-abs(z)))
    return DelongTest(z, p_value, float(auc[0]), float(auc[1]), var_diff)
