"""Bootstrap evaluators of ranking metrics: ROC AUC and average precision.

The scores are sorted once; each resample is a row of weights ``(B, n)`` in that
order, and the cumulative counts and the area come from the stages of ``_ranking``.
A multiclass one-vs-rest metric is the average of one binary evaluator per class over
the same resamples.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._boundary import Bounds, ranking_bounds
from ._intervals import _placements
from ._ranking import (
    auc_from_counts,
    average_precision_from_counts,
    curve_counts,
    sort_scores,
)
from ._resampling import _CHUNK_ELEMENTS, F64, _Evaluator, _row_atoms

# Average precision's closed-form jackknife loops over distinct weights up to this many.
_MAX_AP_WEIGHTS = 64


class _ScoreEvaluator(_Evaluator):
    def __init__(
        self,
        name: str,
        pos: NDArray[np.bool_],
        score: F64,
        w: F64 | None,
        strata: NDArray[np.intp],
        max_fpr: float | None,
    ) -> None:
        self.name, self.max_fpr = name, max_fpr
        self.pos, self.score = pos, score
        self.w = np.ones(len(pos)) if w is None else w
        self.ss = sort_scores(pos, score, w)
        self.atoms = _row_atoms(strata)

    def _value(self, pos_w: F64, neg_w: F64) -> F64:
        tps, fps = curve_counts(pos_w, neg_w, self.ss.threshold_idx)
        if self.name == "roc_auc_score":
            return auc_from_counts(fps, tps, self.max_fpr)
        return average_precision_from_counts(fps, tps)

    def batch(self, counts: NDArray[np.int64]) -> F64:
        c = counts[:, self.ss.order]
        return self._value(c * self.ss.pos_w, c * self.ss.neg_w)

    def jackknife(self) -> tuple[F64, F64]:
        pos, w = self.pos, self.w
        if self.name == "roc_auc_score" and self.max_fpr in (None, 1):
            # AUC = weighted mean of the positives' placements; leaving out positive i
            # removes its placement, leaving out negative j removes its from the other
            # side (DeLong). Exact, O(n log n).
            v10, v01 = _placements(pos, self.score, w)
            w_pos, w_neg = w[pos].sum(), w[~pos].sum()
            auc = float(v10[pos] @ w[pos] / w_pos)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(
                    pos,
                    (w_pos * auc - w * v10) / (w_pos - w),
                    (w_neg * auc - w * v01) / (w_neg - w),
                )
            return values, np.ones(len(values))
        # Rows of zero weight were dropped by the sort; leaving one out changes nothing.
        n_zero = len(pos) - len(self.ss.order)
        if self.name == "average_precision_score":
            uniq_w = np.unique(self.ss.pos_w + self.ss.neg_w)
            if len(uniq_w) <= _MAX_AP_WEIGHTS:
                values = self._ap_jackknife(uniq_w)
                return _with_unchanged(values, np.ones(len(values)), n_zero, self._full())
        values, mult = self._generic_jackknife()
        return _with_unchanged(values, mult, n_zero, self._full())

    def boundary(self, level: float) -> Bounds | None:
        n_pos, n_neg = _kish(self.w[self.pos]), _kish(self.w[~self.pos])
        return ranking_bounds(self._full(), n_pos, n_neg, level)

    def _full(self) -> float:
        return float(self._value(self.ss.pos_w, self.ss.neg_w))

    def _ap_jackknife(self, uniq_w: F64) -> F64:
        """Leave-one-out average precision of every sorted row, ``O(T)`` per weight value.

        With ``q(a, b) = a / (a + b)`` (0 when ``a + b == 0``), ``AP = sum_k dtps_k
        q(tps_k, fps_k) / P``. Leaving out a row of weight ``u`` in tie group ``g``
        lowers ``tps_k`` (a positive) or ``fps_k`` (a negative) by ``u`` for every
        ``k >= g``, and a positive also lowers ``dtps_g`` and ``P`` by ``u``: a prefix sum
        plus a suffix sum that depends only on ``u``.
        """
        ss = self.ss
        tps, fps = curve_counts(ss.pos_w, ss.neg_w, ss.threshold_idx)
        dtps = np.diff(tps, prepend=0.0)
        n_pos = tps[-1]

        def q(a: F64, b: F64) -> F64:
            d = a + b
            return np.divide(a, d, out=np.zeros_like(a), where=d > 0)

        terms = dtps * q(tps, fps)
        before = np.cumsum(terms) - terms  # sum over k < g
        group = np.searchsorted(ss.threshold_idx, np.arange(len(ss.order)))
        u_row = ss.pos_w + ss.neg_w
        is_pos = ss.pos_w > 0
        out = np.empty(len(ss.order))
        for u in uniq_w:
            rows = np.flatnonzero(u_row == u)
            g = group[rows]
            # A positive of weight u left out.
            a = dtps * q(tps - u, fps)
            after_a = np.cumsum(a[::-1])[::-1] - a  # sum over k > g
            s_pos = before[g] + (dtps[g] - u) * q(tps[g] - u, fps[g]) + after_a[g]
            p_pos = n_pos - u
            # A negative of weight u left out.
            b = dtps * q(tps, fps - u)
            from_b = np.cumsum(b[::-1])[::-1]  # sum over k >= g
            s_neg = before[g] + from_b[g]
            with np.errstate(divide="ignore", invalid="ignore"):
                val = np.where(
                    is_pos[rows],
                    np.where(p_pos > 0, s_pos / p_pos, 0.0),
                    np.where(n_pos > 0, s_neg / n_pos, 0.0),
                )
            out[rows] = np.maximum(val, 0.0)
        return out

    def _generic_jackknife(self) -> tuple[F64, F64]:
        # Each leave-one-out weight vector through the batched stages, O(n) each. Rows
        # in the same (tie group, class, weight) give the same value.
        ss = self.ss
        group = np.zeros(len(ss.order), dtype=np.intp)
        group[ss.threshold_idx[:-1] + 1] = 1
        group = np.cumsum(group)
        key = np.stack(
            [group.astype(np.float64), (ss.pos_w > 0).astype(np.float64), ss.pos_w + ss.neg_w],
            axis=1,
        )
        _, first, mult = np.unique(key, axis=0, return_index=True, return_counts=True)
        values = np.empty(len(first))
        m = len(ss.order)
        step = max(1, _CHUNK_ELEMENTS // max(m, 1))
        for lo in range(0, len(first), step):
            rows = first[lo : lo + step]
            keepw = np.ones((len(rows), m))
            keepw[np.arange(len(rows)), rows] = 0.0
            values[lo : lo + step] = self._value(keepw * ss.pos_w, keepw * ss.neg_w)
        return values, mult.astype(np.float64)


def _with_unchanged(values: F64, mult: F64, n_same: int, full: float) -> tuple[F64, F64]:
    """Add ``n_same`` leave-one-out values equal to the full-data value."""
    if n_same == 0:
        return values, mult
    return np.append(values, full), np.append(mult, float(n_same))


def _kish(w: F64) -> float:
    """Kish's effective number of rows of weights ``w``."""
    squares = float(w @ w)
    return 0.0 if squares == 0 else float(w.sum()) ** 2 / squares


