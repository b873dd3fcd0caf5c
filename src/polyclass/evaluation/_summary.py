"""``evaluate``: every number the report shows about one set of predictions."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass._json import plain
from polyclass.evaluation import _backend as M
from polyclass.evaluation._calibration import calibration_summary
from polyclass.evaluation._curves import pr_and_threshold_curves, roc_curves
from polyclass.evaluation._uncertainty import (
    NoInterval,
    interval_or_none,
    label_intervals,
    ranking_intervals,
    undefined_notes,
)
from polyclass.evaluation._undefined import apply_undefined, undefined_metrics

FloatArray = NDArray[np.float64]

_FUNC = "evaluate"


def json_label(label: Any) -> Any:
    """A class label as a plain JSON value (numpy scalars become Python scalars)."""
    label = plain(label)
    if label is None or isinstance(label, bool | int | float | str):
        return label
    return str(label)


def _num(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def _pair(lo_hi: Any) -> list[float | None] | None:
    if lo_hi is None:
        return None
    lo, hi = lo_hi
    a, b = _num(lo), _num(hi)
    return None if a is None or b is None else [a, b]


def _encode(y: Any, classes: NDArray[Any], name: str) -> NDArray[np.intp]:
    """Positions of each value of ``y`` in ``classes``; raise naming unknown labels."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(
            f"{_FUNC}: {name} must be 1-D (one label per row), got shape {arr.shape}. "
            "Pass a list, 1-D array or pandas Series."
        )
    codes: NDArray[np.intp] = np.asarray(
        pd.Index(classes.tolist(), dtype=object).get_indexer(arr.tolist()), dtype=np.intp
    )
    unknown = arr[codes < 0].tolist()
    if unknown:
        shown = sorted({str(u) for u in unknown})[:5]
        raise ValueError(
            f"{_FUNC}: {name} has labels that are not in classes: {shown}. "
            f"classes are {[json_label(c) for c in classes]}; pass classes that include "
            "every label (usually the model's classes_)."
        )
    return codes


def _check_proba(proba: Any, n_rows: int, n_classes: int) -> FloatArray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1 and n_classes == 2:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape != (n_rows, n_classes):
        raise ValueError(
            f"{_FUNC}: proba must have shape (n_samples, n_classes) = ({n_rows}, {n_classes}), "
            f"got {p.shape}. Pass predict_proba's output with columns in the order of classes."
        )
    if not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            f"{_FUNC}: proba must hold probabilities in [0, 1] with no NaN or infinity; got "
            f"values in [{np.nanmin(p):.3g}, {np.nanmax(p):.3g}]. Pass predict_proba's output, "
            "not decision_function's."
        )
    if np.asarray(proba).dtype in (np.float32, np.float16) and p.ndim == 2:
        # a float32 model's rows sum to one within float32 precision only, which the
        # float64 metrics would refuse: renormalise the widened rows
        p = p / p.sum(axis=1, keepdims=True)
    return p


def _check_params(confidence_level: Any, n_bootstrap: Any) -> None:
    if (
        isinstance(confidence_level, bool)
        or not isinstance(confidence_level, Real)
        or not (0.0 < float(confidence_level) < 1.0)
    ):
        raise ValueError(
            f"The 'confidence_level' parameter of {_FUNC} must be a float in the range (0, 1). "
            f"Got {confidence_level!r} instead."
        )
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, Integral) or n_bootstrap < 0:
        raise ValueError(
            f"The 'n_bootstrap' parameter of {_FUNC} must be an int in the range [0, inf) "
            f"(0 turns the bootstrap off). Got {n_bootstrap!r} instead."
        )


def _metric(
    value: Any, ci: Any = None, method: str | None = None, greater: bool = True
) -> dict[str, Any]:
    """A metric entry; ``ci`` is a (low, high) pair, or an Interval carrying its method."""
    if ci is not None and hasattr(ci, "method"):
        method = ci.method
        ci = (ci.low, ci.high)
    pair = _pair(ci)
    return {
        "value": _num(value),
        "ci": pair,
        "ci_method": method if pair is not None else None,
        "greater_is_better": greater,
    }


