"""ROC, precision-recall and threshold trade-off curves, one-vs-rest per class.

Curves are decimated for the report: a curve longer than ``max_points`` keeps points
spread evenly along its length (so corners survive and flat runs thin out), always
keeping both ends. AUC and average precision are computed on the full curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.evaluation import _backend as M

FloatArray = NDArray[np.float64]


def decimate_index(*coords: FloatArray, max_points: int = 400) -> NDArray[np.intp]:
    """Indices of at most ``max_points`` points spread evenly along a curve's length.

    Each coordinate is scaled to [0, 1] before measuring length, so all axes count
    equally. The first and last points are always kept.
    """
    n = coords[0].shape[0]
    if n <= max_points:
        return np.arange(n)
    steps = np.zeros(n - 1)
    for c in coords:
        c = np.asarray(c, dtype=np.float64)
        finite = c[np.isfinite(c)]
        span = float(finite.max() - finite.min()) if finite.size else 0.0
        d = np.diff(np.nan_to_num(c, nan=0.0, posinf=0.0, neginf=0.0))
        if span > 0:
            steps += (d / span) ** 2
    length = np.r_[0.0, np.cumsum(np.sqrt(steps))]
    if length[-1] <= 0:
        idx = np.linspace(0, n - 1, max_points).round().astype(np.intp)
    else:
        targets = np.linspace(0.0, length[-1], max_points - 1)
        idx = np.searchsorted(length, targets, side="left").astype(np.intp)
    idx = np.unique(np.r_[0, np.clip(idx, 0, n - 1), n - 1])
    if idx.shape[0] > max_points:  # ties in length can add a point or two
        keep = np.linspace(0, idx.shape[0] - 1, max_points).round().astype(np.intp)
        idx = idx[keep]
    return idx


def _floats(a: FloatArray, digits: int = 5) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in a]


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def roc_curves(
    onehot: NDArray[np.bool_],
    proba: FloatArray,
    names: list[str],
    columns: list[int],
    sample_weight: FloatArray | None,
    max_points: int,
) -> dict[str, Any]:
    """Per-class one-vs-rest ROC curves (for ``columns``), and micro/macro when several."""
    per_class: list[dict[str, Any]] = []
    full: list[tuple[FloatArray, FloatArray]] = []
    for k in columns:
        y = onehot[:, k]
        if y.all() or not y.any():
            per_class.append({"name": names[k], "fpr": [], "tpr": [], "auc": None})
            continue
        fpr, tpr, _ = M.roc_curve(y, proba[:, k], sample_weight=sample_weight)
        fpr = np.asarray(fpr, dtype=np.float64)
        tpr = np.asarray(tpr, dtype=np.float64)
        full.append((fpr, tpr))
        idx = decimate_index(fpr, tpr, max_points=max_points)
        per_class.append(
            {
                "name": names[k],
                "fpr": _floats(fpr[idx]),
                "tpr": _floats(tpr[idx]),
                "auc": _finite(float(M.auc(fpr, tpr))),
            }
        )
    out: dict[str, Any] = {"per_class": per_class, "micro": None, "macro": None}
    if len(columns) > 1 and full:
        fpr, tpr, _ = M.roc_curve(
            onehot.ravel(),
            proba.ravel(),
            sample_weight=None
            if sample_weight is None
            else np.repeat(sample_weight, proba.shape[1]),
        )
        fpr = np.asarray(fpr, dtype=np.float64)
        tpr = np.asarray(tpr, dtype=np.float64)
        idx = decimate_index(fpr, tpr, max_points=max_points)
        out["micro"] = {
            "fpr": _floats(fpr[idx]),
            "tpr": _floats(tpr[idx]),
            "auc": _finite(float(M.auc(fpr, tpr))),
        }
        # macro curve: mean of per-class TPR interpolated on a shared FPR grid
        grid = np.unique(
            np.concatenate(
                [np.linspace(0.0, 1.0, 201)]
                + [f[decimate_index(f, t, max_points=max_points // 2)] for f, t in full]
            )
        )
        mean_tpr = np.mean([np.interp(grid, f, t) for f, t in full], axis=0)
        mean_tpr[0] = 0.0 if grid[0] == 0.0 else mean_tpr[0]
        idx = decimate_index(grid, mean_tpr, max_points=max_points)
        aucs = [c["auc"] for c in per_class if c["auc"] is not None]
        out["macro"] = {
            "fpr": _floats(grid[idx]),
            "tpr": _floats(mean_tpr[idx]),
            "auc": float(np.mean(aucs)) if aucs else None,
        }
    return out


def pr_and_threshold_curves(
    onehot: NDArray[np.bool_],
    proba: FloatArray,
    names: list[str],
    columns: list[int],
    sample_weight: FloatArray | None,
    max_points: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-class PR curves with average precision (plus micro), and threshold trade-offs."""
    per_class: list[dict[str, Any]] = []
    tradeoff: list[dict[str, Any]] = []
    for k in columns:
        y = onehot[:, k]
        w = np.ones(y.shape[0]) if sample_weight is None else sample_weight
        prevalence = float(w[y].sum() / w.sum())
        if not y.any():
            per_class.append(
                {
                    "name": names[k],
                    "precision": [],
                    "recall": [],
                    "average_precision": None,
                    "prevalence": prevalence,
                }
            )
            tradeoff.append(
                {"name": names[k], "thresholds": [], "precision": [], "recall": [], "f1": []}
            )
            continue
        precision, recall, thresholds = M.precision_recall_curve(
            y, proba[:, k], sample_weight=sample_weight
        )
        precision = np.asarray(precision, dtype=np.float64)
        recall = np.asarray(recall, dtype=np.float64)
        thresholds = np.asarray(thresholds, dtype=np.float64)
        ap = float(M.average_precision_score(y, proba[:, k], sample_weight=sample_weight))
        idx = decimate_index(recall, precision, max_points=max_points)
        per_class.append(
            {
                "name": names[k],
                "precision": _floats(precision[idx]),
                "recall": _floats(recall[idx]),
                "average_precision": _finite(ap),
                "prevalence": prevalence,
            }
        )
        m = thresholds.shape[0]
        p_t, r_t = precision[:m], recall[:m]
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(p_t + r_t > 0, 2 * p_t * r_t / (p_t + r_t), 0.0)
        idx = decimate_index(thresholds, p_t, r_t, max_points=max_points)
        tradeoff.append(
            {
                "name": names[k],
                "thresholds": _floats(thresholds[idx]),
                "precision": _floats(p_t[idx]),
                "recall": _floats(r_t[idx]),
                "f1": _floats(f1[idx]),
            }
        )
    pr: dict[str, Any] = {"per_class": per_class, "micro": None}
    if len(columns) > 1 and onehot.any():
        w_rep = None if sample_weight is None else np.repeat(sample_weight, proba.shape[1])
        precision, recall, _ = M.precision_recall_curve(
            onehot.ravel(), proba.ravel(), sample_weight=w_rep
        )
        precision = np.asarray(precision, dtype=np.float64)
        recall = np.asarray(recall, dtype=np.float64)
        idx = decimate_index(recall, precision, max_points=max_points)
        ap = float(M.average_precision_score(onehot.ravel(), proba.ravel(), sample_weight=w_rep))
        pr["micro"] = {
            "precision": _floats(precision[idx]),
            "recall": _floats(recall[idx]),
            "average_precision": _finite(ap),
        }
    return pr, tradeoff
