"""Alerts: which findings call for action, the features that moved most, what to run.

Four rules, each documented in ``docs/architecture.md``:

- ``data_drift``: by ``drift_alert``: ``"important"`` (default) when a drifted column is
  one of the model's ``important_features`` most important ones (its permutation
  importance at training; every column when the model predates it) or the share of
  drifted columns reached ``drift_share``; ``"any"`` when any column drifted;
  ``"share"`` only when the share reached ``drift_share``;
- ``prediction_drift``: the predicted class mix drifted from the reference mix;
- ``performance``: with at least ``min_labels`` labelled rows, the live value of
  ``performance_metric`` (default the model's own metric) is below its threshold
  (``performance_min``, default the model's test value minus ``performance_tolerance``);
- ``estimated_performance``: while fewer than ``min_labels`` rows carry a label, the
  CBPE estimate is below the same estimate on the model's held-out rows minus the
  tolerance (or ``performance_min``).

Every alert names the features that moved most and a retraining command.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Any

from polyclass.monitor._config import MonitorConfig

# The estimate has no balanced accuracy; it equals macro recall.
_ESTIMATE_KEY = {"balanced_accuracy": "recall_macro"}


@dataclass
class Alert:
    """One reason to act."""

    kind: str
    message: str
    value: float | None = None
    threshold: float | None = None
    features: list[str] = field(default_factory=list)
    retrain_command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "kind": self.kind,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "features": self.features,
            "retrain_command": self.retrain_command,
        }


def performance_threshold(
    config: MonitorConfig, reference: dict[str, float], metric: str
) -> float | None:
    """The live-metric threshold: configured, else the test value minus the tolerance."""
    if config.performance_min is not None:
        return config.performance_min
    base = reference.get(metric)
    return None if base is None else max(0.0, base - config.performance_tolerance)


def estimate_threshold(
    config: MonitorConfig, reference: dict[str, float], metric: str
) -> float | None:
    """The threshold of the CBPE estimate: configured, else the estimate on the model's
    held-out rows minus the tolerance (so a calibration bias cancels out), else the
    live-metric threshold."""
    if config.performance_min is not None:
        return config.performance_min
    base = reference.get(f"cbpe_{_ESTIMATE_KEY.get(metric, metric)}")
    if base is None:
        return performance_threshold(config, reference, metric)
    return max(0.0, base - config.performance_tolerance)


def _drift_alert(drift: dict[str, Any], config: MonitorConfig, important: list[str]) -> str:
    """Why drift calls for action under ``config.drift_alert`` ('' when it does not)."""
    drifted = [f["name"] for f in drift.get("features", []) if f["drifted"]]
    if not drifted:
        return ""
    listed = f"{len(drifted)} of {drift['n_features']} features drifted ({', '.join(drifted)})"
    share = (
        f"share {drift['drift_share']:.2f} >= {drift['threshold']:.2f}"
        if drift.get("dataset_drift")
        else ""
    )
    if config.drift_alert == "any":
        return f"{listed}."
    if config.drift_alert == "share":
        return f"{listed}; {share}." if share else ""
    watched = important[: config.important_features] if important else drifted
    hit = [n for n in drifted if n in watched]
    if hit:
        rank = f"the {len(watched)} most important" if important else "the checked"
        return f"{listed}; {', '.join(hit)} among {rank} features."
    return f"{listed}; {share}." if share else ""


def default_retrain_command(name: str, target: str | None, data_path: str | None) -> str:
    """The closed loop: export the labelled feedback, then ``polyclass retrain`` on the
    lineage's data (if known) plus that feedback. ``target`` is kept for callers."""
    data = shlex.quote(data_path) if data_path else "ORIGINAL_DATA.csv"
    ref = shlex.quote(f"{name}@production")
    return (
        f"polyclass feedback export {ref} -o feedback.parquet && "
        f"polyclass retrain {ref} --data {data} --feedback feedback.parquet"
    )