def evaluate(
    y_true: Any,
    proba: Any,
    classes: Sequence[Any] | NDArray[Any],
    *,
    y_pred: Any = None,
    sample_weight: Any = None,
    confidence_level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
    positive_class: Any = None,
    max_curve_points: int = 400,
    n_calibration_bins: int = 10,
) -> dict[str, Any]:
    """Evaluate predicted probabilities against true labels: numbers, intervals, curves.

    Every value is a plain JSON type (float, int, str, list, dict, None for undefined),
    so the result goes straight into ``metrics.json`` and the HTML report.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; every value must be one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``. For two classes a
        1-D array of P(classes[1]) is accepted too.
    classes : sequence
        The class labels (the model's ``classes_``).
    y_pred : array-like of shape (n_samples,), optional
        Predicted labels when a decision rule other than the most probable class is
        used (a tuned threshold, a cost-minimising rule). Default: ``argmax(proba)``.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights, passed to every metric.
    confidence_level : float, default=0.95
        Level of every interval.
    n_bootstrap : int, default=1000
        Bootstrap replicates for the intervals of accuracy, balanced accuracy, MCC,
        macro/weighted F1, the F1 of each class, average precision and (multiclass)
        the one-vs-rest ROC AUC; 0 skips them.
    random_state : int or None, default=0
        Seed of the bootstrap.
    positive_class : label, optional
        Binary only: the class whose precision, recall, ROC, PR and threshold curves
        are reported. Default: ``classes[1]``.
    max_curve_points : int, default=400
        Curves longer than this are decimated (evenly along their length).
    n_calibration_bins : int, default=10
        Equal-width bins of the reliability diagram.

    Returns
    -------
    dict
        ``task``, ``n_samples``, ``classes``, ``class_names``, ``positive_class``,
        ``confidence_level``, ``n_bootstrap``; ``metrics`` (name -> ``value``, ``ci``,
        ``ci_method``, ``greater_is_better``; names as sklearn scorers: ``accuracy``,
        ``balanced_accuracy``, ``matthews_corrcoef``, ``log_loss``, ``f1_macro``,
        ``f1_weighted``, ``f1_micro``, ``precision_macro``, ``recall_macro``,
        ``roc_auc`` or ``roc_auc_ovr``/``roc_auc_ovr_weighted``, ``average_precision``,
        ``expected_calibration_error``, and for binary ``f1``, ``precision``,
        ``recall``); ``per_class`` rows (precision and recall with Wilson intervals, F1
        with a bootstrap interval, support, ROC AUC, AP, and ``undefined``: metric ->
        reason for a value that does not exist, shown as None, e.g. the precision of a
        class never predicted); ``averages`` (micro, macro, weighted rows);
        ``confusion_matrix`` (``counts``, ``normalized`` by row); ``roc``, ``pr``,
        ``calibration`` and ``threshold_tradeoff`` curves; ``notes`` (warnings the
        metrics raised, e.g. a class that never occurs in ``y_true``).

    Examples
    --------
    >>> import numpy as np
    >>> out = evaluate(["a", "b", "b"], np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]),
    ...                ["a", "b"], n_bootstrap=0)
    >>> round(out["metrics"]["accuracy"]["value"], 3), out["positive_class"]
    (0.667, 'b')
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _evaluate(
            y_true,
            proba,
            classes,
            y_pred=y_pred,
            sample_weight=sample_weight,
            confidence_level=confidence_level,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            positive_class=positive_class,
            max_curve_points=max_curve_points,
            n_calibration_bins=n_calibration_bins,
        )
    # metric warnings (a class never true, an undefined resample) become notes
    out["notes"] = [*out.pop("interval_notes"), *sorted({_for_reader(w.message) for w in caught})]
    return out


def _for_reader(message: Warning | str) -> str:
    """A metric warning as a note for a report's reader (who passes no ``labels``)."""
    text = str(message)
    if text.startswith("A single label was found in 'y_true' and 'y_pred'"):
        return "Only one class occurs in both the true labels and the predictions."
    return text


