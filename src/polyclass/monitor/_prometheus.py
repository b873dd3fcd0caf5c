"""Monitoring findings as Prometheus gauges (text exposition format 0.0.4).

Every series is a gauge named ``polyclass_monitor_*`` with a ``model`` label; NaN is
written as ``NaN`` (valid in the format) when a value is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from polyclass.monitor._monitor import MonitorResult

_HELP = {
    "up": "1 when the last monitoring run read the log, 0 when it failed.",
    "rows": "Predicted rows in the monitored period.",
    "labelled_rows": "Predicted rows with a feedback label.",
    "segments_skipped": "Log segments skipped as corrupt or unreadable (or missing).",
    "feature_drift_score": "Jensen-Shannon distance of a feature to its reference.",
    "feature_drift_statistic": "The statistic of the feature's drift method (KS D, PSI, ...).",
    "feature_drift_p_value": "The p-value of the feature's drift test (ks, chisquare).",
    "feature_drifted": "1 when the feature's drift method flagged drift.",
    "dataset_drift_share": "Share of features that drifted.",
    "dataset_drift": "1 when the share of drifted features reached its threshold.",
    "prediction_drift": "1 when the predicted class mix drifted.",
    "predicted_class_share": "Share of predictions per class.",
    "live_accuracy": "Accuracy on labelled predictions.",
    "live_f1_macro": "Macro F1 on labelled predictions.",
    "live_f1_weighted": "Weighted F1 on labelled predictions.",
    "live_precision": "Per-class precision on labelled predictions.",
    "live_recall": "Per-class recall on labelled predictions.",
    "estimated_accuracy": "Accuracy estimated from probabilities (CBPE), before labels.",
    "estimated_f1_macro": "Macro F1 estimated from probabilities (CBPE), before labels.",
    "alert": "1 when this kind of alert fired in the last run.",
}
_ALERT_KINDS = ("data_drift", "prediction_drift", "performance", "estimated_performance")


def _label(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(v: Any) -> str:
    if v is None:
        return "NaN"
    if isinstance(v, bool):
        return "1" if v else "0"
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f) if not f.is_integer() else str(int(f))


class _Writer:
    def __init__(self, model: str) -> None:
        self.model = model
        self.series: dict[str, list[str]] = {}

    def add(self, name: str, value: Any, **labels: Any) -> None:
        items = [("model", self.model), *sorted(labels.items())]
        text = ",".join(f'{k}="{_label(v)}"' for k, v in items)
        self.series.setdefault(name, []).append(
            f"polyclass_monitor_{name}{{{text}}} {_value(value)}"
        )

    def text(self) -> str:
        lines: list[str] = []
        for name, rows in self.series.items():
            full = f"polyclass_monitor_{name}"
            lines.append(f"# HELP {full} {_HELP.get(name, name)}")
            lines.append(f"# TYPE {full} gauge")
            lines.extend(rows)
        return "\n".join(lines) + "\n"


def gauges(result: MonitorResult) -> str:
    """The gauges of one monitoring run.

    Examples
    --------
    >>> print(failure_gauges("m", "no log").splitlines()[-1])
    polyclass_monitor_up{model="m"} 0
    """
    d = result.to_dict()
    w = _Writer(str(d["model"]["name"]))
    w.add("up", 1)
    w.add("rows", d["log"]["rows"])
    w.add("segments_skipped", len(d["log"]["problems"]))
    live = d.get("live") or {}
    w.add("labelled_rows", live.get("n_labelled", 0))
    drift = d.get("drift")
    if drift:
        for f in drift["features"]:
            w.add("feature_drift_score", f["stats"].get("jensenshannon"), feature=f["name"])
        for f in drift["features"]:
            w.add("feature_drift_statistic", f["statistic"], feature=f["name"], method=f["method"])
            if f["p_value"] is not None:
                w.add("feature_drift_p_value", f["p_value"], feature=f["name"], method=f["method"])
        for f in drift["features"]:
            w.add("feature_drifted", f["drifted"], feature=f["name"])
        w.add("dataset_drift_share", drift["drift_share"])
        w.add("dataset_drift", drift["dataset_drift"])
    pred = d.get("prediction") or {}
    w.add("prediction_drift", pred.get("drifted", False))
    mix = pred.get("class_mix")
    if mix:
        for lab, share in zip(mix["labels"], mix["current"], strict=False):
            w.add("predicted_class_share", share, **{"class": lab})
    overall = live.get("overall") or {}
    if overall.get("n"):
        w.add("live_accuracy", overall.get("accuracy"))
        w.add("live_f1_macro", overall.get("f1_macro"))
        w.add("live_f1_weighted", overall.get("f1_weighted"))
        for lab, m in overall.get("per_class", {}).items():
            w.add("live_precision", m.get("precision"), **{"class": lab})
        for lab, m in overall.get("per_class", {}).items():
            w.add("live_recall", m.get("recall"), **{"class": lab})
    est = (d.get("estimate") or {}).get("overall") or {}
    if est.get("n"):
        w.add("estimated_accuracy", est.get("accuracy"))
        w.add("estimated_f1_macro", est.get("f1_macro"))
    fired = {a["kind"] for a in d["alerts"]}
    for kind in _ALERT_KINDS:
        w.add("alert", kind in fired, kind=kind)
    return w.text()


def failure_gauges(model: str, error: str) -> str:
    """``polyclass_monitor_up 0`` with the error as a comment (a run that failed)."""
    w = _Writer(model)
    w.add("up", 0)
    comment = "# " + " ".join(error.split())[:300]
    return comment + "\n" + w.text()


def series_names(text: str) -> Iterable[str]:
    """Metric names present in exposition ``text`` (for tests and tools)."""
    for line in text.splitlines():
        if line and not line.startswith("#"):
            yield line.split("{", 1)[0].split(" ", 1)[0]
