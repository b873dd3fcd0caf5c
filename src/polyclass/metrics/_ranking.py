"""Sorted scores and cumulative counts: the sufficient statistics of every score metric.

A binary score metric is three stages after validation:

1. sort the scores (descending) and find the distinct thresholds -- :func:`sort_scores`;
2. cumulative weighted counts of positives (``tps``) and negatives (``fps``) at each
   distinct threshold -- :func:`curve_counts`;
3. the metric from the counts -- :func:`auc_from_counts`,
   :func:`average_precision_from_counts`.

Stages 2 and 3 accept any leading batch dimensions ``(..., n)``: a bootstrap that
resamples by multiplying the weights ``(B, n)`` is one vectorized call and gives, per
resample, what the public function gives on that resample.

Without sample weights the counts are integers, so they are computed by a faster route
(:func:`unweighted_counts`: sort positives and negatives separately, then merge the two
sorted runs) that gives the very same ``tps``/``fps`` arrays; every public function then
goes through the same stage 3. With weights, :func:`weighted_counts` gives exactly
``curve_counts`` on ``sort_scores`` with less memory. Both sort by
:func:`stable_argsort`, a two-pass radix sort on NumPy's vectorized integer sort, which
returns the permutation of a stable argsort several times faster.

Memory: the public functions keep their peak below three times the size of their
inputs. Stage 3 reduces the counts in column chunks of bounded size (no temporaries as
long as the counts), and the counting routes reuse their buffers in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SortedScores",
    "auc_from_counts",
    "auc_from_sorted",
    "average_precision_from_counts",
    "binary_counts",
    "curve_counts",
    "sort_scores",
    "stable_argsort",
    "unweighted_counts",
    "weighted_counts",
]

F64 = NDArray[np.float64]
# Elements (rows x columns) of the counts reduced at once by stage 3: the temporaries of
# a chunk stay in cache and their size does not grow with n.
_CHUNK_ELEMENTS = 1 << 16
# stable_argsort: below this many scores np.argsort is quicker than two radix passes.
_RADIX_MIN = 1 << 12
_SIGN = np.uint64(1 << 63)
_LOW = np.uint64(0xFFFFFFFF)
_HIGH = np.uint64(0xFFFFFFFF00000000)
_SHIFT = np.uint64(32)


@dataclass(frozen=True, eq=False)
class SortedScores:
    """Scores sorted in descending order with the weights of each class in that order.

    Attributes
    ----------
    order : ndarray of intp, shape (m,)
        Indices into the input arrays, descending score, ties in input order (a stable
        sort, as scikit-learn does). Samples of zero weight are left out, so ``m <= n``.
    scores : ndarray of float64, shape (m,)
        ``y_score[order]``.
    pos_w, neg_w : ndarray of float64, shape (m,)
        Weight of each sorted sample if it is positive (resp. negative), else 0.
    threshold_idx : ndarray of intp, shape (T,)
        Index of the last sample of each run of equal scores (scikit-learn's tie
        grouping); ``scores[threshold_idx]`` are the distinct thresholds, decreasing.
    """

    order: NDArray[np.intp]
    scores: F64
    pos_w: F64
    neg_w: F64
    threshold_idx: NDArray[np.intp]

    @property
    def thresholds(self) -> F64:
        """Distinct score values, decreasing."""
        return self.scores[self.threshold_idx]


def stable_argsort(x: F64, descending: bool = False) -> NDArray[np.intp]:
    """``np.argsort(x, kind="stable")`` (of ``-x`` when descending), several times faster.

    A least-significant-digit radix sort with two 32-bit digits, each pass one call of
    NumPy's vectorized integer sort: every float becomes a ``uint64`` key of the same
    order (``x + 0.0`` first, so that ``-0.0`` and ``0.0`` tie); a pass sorts
    ``digit << 32 | position``, so the position breaks ties and the pass is stable. The
    result is the very permutation of the stable argsort (ties in input order).
    """
    n = x.shape[0]
    if n < _RADIX_MIN or n >= 1 << 32:
        return np.argsort(-x if descending else x, kind="stable")
    bits = (x + 0.0).view(np.uint64)  # a new array, -0.0 made 0.0
    # Order-preserving key: a negative float flips every bit, a positive one its sign.
    flip = (bits.view(np.int64) >> 63).view(np.uint64)
    flip |= _SIGN
    bits ^= flip
    del flip
    if descending:
        np.invert(bits, out=bits)
    key = np.left_shift(bits, _SHIFT)  # low digit first
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    key &= _LOW
    first = key.view(np.int64)  # order by the low digit
    key = np.take(bits, first)
    del bits
    key &= _HIGH
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    key &= _LOW
    return np.take(first, key.view(np.int64)).astype(np.intp, copy=False)


def _threshold_idx(scores_desc: F64) -> NDArray[np.intp]:
    """Index of the last element of each run of equal values (one mask, one nonzero)."""
    n = scores_desc.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    last = np.empty(n, dtype=bool)
    np.not_equal(scores_desc[1:], scores_desc[:-1], out=last[:-1])
    last[-1] = True
    return np.flatnonzero(last)


def sort_scores(
    y_true_bool: NDArray[np.bool_],
    y_score: F64,
    sample_weight: F64 | None = None,
) -> SortedScores:
    """Sort validated binary inputs by decreasing score; drop zero-weight samples.

    Parameters
    ----------
    y_true_bool : ndarray of bool, shape (n,)
        True where the sample is positive.
    y_score : ndarray of float64, shape (n,)
        Finite scores.
    sample_weight : ndarray of float64, shape (n,), optional
        Non-negative weights; samples of weight 0 are dropped (they create no threshold).

    Returns
    -------
    SortedScores
    """
    y_true_bool = np.asarray(y_true_bool, dtype=bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        keep = sample_weight != 0
        if not keep.all():
            kept = np.flatnonzero(keep)
            sub = sort_scores(y_true_bool[kept], y_score[kept], sample_weight[kept])
            return SortedScores(
                kept[sub.order], sub.scores, sub.pos_w, sub.neg_w, sub.threshold_idx
            )
    order = stable_argsort(y_score, descending=True)
    scores = y_score[order]
    is_pos = y_true_bool[order]
    w = np.ones(order.shape[0]) if sample_weight is None else sample_weight[order]
    pos_w = np.where(is_pos, w, 0.0)
    np.copyto(w, 0.0, where=is_pos)  # w is ours: it becomes the negatives' weights
    return SortedScores(order, scores, pos_w, w, _threshold_idx(scores))


def curve_counts(
    pos_w: NDArray[Any], neg_w: NDArray[Any], threshold_idx: NDArray[np.intp]
) -> tuple[F64, F64]:
    """Cumulative weighted positives and negatives at each distinct threshold.

    Parameters
    ----------
    pos_w, neg_w : ndarray, shape (..., n)
        Weights in sorted (descending score) order, e.g. ``SortedScores.pos_w`` or a
        batch ``(B, n)`` of reweighted copies of it.
    threshold_idx : ndarray of intp, shape (T,)
        ``SortedScores.threshold_idx``.

    Returns
    -------
    tps, fps : ndarray of float64, shape (..., T)
        ``tps[..., t]`` is the weight of positives with score ``>= thresholds[t]``.
    """
    buf = np.cumsum(pos_w, axis=-1, dtype=np.float64)
    tps = buf[..., threshold_idx]
    np.cumsum(neg_w, axis=-1, dtype=np.float64, out=buf)
    return tps, buf[..., threshold_idx]


def unweighted_counts(y_true_bool: NDArray[np.bool_], y_score: F64) -> tuple[F64, F64, F64]:
    """``(tps, fps, thresholds)`` without weights, without an argsort of all the scores.

    The positive and the negative scores are sorted separately, side by side in one
    buffer (a plain in-place sort, several times faster than argsort), then the two
    sorted runs are merged by a stable argsort, which is linear on two runs. The counts
    are integers, hence identical to ``curve_counts`` on ``sort_scores``.
    """
    n = y_score.shape[0]
    n_pos = int(np.count_nonzero(y_true_bool))
    both = np.empty(n)
    # np.compress is several times faster than boolean indexing.
    np.compress(y_true_bool, y_score, out=both[:n_pos])
    both[:n_pos].sort()
    np.compress(~y_true_bool, y_score, out=both[n_pos:])
    both[n_pos:].sort()
    perm = np.argsort(both, kind="stable")
    asc = both[perm]
    del both
    is_pos_asc = perm < n_pos
    del perm
    desc = asc[::-1]
    idx = _threshold_idx(desc)
    thresholds = desc[idx]
    del asc, desc
    # An integer cumsum is several times faster than one into float64; exact either way.
    int_dtype = np.int32 if n < 2**31 else np.int64
    cum = np.cumsum(is_pos_asc[::-1], dtype=int_dtype)
    del is_pos_asc
    tps = cum[idx].astype(np.float64)
    del cum
    fps = idx.astype(np.float64)
    del idx
    fps += 1.0
    fps -= tps
    return tps, fps, thresholds


def weighted_counts(
    y_true_bool: NDArray[np.bool_], y_score: F64, sample_weight: F64
) -> tuple[F64, F64, F64]:
    """``(tps, fps, thresholds)`` with sample weights: ``curve_counts`` on ``sort_scores``.

    The same order (:func:`stable_argsort`) and the same sums in the same order, hence
    the very same arrays, with less memory: each weight is signed (+ for a positive,
    - for a negative) so that one gather carries both classes, and the cumulative sums
    run in place.
    """
    keep = sample_weight != 0
    if not keep.all():
        kept = np.flatnonzero(keep)
        y_true_bool, y_score, sample_weight = (
            y_true_bool[kept],
            y_score[kept],
            sample_weight[kept],
        )
        del kept
    del keep
    signed = y_true_bool.astype(np.float64)  # 2 * is_pos - 1, times the weight: exact
    signed *= 2.0
    signed -= 1.0
    signed *= sample_weight
    order = stable_argsort(y_score, descending=True)
    signed = np.take(signed, order)
    scores = np.take(y_score, order)
    del order
    idx = _threshold_idx(scores)
    thresholds = scores[idx]
    del scores
    part = np.maximum(signed, 0.0)  # the positives' weights
    np.cumsum(part, out=part)
    tps = part[idx]
    del part
    np.negative(signed, out=signed)
    np.maximum(signed, 0.0, out=signed)  # the negatives' weights
    np.cumsum(signed, out=signed)
    return tps, signed[idx], thresholds


def binary_counts(
    y_true_bool: NDArray[np.bool_], y_score: F64, sample_weight: F64 | None
) -> tuple[F64, F64, F64]:
    """``(tps, fps, thresholds)`` at the distinct thresholds, by the fastest exact route."""
    if sample_weight is None:
        return unweighted_counts(y_true_bool, y_score)
    return weighted_counts(y_true_bool, y_score, sample_weight)


def _rowdot(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.float64]:
    """Row-wise dot product. Not ``np.dot``: a multithreaded BLAS call per chunk waits for
    its threads, which on a busy machine costs milliseconds each time."""
    return np.asarray(np.einsum("...i,...i->...", a, b), dtype=np.float64)


def _chunks(x: NDArray[Any]) -> range:
    """Start columns of the chunks of ``x`` (shape ``(..., T)``) that stage 3 reduces."""
    rows = x.size // max(x.shape[-1], 1)
    step = max(1, _CHUNK_ELEMENTS // max(rows, 1))
    return range(0, x.shape[-1], step)


def _before(x: F64, a: int, b: int) -> F64:
    """``x[..., a-1:b-1]``: the previous column of each of ``a..b-1``, 0 before the first."""
    if a > 0:
        return x[..., a - 1 : b - 1]
    out = np.zeros((*x.shape[:-1], b - a))
    out[..., 1:] = x[..., : b - 1]
    return out


def auc_from_counts(
    fps: NDArray[Any], tps: NDArray[Any], max_fpr: float | None = None
) -> NDArray[np.float64]:
    """ROC AUC (trapezoidal rule through (0, 0) and every threshold) from counts.

    Parameters
    ----------
    fps, tps : ndarray, shape (..., T)
        Cumulative counts from :func:`curve_counts` (any leading batch dimensions).
    max_fpr : float in (0, 1], optional
        Standardized partial AUC over ``[0, max_fpr]`` with the McClish correction, as
        ``sklearn.metrics.roc_auc_score(max_fpr=...)``.

    Returns
    -------
    ndarray of float64, shape (...)
        A 0-d array for 1-D input (wrap it in ``float``); NaN where a class has no
        weight (the caller warns).

    Notes
    -----
    The area is ``sum(dfps * (tps + tps_prev)) / (2 * P * N)``, summed chunk by chunk
    of columns. With integer counts every term and partial sum is an exact integer
    (below 2**53), so the result is the correctly rounded Mann-Whitney statistic,
    whatever route produced the counts and however the sum is split.
    """
    fps = np.asarray(fps, dtype=np.float64)
    tps = np.asarray(tps, dtype=np.float64)
    n_neg = fps[..., -1]
    n_pos = tps[..., -1]
    if max_fpr is not None and max_fpr != 1:
        return _partial_auc(fps, tps, n_neg, n_pos, max_fpr)
    area2 = np.zeros(fps.shape[:-1])
    chunks = _chunks(fps)
    for a in chunks:
        b = min(a + chunks.step, fps.shape[-1])
        dfps = fps[..., a:b] - _before(fps, a, b)
        height = tps[..., a:b] + _before(tps, a, b)
        area2 += _rowdot(dfps, height)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(area2 / (2.0 * (n_neg * n_pos)), dtype=np.float64)


def _partial_auc(fps: F64, tps: F64, n_neg: F64, n_pos: F64, max_fpr: float) -> F64:
    """McClish-standardized area over ``fpr <= max_fpr``; stops at the first chunk past it."""
    partial = np.zeros(fps.shape[:-1])
    chunks = _chunks(fps)
    with np.errstate(divide="ignore", invalid="ignore"):
        for a in chunks:
            b = min(a + chunks.step, fps.shape[-1])
            x0 = _before(fps, a, b) / n_neg[..., None]
            if np.all(x0[..., 0] >= max_fpr):
                break  # fpr only grows: every later segment lies beyond max_fpr
            x1 = fps[..., a:b] / n_neg[..., None]
            y0 = _before(tps, a, b) / n_pos[..., None]
            y1 = tps[..., a:b] / n_pos[..., None]
            xc = np.minimum(x1, max_fpr)
            width = xc - x0
            inside = width > 0
            span = np.where(inside, x1 - x0, 1.0)
            yc = y0 + (y1 - y0) * ((xc - x0) / span)
            partial += np.where(inside, width * (y0 + yc), 0.0).sum(axis=-1)
    partial *= 0.5
    min_area = 0.5 * max_fpr**2
    max_area = max_fpr
    out = 0.5 * (1 + (partial - min_area) / (max_area - min_area))
    out = np.where((n_neg > 0) & (n_pos > 0), out, np.nan)
    return np.asarray(out, dtype=np.float64)


def auc_from_sorted(pos_sorted: F64, neg_sorted: F64) -> float:
    """ROC AUC of unweighted samples from the sorted positive and negative scores.

    Twice the Mann-Whitney statistic, ``sum(#neg < s + #neg <= s)`` over positive
    scores ``s``, is an exact integer and equals the trapezoid sum of
    :func:`auc_from_counts`, so both return the same float.
    """
    below = np.searchsorted(neg_sorted, pos_sorted, side="left").sum(dtype=np.int64)
    not_above = np.searchsorted(neg_sorted, pos_sorted, side="right").sum(dtype=np.int64)
    area2 = float(int(below) + int(not_above))
    n_pos = float(pos_sorted.shape[0])
    n_neg = float(neg_sorted.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(area2) / (2.0 * (n_neg * n_pos)))


def average_precision_from_counts(fps: NDArray[Any], tps: NDArray[Any]) -> NDArray[np.float64]:
    """Average precision ``sum_n (R_n - R_{n-1}) P_n`` from counts (not interpolated).

    Parameters
    ----------
    fps, tps : ndarray, shape (..., T)
        Cumulative counts from :func:`curve_counts` (any leading batch dimensions).

    Returns
    -------
    ndarray of float64, shape (...)
        0 where there is no positive weight, as scikit-learn returns (the caller warns).
    """
    fps = np.asarray(fps, dtype=np.float64)
    tps = np.asarray(tps, dtype=np.float64)
    n_pos = tps[..., -1]
    total = np.zeros(tps.shape[:-1])
    chunks = _chunks(tps)
    for a in chunks:
        b = min(a + chunks.step, tps.shape[-1])
        t = tps[..., a:b]
        dtps = t - _before(tps, a, b)
        predicted = t + fps[..., a:b]
        precision = np.divide(t, predicted, out=np.zeros_like(t), where=predicted != 0)
        total += _rowdot(dtps, precision)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = np.where(n_pos > 0, total / n_pos, 0.0)
    return np.asarray(np.maximum(ap, 0.0), dtype=np.float64)
