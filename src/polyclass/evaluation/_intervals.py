"""Confidence intervals used by :func:`evaluate`.

Wilson score intervals for proportions (precision, recall), DeLong's interval for a
binary ROC AUC, and a bootstrap over the confusion matrix for accuracy, balanced
accuracy, MCC and F1. ``polyclass.metrics`` provides the public versions of these; the
helpers here are what evaluation uses where that module has nothing to offer.

The bootstrap uses a fact about label metrics: they depend on the sample only through
its confusion matrix, and resampling ``n`` rows with replacement draws that matrix from
a multinomial over its cells. So ``B`` replicates cost one ``multinomial`` call of size
``B x K^2`` whatever the number of rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

FloatArray = NDArray[np.float64]

BOOTSTRAP_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "matthews_corrcoef",
)


def z_value(confidence_level: float) -> float:
    """Two-sided normal quantile for ``confidence_level`` (1.96 for 0.95)."""
    return float(ndtri(0.5 + confidence_level / 2.0))


def wilson(successes: FloatArray, trials: FloatArray, confidence_level: float) -> FloatArray:
    """Wilson score intervals, shape ``(len(successes), 2)``; NaN rows where trials == 0."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = z_value(confidence_level)
    out = np.full((k.shape[0], 2), np.nan)
    ok = n > 0
    p = k[ok] / n[ok]
    denom = 1.0 + z * z / n[ok]
    centre = (p + z * z / (2.0 * n[ok])) / denom
    half = z / denom * np.sqrt(p * (1.0 - p) / n[ok] + z * z / (4.0 * n[ok] ** 2))
    out[ok, 0] = np.clip(centre - half, 0.0, 1.0)
    out[ok, 1] = np.clip(centre + half, 0.0, 1.0)
    return out


def _midranks(x: FloatArray) -> FloatArray:
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = xs.shape[0]
    # positions where a run of ties starts and ends
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], n]
    avg = (starts + ends - 1) / 2.0 + 1.0
    ranks_sorted = np.repeat(avg, ends - starts)
    out = np.empty(n)
    out[order] = ranks_sorted
    return out


def delong_interval(
    y_binary: NDArray[np.bool_], score: FloatArray, confidence_level: float
) -> tuple[float, float, float] | None:
    """(auc, low, high) by DeLong's method (fast midrank form), or None if undefined."""
    pos = score[y_binary]
    neg = score[~y_binary]
    m, n = pos.shape[0], neg.shape[0]
    if m < 2 or n < 2:
        return None
    tx = _midranks(pos)
    ty = _midranks(neg)
    tz = _midranks(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() / m - (m + 1) / 2.0) / n
    v01 = (tz[:m] - tx) / n
    v10 = 1.0 - (tz[m:] - ty) / m
    var = np.var(v01, ddof=1) / m + np.var(v10, ddof=1) / n
    if not np.isfinite(var) or var <= 0:
        return float(auc), float(auc), float(auc)
    half = z_value(confidence_level) * np.sqrt(var)
    return float(auc), float(max(0.0, auc - half)), float(min(1.0, auc + half))


def metrics_from_confusion(cm: FloatArray) -> dict[str, FloatArray]:
    """Label metrics from a stack of confusion matrices ``(..., K, K)`` (rows = truth)."""
    total = cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(axis=-1) / total
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1), 0.0)
        present = support > 0
        balanced = (recall * present).sum(axis=-1) / present.sum(axis=-1)
        denom = support + predicted
        f1 = np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1), 0.0)
        f1_macro = f1.mean(axis=-1)
        f1_weighted = (f1 * support).sum(axis=-1) / total
        c = tp.sum(axis=-1)
        cov_ytyp = c * total - (predicted * support).sum(axis=-1)
        cov_ypyp = total**2 - (predicted**2).sum(axis=-1)
        cov_ytyt = total**2 - (support**2).sum(axis=-1)
        prod = cov_ytyt * cov_ypyp
        mcc = np.where(prod > 0, cov_ytyp / np.sqrt(np.where(prod > 0, prod, 1)), 0.0)
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "f1_macro": f1_macro,
        "f1_weighted": f1_weighted,
        "matthews_corrcoef": mcc,
    }


def bootstrap_confusion(
    t: NDArray[np.intp],
    p: NDArray[np.intp],
    n_classes: int,
    *,
    sample_weight: FloatArray | None,
    n_bootstrap: int,
    confidence_level: float,
    random_state: Any,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the label metrics in ``BOOTSTRAP_METRICS``."""
    rng = np.random.default_rng(random_state)
    k2 = n_classes * n_classes
    cell = t * n_classes + p
    n = t.shape[0]
    if sample_weight is None:
        counts = np.bincount(cell, minlength=k2).astype(np.float64)
        draws = rng.multinomial(n, counts / n, size=n_bootstrap).astype(np.float64)
    else:
        # weighted rows: resample row multiplicities, in chunks to bound memory
        draws = np.empty((n_bootstrap, k2))
        chunk = max(1, 2_000_000 // max(n, 1))
        for start in range(0, n_bootstrap, chunk):
            stop = min(n_bootstrap, start + chunk)
            mult = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start)
            weighted = mult * sample_weight[None, :]
            for row in range(stop - start):
                draws[start + row] = np.bincount(cell, weights=weighted[row], minlength=k2)
    stats = metrics_from_confusion(draws.reshape(n_bootstrap, n_classes, n_classes))
    alpha = (1.0 - confidence_level) / 2.0
    out: dict[str, tuple[float, float]] = {}
    for name, values in stats.items():
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
        out[name] = (float(lo), float(hi))
    return out