class _OneVsRestEvaluator(_Evaluator):
    """Macro or weighted one-vs-rest average of a binary ranking metric per class.

    A class with no positive (or, for ROC AUC, no negative) in a resample is left out
    of that resample's average, as :func:`evaluate` leaves it out on the data.
    """

    def __init__(
        self,
        name: str,
        onehot: NDArray[np.bool_],
        score: F64,
        w: F64 | None,
        strata: NDArray[np.intp],
        average: str,
    ) -> None:
        self.name, self.average = name, average
        self.onehot = onehot
        self.w = np.ones(len(onehot)) if w is None else w
        self.parts = [
            _ScoreEvaluator(name, onehot[:, k], score[:, k], w, strata, None)
            for k in range(onehot.shape[1])
        ]
        self.atoms = _row_atoms(strata)

    def _combine(self, values: F64, pos_w: F64, neg_w: F64) -> F64:
        """Average ``values (K, B)`` over the classes defined in each resample."""
        defined = (pos_w > 0) & ((neg_w > 0) | (self.name != "roc_auc_score"))
        weight = np.where(defined, pos_w if self.average == "weighted" else 1.0, 0.0)
        total = weight.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(defined, values, 0.0)
            return np.where(total > 0, (weight * out).sum(axis=0) / total, np.nan)

    def batch(self, counts: NDArray[np.int64]) -> F64:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.stack([part.batch(counts) for part in self.parts])
        cw = counts * self.w[None, :]
        pos_w = (cw @ self.onehot).T
        neg_w = cw.sum(axis=1)[None, :] - pos_w
        return self._combine(values, pos_w, neg_w)

    def jackknife(self) -> tuple[F64, F64]:
        if self.name != "roc_auc_score":
            raise NotImplementedError
        # Per-class leave-one-out values are per row (DeLong); leaving row i out also
        # lowers its class's weight in a weighted average.
        values = np.stack([part.jackknife()[0] for part in self.parts])
        pos_w = self.w @ self.onehot
        left_pos = pos_w[:, None] - self.onehot.T * self.w[None, :]
        left_neg = self.w.sum() - self.w[None, :] - left_pos
        return self._combine(values, left_pos, left_neg), np.ones(len(self.w))

    def boundary(self, level: float) -> Bounds | None:
        bounds = [part.boundary(level) for part in self.parts]
        support = self.w @ self.onehot
        kept = [(b, s) for b, s in zip(bounds, support, strict=True) if b is not None]
        if not kept:
            return None
        lo = np.array([b[0] for b, _ in kept])
        hi = np.array([b[1] for b, _ in kept])
        weight = np.array([s if self.average == "weighted" else 1.0 for _, s in kept])
        return float(lo @ weight / weight.sum()), float(hi @ weight / weight.sum())