def evaluate_alerts(
    result: dict[str, Any], config: MonitorConfig, *, retrain_command: str
) -> list[Alert]:
    """Alerts for a monitoring result (the dict of ``MonitorResult.to_dict()``)."""
    alerts: list[Alert] = []
    drift = result.get("drift") or {}
    top = [
        f["name"]
        for f in sorted(
            drift.get("features", []), key=lambda f: -(f["stats"].get("jensenshannon") or 0.0)
        )[:5]
        if (f["stats"].get("jensenshannon") or 0.0) > 0
    ]
    moved = f" Moved most: {', '.join(top)}." if top else ""

    def add(kind: str, message: str, value: float | None, threshold: float | None) -> None:
        alerts.append(
            Alert(
                kind,
                message + moved + f" Retrain: {retrain_command}",
                value,
                threshold,
                top,
                retrain_command,
            )
        )

    why = _drift_alert(drift, config, list(result["model"].get("important_features") or []))
    if why:
        add("data_drift", f"Data drift: {why}", drift["drift_share"], drift["threshold"])
    mix = (result.get("prediction") or {}).get("class_mix")
    if mix and mix.get("drifted"):
        judged = mix["statistic"] if mix.get("p_value") is None else mix["p_value"]
        what = "" if mix.get("p_value") is None else " p-value"
        add(
            "prediction_drift",
            f"Prediction drift: the predicted class mix moved ({mix['method']}{what} "
            f"{_fmt(judged)} vs threshold {mix['threshold']:g}).",
            judged,
            mix["threshold"],
        )
    metric = result["performance_metric"]
    threshold = performance_threshold(config, result.get("reference_performance") or {}, metric)
    live = (result.get("live") or {}).get("overall") or {}
    if threshold is not None and live.get("n", 0) >= max(config.min_labels, 1):
        value = live.get(metric)
        if value is not None and value < threshold:
            add(
                "performance",
                f"Live {metric} is {value:.4f} on {live['n']} labelled rows, below "
                f"{threshold:.4f}.",
                value,
                threshold,
            )
    est = (result.get("estimate") or {}).get("overall") or {}
    est_key = _ESTIMATE_KEY.get(metric, metric)
    threshold = estimate_threshold(config, result.get("reference_performance") or {}, metric)
    few_labels = live.get("n", 0) < max(config.min_labels, 1)
    if threshold is not None and few_labels and est.get("n", 0) >= max(config.min_labels, 1):
        value = est.get(est_key)
        if value is not None and value < threshold:
            add(
                "estimated_performance",
                f"Estimated {metric} (CBPE, from the model's probabilities, before labels) "
                f"is {value:.4f} on {est['n']} rows, below {threshold:.4f}.",
                value,
                threshold,
            )
    return alerts


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def run_alert_command(
    command: str, alerts: list[Alert], *, report: str | None = None, timeout: float = 300.0
) -> dict[str, Any]:
    """Run ``command`` (split like a shell, no shell) with the alerts as JSON on stdin.

    The environment also carries ``POLYCLASS_ALERTS`` (the alert kinds, comma-separated),
    ``POLYCLASS_RETRAIN_COMMAND`` and ``POLYCLASS_MONITOR_REPORT`` (the report path, if any).
    Returns ``{"command", "returncode", "error"}``; never raises.
    """
    env = dict(os.environ)
    env["POLYCLASS_ALERTS"] = ",".join(a.kind for a in alerts)
    env["POLYCLASS_RETRAIN_COMMAND"] = alerts[0].retrain_command if alerts else ""
    if report:
        env["POLYCLASS_MONITOR_REPORT"] = report
    payload = json.dumps([a.to_dict() for a in alerts])
    try:
        done = subprocess.run(
            shlex.split(command),
            input=payload,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
            capture_output=True,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return {"command": command, "returncode": None, "error": f"{type(exc).__name__}: {exc}"}
    err = done.stderr.strip()[-500:] if done.returncode else ""
    return {"command": command, "returncode": done.returncode, "error": err or None}
