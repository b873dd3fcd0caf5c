"""The intervals ``evaluate`` reports: bootstrap for the label and ranking metrics,
DeLong for the binary ROC AUC, and notes where a value or its interval is undefined."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from polyclass.evaluation import _backend as M

FloatArray = NDArray[np.float64]
# Rows x classes x resamples the ranking bootstraps may cost (each is O(n) per class).
RANKING_BUDGET = 10_000_000
# Classes x resamples x cells the per-class F1 bootstraps may cost.
PER_CLASS_BUDGET = 50_000_000
# Fewer resamples than this make a percentile interval's ends too noisy to show.
MIN_RESAMPLES = 200


class Interval(NamedTuple):
    """Ends of an interval and how it was made (``ci.method`` of the metrics)."""

    low: float
    high: float
    method: str


class NoInterval(NamedTuple):
    """Why a metric has no interval (its bootstrap collapsed with no rule to widen it)."""

    reason: str


def interval_or_none(x: Interval | NoInterval | None) -> Interval | None:
    """``x`` if it is an interval, else None."""
    return x if isinstance(x, Interval) else None


def _ci(
    metric: str, y: Any, pred: Any, opts: dict[str, Any], **kwargs: Any
) -> Interval | NoInterval:
    """The bootstrap interval, or why there is none (it collapsed with no rule)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ci = M.bootstrap_ci(metric, y, pred, **opts, **kwargs)
    collapsed = [str(w.message) for w in caught if "boundary-aware" in str(w.message)]
    for w in caught:  # the others stay warnings (evaluate turns them into notes)
        if str(w.message) not in collapsed:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if ci.low == ci.high:
        reason = collapsed[0] if collapsed else f"every resample gives {ci.low:.4g}"
        return NoInterval(reason.removeprefix("bootstrap_ci: "))
    method = "bootstrap" if ci.method == "percentile" else ci.method
    return Interval(float(ci.low), float(ci.high), method)


def label_intervals(
    t: NDArray[np.intp],
    pred: NDArray[np.intp],
    labels: NDArray[np.intp],
    w: FloatArray | None,
    n_bootstrap: int,
    level: float,
    random_state: int | None,
) -> dict[str, Interval | NoInterval]:
    """Bootstrap intervals of the label metrics, and F1 of each class (``f1_class_<k>``).

    The per-class intervals are skipped (left None) beyond ``PER_CLASS_BUDGET``.
    """
    if n_bootstrap == 0:
        return {}
    opts: dict[str, Any] = {
        "sample_weight": w,
        "n_resamples": n_bootstrap,
        "confidence_level": level,
        "random_state": random_state,
    }
    f1_opts = {"labels": labels, "zero_division": 0}
    out = {
        "accuracy": _ci("accuracy_score", t, pred, opts),
        "balanced_accuracy": _ci("balanced_accuracy_score", t, pred, opts),
        "matthews_corrcoef": _ci("matthews_corrcoef", t, pred, opts),
        "f1_macro": _ci("f1_score", t, pred, opts, average="macro", **f1_opts),
        "f1_weighted": _ci("f1_score", t, pred, opts, average="weighted", **f1_opts),
        "precision_macro": _ci("precision_score", t, pred, opts, average="macro", **f1_opts),
        "recall_macro": _ci("recall_score", t, pred, opts, average="macro", **f1_opts),
    }
    present = np.zeros(len(labels), dtype=bool)
    present[np.unique(np.concatenate([t, pred]))] = True
    # A resample of a label metric costs about min(rows, cells); one call per class.
    cost = int(present.sum()) * n_bootstrap * min(len(t), len(labels) ** 2)
    if cost > PER_CLASS_BUDGET:
        return out
    for k in labels[present]:
        # F1 of class k alone: its macro average over the one label.
        out[f"f1_class_{k}"] = _ci(
            "f1_score", t, pred, opts, average="macro", labels=[k], zero_division=0
        )
    return out