def _evaluate(
    y_true: Any,
    proba: Any,
    classes: Sequence[Any] | NDArray[Any],
    *,
    y_pred: Any = None,
    sample_weight: Any = None,
    confidence_level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
    positive_class: Any = None,
    max_curve_points: int = 400,
    n_calibration_bins: int = 10,
) -> dict[str, Any]:
    _check_params(confidence_level, n_bootstrap)
    classes_arr = np.asarray(classes, dtype=object)
    if classes_arr.ndim != 1 or classes_arr.shape[0] < 2:
        raise ValueError(
            f"{_FUNC}: classes must list at least two labels, got {list(classes_arr)!r}. "
            "Pass the model's classes_."
        )
    labels = [json_label(c) for c in classes_arr]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{_FUNC}: classes has duplicates: {labels}. Pass each label once.")
    names = [str(c) for c in labels]
    n_classes = len(labels)
    t = _encode(y_true, classes_arr, "y_true")
    n = t.shape[0]
    if n == 0:
        raise ValueError(f"{_FUNC}: y_true is empty. Pass at least one labelled row.")
    p = _check_proba(proba, n, n_classes)
    pred = (
        p.argmax(axis=1).astype(np.intp)
        if y_pred is None
        else _encode(y_pred, classes_arr, "y_pred")
    )
    if pred.shape[0] != n:
        raise ValueError(
            f"{_FUNC}: y_pred has {pred.shape[0]} rows but y_true has {n}. Pass one per row."
        )
    w: FloatArray | None = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(
                f"{_FUNC}: sample_weight must be {n} finite, non-negative numbers with a "
                f"positive sum; got shape {w.shape}. Pass one weight per row."
            )
    binary = n_classes == 2
    pos: int | None = None
    if binary:
        if positive_class is None:
            pos = 1
        else:
            key = json_label(positive_class)
            if key not in labels:
                raise ValueError(
                    f"{_FUNC}: positive_class {positive_class!r} is not one of the classes "
                    f"{labels}. Pass one of them."
                )
            pos = labels.index(key)
    elif positive_class is not None:
        raise ValueError(
            f"{_FUNC}: positive_class is for binary problems; this one has {n_classes} "
            "classes. Leave positive_class=None."
        )
    label_idx = np.arange(n_classes)
    onehot = t[:, None] == label_idx[None, :]
    level = float(confidence_level)

    # --- label metrics -------------------------------------------------------------
    cm = np.asarray(
        M.confusion_matrix(t, pred, labels=label_idx, sample_weight=w), dtype=np.float64
    )
    prec, rec, f1, _ = M.precision_recall_fscore_support(
        t, pred, labels=label_idx, sample_weight=w, zero_division=0
    )
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    prec_ci = np.column_stack(M.wilson_interval(tp, predicted, level))
    rec_ci = np.column_stack(M.wilson_interval(tp, support, level))
    averages: dict[str, dict[str, Any]] = {}
    for avg in ("micro", "macro", "weighted"):
        ap_, ar_, af_, _ = M.precision_recall_fscore_support(
            t, pred, labels=label_idx, average=avg, sample_weight=w, zero_division=0
        )
        averages[avg] = {
            "precision": _num(ap_),
            "recall": _num(ar_),
            "f1": _num(af_),
            "support": _num(support.sum()),
        }
    boot_all = label_intervals(t, pred, label_idx, w, int(n_bootstrap), level, random_state)
    boot = {k: interval_or_none(v) for k, v in boot_all.items()}
    for avg, key in (("macro", "f1_macro"), ("weighted", "f1_weighted"), ("micro", "accuracy")):
        ci_ = boot.get(key)  # micro F1 == accuracy
        averages[avg]["f1_ci"] = None if ci_ is None else _pair(ci_[:2])
    method = "bootstrap"
    metrics: dict[str, dict[str, Any]] = {
        "accuracy": _metric(
            M.accuracy_score(t, pred, sample_weight=w), boot.get("accuracy"), method
        ),
        "balanced_accuracy": _metric(
            M.balanced_accuracy_score(t, pred, sample_weight=w),
            boot.get("balanced_accuracy"),
            method,
        ),
        "matthews_corrcoef": _metric(
            M.matthews_corrcoef(t, pred, sample_weight=w), boot.get("matthews_corrcoef"), method
        ),
        "f1_macro": _metric(averages["macro"]["f1"], boot.get("f1_macro"), method),
        "f1_weighted": _metric(averages["weighted"]["f1"], boot.get("f1_weighted"), method),
        "f1_micro": _metric(averages["micro"]["f1"], boot.get("accuracy"), method),
        "precision_macro": _metric(averages["macro"]["precision"], boot.get("precision_macro")),
        "recall_macro": _metric(averages["macro"]["recall"], boot.get("recall_macro")),
        "log_loss": _metric(M.log_loss(t, p, labels=label_idx, sample_weight=w), greater=False),
    }
    if pos is not None:
        never_predicted = predicted[pos] == 0  # precision undefined, not 0
        metrics["precision"] = _metric(
            np.nan if never_predicted else prec[pos], prec_ci[pos], "wilson"
        )
        metrics["recall"] = _metric(rec[pos], rec_ci[pos], "wilson")
        metrics["f1"] = _metric(f1[pos], boot.get(f"f1_class_{pos}"), method)

    # --- curves --------------------------------------------------------------------
    columns = [pos] if pos is not None else list(range(n_classes))
    roc = roc_curves(onehot, p, names, columns, w, max_curve_points)
    pr, tradeoff = pr_and_threshold_curves(onehot, p, names, columns, w, max_curve_points)
    auc_by_name = {c["name"]: c["auc"] for c in roc["per_class"]}
    ap_by_name = {c["name"]: c["average_precision"] for c in pr["per_class"]}
    ranked_all, ranking_notes = ranking_intervals(
        t, p, pos, w, int(n_bootstrap), level, random_state, names
    )
    ranked = {k: interval_or_none(v) for k, v in ranked_all.items()}
    if pos is not None:
        roc_auc_value = auc_by_name[names[pos]]
        ci = ranked.get("roc_auc")
        roc["auc_ci"] = None if ci is None else _pair(ci[:2])
        metrics["roc_auc"] = _metric(np.nan if roc_auc_value is None else roc_auc_value, ci)
        ap_value = ap_by_name[names[pos]]
        metrics["average_precision"] = _metric(
            np.nan if ap_value is None else ap_value, ranked.get("average_precision")
        )
    else:
        roc["auc_ci"] = None
        # one-vs-rest AUCs of the classes present (sklearn raises when one is absent)
        per_auc = np.array([np.nan if auc_by_name[nm] is None else auc_by_name[nm] for nm in names])
        ok = np.isfinite(per_auc)
        metrics["roc_auc_ovr"] = _metric(
            per_auc[ok].mean() if ok.any() else np.nan, ranked.get("roc_auc_ovr")
        )
        metrics["roc_auc_ovr_weighted"] = _metric(
            (per_auc[ok] * support[ok]).sum() / support[ok].sum() if ok.any() else np.nan,
            ranked.get("roc_auc_ovr_weighted"),
        )
        per_ap = np.array([np.nan if ap_by_name[nm] is None else ap_by_name[nm] for nm in names])
        ok = np.isfinite(per_ap)
        metrics["average_precision"] = _metric(
            per_ap[ok].mean() if ok.any() else np.nan, ranked.get("average_precision")
        )
        metrics["average_precision_weighted"] = _metric(
            (per_ap[ok] * support[ok]).sum() / support[ok].sum() if ok.any() else np.nan,
            ranked.get("average_precision_weighted"),
        )
    calibration = calibration_summary(onehot, p, names, pos, w, n_calibration_bins)
    metrics["expected_calibration_error"] = _metric(calibration["ece"], greater=False)

    reasons = undefined_metrics(names, support, predicted, pos)
    apply_undefined(metrics, reasons)
    for avg_key, field in (("f1_macro", "f1"), ("precision_macro", "precision")):
        if avg_key in reasons:
            averages["macro"][field] = None
    if "recall_macro" in reasons:
        averages["macro"]["recall"] = None
    if "f1_macro" in reasons:
        averages["macro"]["f1_ci"] = None
    no_interval = _no_interval_notes(metrics, {**boot_all, **ranked_all})
    undefined, undefined_summary = undefined_notes(names, support, predicted)
    per_class_note = (
        [f"No per-class F1 intervals: {n_classes} classes are too many to resample here."]
        if boot and not any(key.startswith("f1_class_") for key in boot)
        else []
    )
    per_class = []
    for k in range(n_classes):
        f1_ci = boot.get(f"f1_class_{k}")
        per_class.append(
            {
                "label": labels[k],
                "name": names[k],
                "precision": None if "precision" in undefined[k] else _num(prec[k]),
                "precision_ci": _pair(prec_ci[k]),
                "recall": None if "recall" in undefined[k] else _num(rec[k]),
                "recall_ci": _pair(rec_ci[k]),
                "f1": None if "f1" in undefined[k] else _num(f1[k]),
                "f1_ci": None if f1_ci is None else _pair(f1_ci[:2]),
                "undefined": undefined[k],
                "support": _num(support[k]),
                "predicted": _num(predicted[k]),
                "roc_auc": auc_by_name.get(names[k]),
                "average_precision": ap_by_name.get(names[k]),
            }
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = np.where(
            support[:, None] > 0, cm / np.where(support > 0, support, 1)[:, None], 0.0
        )
    counts: list[list[float]] | list[list[int]]
    if w is None:
        counts = cm.astype(np.int64).tolist()
    else:
        counts = cm.tolist()
    return {
        "task": "binary" if binary else "multiclass",
        "n_samples": int(n),
        "classes": labels,
        "class_names": names,
        "positive_class": None if pos is None else labels[pos],
        "confidence_level": level,
        "n_bootstrap": int(n_bootstrap),
        "decision_rule": "argmax" if y_pred is None else "given",
        "metrics": metrics,
        "per_class": per_class,
        "averages": averages,
        "confusion_matrix": {
            "labels": names,
            "counts": counts,
            "normalized": normalized.tolist(),
        },
        "roc": roc,
        "pr": pr,
        "calibration": calibration,
        "threshold_tradeoff": tradeoff,
        "interval_notes": [*undefined_summary, *no_interval, *ranking_notes, *per_class_note],
    }


def _no_interval_notes(metrics: dict[str, dict[str, Any]], found: dict[str, Any]) -> list[str]:
    """Give each defined metric without an interval the reason (``ci_note``); as notes."""
    notes = []
    for key, entry in metrics.items():
        why = found.get(key)
        if entry["value"] is not None and entry["ci"] is None and isinstance(why, NoInterval):
            entry["ci_note"] = f"no interval: {why.reason}"
            notes.append(f"{key}: {entry['ci_note']}")
    return notes
