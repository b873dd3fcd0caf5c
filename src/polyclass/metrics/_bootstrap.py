"""Bootstrap confidence intervals for any metric, vectorized over the resamples.

A resample is a vector of counts: how many times each *atom* of the data is drawn.
An atom is a row or, for label metrics, a group of rows with the same (true,
predicted, weight) -- such rows are interchangeable: drawing ``n_s`` rows uniformly
from a stratum gives the same distribution of confusion matrices as drawing from a
multinomial over that stratum's groups, at a cost of ``O(groups)`` instead of ``O(n)``
per resample. Groups are used when they are few (no weights, or a few weight values
such as class weights); continuous weights resample rows. Stratified resampling (the
default) draws, within each true class, as many rows as that class has, so every
resample keeps the class counts of the data.

Resamples are evaluated in chunks, never one by one:

- label metrics: one ``np.bincount`` over (resample, true, predicted) codes gives a
  batch of confusion matrices ``(B, K, K)``, and one call of the batched metric
  (``CONFUSION_METRICS``) evaluates them all;
- binary ``roc_auc_score`` and ``average_precision_score``: the scores are sorted
  once; each resample is a row of weights ``(B, n)`` in that order, and the cumulative
  counts and the area come from the stages of ``_ranking``;
- any other callable is called once per resample (documented fallback).

BCa needs the jackknife (leave-one-out) values. They are computed without n calls:
for a confusion metric removing a row changes one cell, so there are at most one
value per distinct (cell, weight); for ROC AUC the leave-one-out values follow from
DeLong's placement values.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from ._decision import check_cost_matrix, confusion_expected_cost
from ._encode import encode, unique_labels
from ._intervals import ConfidenceInterval, _placements, binary_target
from ._ranking import (
    auc_from_counts,
    average_precision_from_counts,
    curve_counts,
    sort_scores,
)
from ._validation import (
    check_choice,
    check_consistent_length,
    check_real,
    check_sample_weight,
    column_or_1d,
)

F64 = NDArray[np.float64]
# Elements (resamples x atoms) evaluated at once: bounds the memory of a chunk.
_CHUNK_ELEMENTS = 1 << 21
# Resample groups of equal (cell, weight) instead of rows when groups hold this many
# rows on average.
_MIN_ROWS_PER_ATOM = 8
# Average precision's closed-form jackknife loops over distinct weights up to this many.
_MAX_AP_WEIGHTS = 64
# Score metrics evaluated in batch, with the keyword arguments that path understands.
_SCORE_METRICS = {
    "roc_auc_score": {"max_fpr", "average", "multi_class", "labels"},
    "average_precision_score": {"pos_label", "average"},
}


# --------------------------------------------------------------------------- resampling


@dataclass(frozen=True)
class _Atoms:
    """What a resample draws: ``stratum`` of each atom and how many rows it stands for.

    ``rows[a]`` is one row of atom ``a`` (all rows of an atom look the same to the
    metric), so ``np.repeat(rows, counts)`` is a resample as row indices.
    """

    rows: NDArray[np.intp]
    stratum: NDArray[np.intp]
    multiplicity: NDArray[np.int64]
    by_row: bool


def _row_atoms(strata: NDArray[np.intp]) -> _Atoms:
    n = len(strata)
    return _Atoms(np.arange(n, dtype=np.intp), strata, np.ones(n, dtype=np.int64), True)


def _draw_counts(atoms: _Atoms, rng: np.random.Generator, size: int) -> NDArray[np.int64]:
    """Counts ``(size, A)`` of each atom in ``size`` stratified resamples."""
    n_atoms = len(atoms.rows)
    out = np.zeros((size, n_atoms), dtype=np.int64)
    n_strata = int(atoms.stratum.max()) + 1
    for s in range(n_strata):
        members = np.flatnonzero(atoms.stratum == s)
        if len(members) == 0:
            continue
        mult = atoms.multiplicity[members]
        n_s = int(mult.sum())
        if atoms.by_row:
            # One uniform draw of n_s rows per resample, then counted.
            idx = rng.integers(0, n_s, size=(size, n_s))
            flat = (np.arange(size, dtype=np.int64)[:, None] * n_s + idx).ravel()
            out[:, members] = np.bincount(flat, minlength=size * n_s).reshape(size, n_s)
        else:
            out[:, members] = rng.multinomial(n_s, mult / n_s, size=size)
    return out


def _chunks(n_resamples: int, n_atoms: int) -> list[int]:
    per = max(1, min(n_resamples, _CHUNK_ELEMENTS // max(n_atoms, 1)))
    sizes = [per] * (n_resamples // per)
    if n_resamples % per:
        sizes.append(n_resamples % per)
    return sizes


# --------------------------------------------------------------------------- evaluators


class _Evaluator:
    """A metric on resamples: ``atoms``, ``batch(counts) -> (B,)`` and the jackknife."""

    atoms: _Atoms

    def batch(self, counts: NDArray[np.int64]) -> F64:
        raise NotImplementedError

    def jackknife(self) -> tuple[F64, F64]:
        """Leave-one-row-out values and how many rows give each value."""
        raise NotImplementedError


class _ConfusionEvaluator(_Evaluator):
    def __init__(
        self,
        t: NDArray[np.intp],
        p: NDArray[np.intp],
        k: int,
        w: F64 | None,
        strata: NDArray[np.intp],
        fn: Callable[[NDArray[Any]], NDArray[Any]],
    ) -> None:
        self.k, self.fn = k, fn
        kk = k * k
        cell = t * k + p
        self.weighted = w is not None
        self.cm = np.bincount(cell, weights=w, minlength=kk).reshape(k, k)
        # Rows with the same (cell, weight) are interchangeable: when they are few
        # groups, resample the groups (multinomial) instead of the rows.
        if w is None:
            uniq_w, w_code = np.ones(1), np.zeros(len(cell), dtype=np.intp)
        else:
            uniq_w, w_code = np.unique(w, return_inverse=True)
        if len(uniq_w) * kk <= max(64, len(cell) // _MIN_ROWS_PER_ATOM):
            key, first, mult = np.unique(w_code * kk + cell, return_index=True, return_counts=True)
            self.cell = (key % kk).astype(np.intp)
            self.w = uniq_w[key // kk]
            self.atoms = _Atoms(first.astype(np.intp), strata[first], mult.astype(np.int64), False)
        else:
            self.cell = cell.astype(np.intp)
            self.w = np.ones(len(cell)) if w is None else w
            self.atoms = _row_atoms(strata)

    def _matrices(self, counts: NDArray[Any]) -> NDArray[Any]:
        b = counts.shape[0]
        kk = self.k * self.k
        codes = (np.arange(b, dtype=np.intp)[:, None] * kk + self.cell[None, :]).ravel()
        if self.weighted:
            flat = np.bincount(codes, weights=(counts * self.w).ravel(), minlength=b * kk)
        else:
            flat = np.bincount(codes, weights=counts.ravel(), minlength=b * kk)
            flat = np.rint(flat).astype(np.int64)
        return flat.reshape(b, self.k, self.k)

    def batch(self, counts: NDArray[np.int64]) -> F64:
        with warnings.catch_warnings():
            # An ill-defined ratio on some resample is expected; the estimate on the
            # whole data has already warned about what applies to the data.
            warnings.simplefilter("ignore")
            return np.asarray(self.fn(self._matrices(counts)), dtype=np.float64)

    def jackknife(self) -> tuple[F64, F64]:
        # Removing a row of weight w from cell c gives cm - w * e_c: one value per
        # distinct (cell, weight).
        if self.atoms.by_row:
            pairs = np.stack([self.cell.astype(np.float64), self.w], axis=1)
            uniq, mult = np.unique(pairs, axis=0, return_counts=True)
            cells, ws = uniq[:, 0].astype(np.intp), uniq[:, 1]
        else:
            cells, ws, mult = self.cell, self.w, self.atoms.multiplicity
        base: NDArray[Any] = self.cm
        if not self.weighted:
            ws = ws.astype(np.int64)
        values = np.empty(len(cells))
        step = max(1, _CHUNK_ELEMENTS // (self.k * self.k))
        for lo in range(0, len(cells), step):
            c, wv = cells[lo : lo + step], ws[lo : lo + step]
            mats = np.repeat(base[None], len(c), axis=0).reshape(len(c), -1)
            mats[np.arange(len(c)), c] -= wv
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[lo : lo + step] = self.fn(mats.reshape(len(c), self.k, self.k))
        return values, mult.astype(np.float64)


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


class _LoopEvaluator(_Evaluator):
    """Fallback for arbitrary callables: one call per resample and per jackknife row."""

    def __init__(
        self,
        fn: Callable[..., Any],
        y_true: NDArray[Any],
        y_pred: NDArray[Any],
        w: F64 | None,
        strata: NDArray[np.intp],
        kwargs: dict[str, Any],
    ) -> None:
        self.fn, self.y_true, self.y_pred, self.w, self.kwargs = fn, y_true, y_pred, w, kwargs
        self.atoms = _row_atoms(strata)

    def _call(self, rows: NDArray[np.intp]) -> float:
        extra = {} if self.w is None else {"sample_weight": self.w[rows]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(self.fn(self.y_true[rows], self.y_pred[rows], **extra, **self.kwargs))
            except ValueError:
                # Undefined on this resample (e.g. a class is missing): left out later.
                return float("nan")

    def batch(self, counts: NDArray[np.int64]) -> F64:
        return np.array([self._call(np.repeat(self.atoms.rows, c)) for c in counts])

    def jackknife(self) -> tuple[F64, F64]:
        n = len(self.y_true)
        everything = np.arange(n)
        values = np.array([self._call(np.delete(everything, i)) for i in range(n)])
        return values, np.ones(n)


# --------------------------------------------------------------------------- intervals


def _acceleration(values: F64, mult: F64) -> float:
    """BCa acceleration from jackknife values with multiplicities (Efron & Tibshirani 14.15)."""
    mean = float(values @ mult / mult.sum())
    d = mean - values
    den = float((mult * d * d).sum())
    if den == 0:
        return 0.0
    return float((mult * d**3).sum() / (6.0 * den**1.5))


def _interval(
    theta_b: F64, theta_hat: float, level: float, method: str, accel: float | None
) -> tuple[float, float, str]:
    alpha = (1.0 - level) / 2.0
    if method == "bca" and accel is not None:
        b = len(theta_b)
        share = np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat)
        z0 = float(ndtri(share / (2.0 * b)))
        if np.isfinite(z0):
            z_a = float(ndtri(alpha))
            n1, n2 = z0 + z_a, z0 - z_a
            q1 = float(ndtr(z0 + n1 / (1.0 - accel * n1)))
            q2 = float(ndtr(z0 + n2 / (1.0 - accel * n2)))
            low, high = np.quantile(theta_b, [q1, q2])
            return float(low), float(high), "bca"
        if np.ptp(theta_b) > 0:
            warnings.warn(
                "bootstrap_ci: the BCa bias correction is infinite (the estimate lies outside "
                "the bootstrap distribution); returning the percentile interval instead.",
                UserWarning,
                stacklevel=3,
            )
        method = "percentile"
    low, high = np.quantile(theta_b, [alpha, 1.0 - alpha])
    return float(low), float(high), method


# --------------------------------------------------------------------------- public API


def _metrics_module() -> Any:
    return importlib.import_module("polyclass.metrics")


def _confusion_registry() -> dict[str, Callable[..., Any]]:
    from ._registry import CONFUSION_METRICS

    return CONFUSION_METRICS


def _resolve(metric: Any) -> tuple[str | None, Callable[..., Any]]:
    """``(public name or None, function)`` for a metric name or function."""
    module = _metrics_module()
    if isinstance(metric, str):
        found = getattr(module, metric, None) if metric in module.__all__ else None
        if found is None or not callable(found):
            raise ValueError(
                f"bootstrap_ci: metric={metric!r} is not a metric of polyclass.metrics. Pass "
                "a metric name such as 'f1_score' or 'roc_auc_score', or a callable "
                "metric(y_true, y_pred, **kwargs) -> float."
            )
        resolved: Callable[..., Any] = found
        return metric, resolved
    if not callable(metric):
        raise ValueError(
            f"bootstrap_ci: metric must be a metric name or a callable, got "
            f"{type(metric).__name__}."
        )
    fn: Callable[..., Any] = metric
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name in module.__all__ and getattr(module, name) is fn:
        return name, fn
    return None, fn


def _confusion_fn(
    name: str, classes: NDArray[Any], kwargs: dict[str, Any]
) -> Callable[[NDArray[Any]], NDArray[Any]] | None:
    if name == "expected_cost":
        if set(kwargs) - {"cost_matrix", "labels"}:
            return None
        labels = kwargs.get("labels")
        if labels is None:
            cost = check_cost_matrix("bootstrap_ci", kwargs["cost_matrix"], len(classes))
        else:
            lab = np.asarray(labels)
            full = check_cost_matrix("bootstrap_ci", kwargs["cost_matrix"], len(lab))
            # Rows/columns of the cost matrix for the classes of the confusion matrix.
            at = np.array([int(np.flatnonzero(lab == c)[0]) for c in classes], dtype=np.intp)
            cost = full[np.ix_(at, at)]
        return lambda cm: confusion_expected_cost(cm, cost)
    reg = _confusion_registry()
    fn = reg.get(name)
    if fn is None:
        return None
    return lambda cm: fn(cm, classes=classes, **kwargs)


def bootstrap_ci(
    metric: str | Callable[..., Any],
    y_true: ArrayLike,
    y_pred_or_score: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    stratify: bool = True,
    random_state: int | np.random.Generator | None = None,
    **metric_kwargs: Any,
) -> ConfidenceInterval:
    """Bootstrap confidence interval of a metric, vectorized over the resamples.

    Parameters
    ----------
    metric : str or callable
        A metric of ``polyclass.metrics`` by name (``'f1_score'``) or as the function
        itself, or any callable ``metric(y_true, y_pred, **kwargs) -> float``.
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred_or_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted labels for label metrics, scores or probabilities for score metrics.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights; each resampled row keeps its weight.
    n_resamples : int, default=2000
        Number of bootstrap resamples.
    confidence_level : float, default=0.95
        Two-sided confidence level in (0, 1).
    method : {'percentile', 'bca'}, default='percentile'
        Percentile interval, or bias-corrected and accelerated (BCa, Efron 1987), with
        the same definitions as ``scipy.stats.bootstrap``.
    stratify : bool, default=True
        Resample within each class of ``y_true`` so every resample keeps the class
        counts of the data (recommended: rare classes never vanish from a resample).
    random_state : int, numpy Generator or None, default=None
        Seed of ``numpy.random.default_rng``, for reproducible intervals.
    **metric_kwargs
        Passed to the metric (e.g. ``average='macro'``, ``pos_label='yes'``).

    Returns
    -------
    ConfidenceInterval
        ``estimate`` (the metric on all the data), ``low``, ``high``, ``level``,
        ``method``, ``n_resamples`` and ``standard_error`` (standard deviation of the
        bootstrap distribution).

    Notes
    -----
    Label metrics (those with a batched confusion-matrix form, and
    :func:`expected_cost`) and binary ``roc_auc_score`` / ``average_precision_score``
    are evaluated in chunks of resamples with array operations. Each resample is
    evaluated as the public function would evaluate it: a class absent from a
    resample is left out of its averages, as scikit-learn does on such data (pass
    ``labels=`` to fix the classes). Any other metric
    or callable is called once per resample (and, for BCa, once per left-out row):
    correct but slow.

    Resamples whose metric is undefined (NaN, e.g. a class missing from an
    unstratified resample) are left out, with a warning.

    Examples
    --------
    >>> from polyclass.metrics import bootstrap_ci
    >>> y_true = [0, 1, 1, 0, 1, 1, 0, 0, 1, 1] * 5
    >>> y_pred = [0, 1, 0, 0, 1, 1, 1, 0, 1, 1] * 5
    >>> ci = bootstrap_ci("accuracy_score", y_true, y_pred, random_state=0)
    >>> ci.estimate, ci.low < ci.estimate < ci.high
    (0.8, True)
    """
    func = "bootstrap_ci"
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(
            f"The 'n_resamples' parameter of {func} must be an int >= 1. "
            f"Got {n_resamples!r} instead."
        )
    if n_resamples < 1:
        raise ValueError(
            f"The 'n_resamples' parameter of {func} must be an int >= 1. Got {n_resamples}."
        )
    level = check_real(func, "confidence_level", confidence_level, low=0, high=1, closed="neither")
    check_choice(func, "method", method, ("percentile", "bca"))
    if not isinstance(stratify, bool | np.bool_):
        raise ValueError(f"The 'stratify' parameter of {func} must be a bool. Got {stratify!r}.")
    name, fn = _resolve(metric)

    yt = column_or_1d(func, "y_true", y_true)
    yp = np.asarray(y_pred_or_score)
    if yp.ndim == 2 and yp.shape[1] == 1:
        yp = yp.ravel()
    n = check_consistent_length(func, y_true=yt, y_pred_or_score=yp)
    w = check_sample_weight(func, sample_weight, n)
    rng = np.random.default_rng(random_state)

    # The estimate is the public function on the whole data: it validates everything
    # and raises the metric's own errors.
    weight_kw = {} if w is None else {"sample_weight": w}
    raw = fn(yt, yp, **weight_kw, **metric_kwargs)
    if np.ndim(raw) != 0:
        raise ValueError(
            f"{func}: the metric returned an array of shape {np.shape(raw)}, not one number. "
            "Pass an averaging option (e.g. average='macro') or a callable that returns a "
            "single float."
        )
    estimate = float(raw)

    strata = (
        encode(func, "y_true", yt, unique_labels(yt)) if stratify else np.zeros(n, dtype=np.intp)
    )
    evaluator = _make_evaluator(name, fn, yt, yp, w, strata, metric_kwargs)
    if not isinstance(evaluator, _LoopEvaluator):
        # The batched route must reproduce the public function on the data itself.
        whole = evaluator.batch(evaluator.atoms.multiplicity[None, :])[0]
        if not np.isclose(whole, estimate, rtol=1e-9, atol=1e-12, equal_nan=True):
            evaluator = _LoopEvaluator(fn, yt, yp, w, np.asarray(strata), metric_kwargs)

    theta_b = _run(evaluator, int(n_resamples), rng)
    finite = np.isfinite(theta_b)
    if not finite.all():
        dropped = int((~finite).sum())
        if dropped == len(theta_b):
            raise ValueError(
                f"{func}: the metric is undefined on every resample. Use stratify=True or "
                "check the metric's arguments."
            )
        warnings.warn(
            f"{func}: the metric is undefined on {dropped} of {len(theta_b)} resamples; they "
            "are left out. Use stratify=True to keep every class in every resample.",
            UserWarning,
            stacklevel=2,
        )
        theta_b = theta_b[finite]
    accel = None
    if method == "bca":
        jack, mult = evaluator.jackknife()
        if not np.isfinite(jack).all():
            raise ValueError(
                f"{func}: BCa needs the metric with any one sample left out, which is "
                "undefined here (a class has a single sample). Use method='percentile'."
            )
        accel = _acceleration(jack, mult)
    low, high, used = _interval(theta_b, estimate, level, method, accel)
    se = float(np.std(theta_b, ddof=1)) if len(theta_b) > 1 else 0.0
    return ConfidenceInterval(estimate, low, high, level, used, int(n_resamples), se)


def _run(
    evaluator: _Evaluator,
    n_resamples: int,
    rng: np.random.Generator,
    record: list[NDArray[np.int64]] | None = None,
) -> F64:
    """Metric values on ``n_resamples`` resamples, drawn and evaluated chunk by chunk.

    ``record`` (tests) collects the count matrices of the chunks.
    """
    values = []
    for size in _chunks(n_resamples, len(evaluator.atoms.rows)):
        counts = _draw_counts(evaluator.atoms, rng, size)
        if record is not None:
            record.append(counts)
        values.append(evaluator.batch(counts))
    return np.concatenate(values)


def _make_evaluator(
    name: str | None,
    fn: Callable[..., Any],
    yt: NDArray[Any],
    yp: NDArray[Any],
    w: F64 | None,
    strata: NDArray[np.intp],
    kwargs: dict[str, Any],
) -> _Evaluator:
    func = "bootstrap_ci"
    if name is not None and name in _SCORE_METRICS and yp.ndim == 1:
        if set(kwargs) <= _SCORE_METRICS[name] and len(unique_labels(yt)) == 2:
            if name == "roc_auc_score":
                pos = binary_target(func, yt, None, default="greater")
            else:
                pos_label = kwargs.get("pos_label", 1)
                pos = np.asarray(yt == pos_label, dtype=bool)
            max_fpr = kwargs.get("max_fpr")
            return _ScoreEvaluator(
                name,
                pos,
                yp.astype(np.float64),
                w,
                strata,
                None if max_fpr is None else float(max_fpr),
            )
    if name is not None and yp.ndim == 1:
        classes = unique_labels(yt, yp)
        cfn = _confusion_fn(name, classes, kwargs)
        if cfn is not None:
            t = encode(func, "y_true", yt, classes)
            p = encode(func, "y_pred", yp, classes)
            return _ConfusionEvaluator(t, p, len(classes), w, strata, cfn)
    return _LoopEvaluator(fn, yt, yp, w, strata, kwargs)