def ranking_intervals(
    t: NDArray[np.intp],
    p: FloatArray,
    pos: int | None,
    w: FloatArray | None,
    n_bootstrap: int,
    level: float,
    random_state: int | None,
    names: list[str],
) -> tuple[dict[str, Interval | NoInterval], list[str]]:
    """Intervals of ROC AUC and average precision, and notes on those left out.

    Binary: DeLong for ROC AUC (closed form), bootstrap for average precision.
    Multiclass: bootstrap of the one-vs-rest macro and weighted averages, defined
    only when every class occurs in ``y_true``. A resample costs O(rows x classes), so
    the resamples are capped by ``RANKING_BUDGET`` (at least ``MIN_RESAMPLES``, else
    no interval and a note).
    """
    out: dict[str, Interval | NoInterval] = {}
    notes: list[str] = []
    n_classes = p.shape[1]
    columns = 1 if pos is not None else n_classes
    affordable = RANKING_BUDGET // max(len(t) * columns, 1)
    if n_bootstrap and affordable < min(n_bootstrap, MIN_RESAMPLES):
        notes.append(
            f"No bootstrap interval for average precision{'' if pos is not None else ' or ROC AUC'}"
            f": {len(t)} rows x {columns} class(es) are too many to resample "
            f"{MIN_RESAMPLES} times within the evaluation's budget."
        )
        n_bootstrap = 0
    n_bootstrap = min(n_bootstrap, affordable)
    opts: dict[str, Any] = {
        "sample_weight": w,
        "n_resamples": n_bootstrap,
        "confidence_level": level,
        "random_state": random_state,
    }
    if pos is not None:
        y = t == pos
        delong = _delong(y, p[:, pos], w, level)
        if delong is not None:
            out["roc_auc"] = delong
        if n_bootstrap and y.any():
            out["average_precision"] = _ci(
                "average_precision_score", y.astype(np.intp), p[:, pos], opts
            )
        return out, notes
    if n_bootstrap == 0:
        return out, notes
    weights = np.ones(len(t)) if w is None else w
    missing = [names[k] for k in range(n_classes) if not (weights[t == k] > 0).any()]
    if missing:
        notes.append(
            f"No interval for the one-vs-rest ROC AUC and average precision: class(es) "
            f"{missing} never occur in y_true, so their curves are undefined."
        )
        return out, notes
    labels = np.arange(n_classes)
    for average, suffix in (("macro", ""), ("weighted", "_weighted")):
        out[f"roc_auc_ovr{suffix}"] = _ci(
            "roc_auc_score", t, p, opts, multi_class="ovr", average=average, labels=labels
        )
        out[f"average_precision{suffix}"] = _ci(
            "average_precision_score", t, p, opts, average=average
        )
    return out, notes


def _delong(
    y: NDArray[np.bool_], score: FloatArray, w: FloatArray | None, level: float
) -> Interval | None:
    """DeLong interval of the binary ROC AUC, or None with fewer than 2 of either class."""
    weights = np.ones(y.shape[0]) if w is None else w
    if (weights[y] > 0).sum() < 2 or (weights[~y] > 0).sum() < 2:
        return None
    ci = M.roc_auc_ci(y, score, confidence_level=level, sample_weight=w, pos_label=True)
    return Interval(float(ci.low), float(ci.high), "delong")


def undefined_notes(
    names: list[str], support: FloatArray, predicted: FloatArray
) -> tuple[list[dict[str, str]], list[str]]:
    """Per-class reasons a precision or recall is undefined, and the summary notes."""
    rows: list[dict[str, str]] = []
    notes: list[str] = []
    for name, s, q in zip(names, support, predicted, strict=True):
        row = {}
        if q == 0:
            row["precision"] = "undefined: the class was never predicted"
        if s == 0:
            row["recall"] = "undefined: the class never occurs in y_true"
        if s == 0 and q == 0:
            row["f1"] = "undefined: the class neither occurs nor is predicted"
        rows.append(row)
        if row:
            what = "; ".join(f"{k} is {v}" for k, v in row.items())
            notes.append(f"Class {name!r}: {what}; so is the macro average over the classes.")
    return rows, notes
