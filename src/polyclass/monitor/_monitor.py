"""One monitoring run: read the log, compare with the reference, score, raise alerts.

:func:`monitor` is what ``polyclass monitor`` runs; :func:`monitor_gauges` is the small
entry point the server calls in the background for its ``/metrics`` page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from polyclass.monitor._alerts import (
    Alert,
    default_retrain_command,
    estimate_threshold,
    evaluate_alerts,
    performance_threshold,
)
from polyclass.monitor._config import MonitorConfig
from polyclass.monitor._drift import (
    DriftSummary,
    class_mix_reference,
    count_values,
    feature_drift,
    summarize_drift,
)
from polyclass.monitor._estimate import estimate_performance
from polyclass.monitor._live import class_codes, live_performance, parse_window
from polyclass.monitor._logs import LogData, read_log
from polyclass.monitor._reference import Reference
from polyclass.monitor._timefmt import iso, to_micros

#: Per-window drift is computed for at most this many windows (the latest ones).
MAX_DRIFT_WINDOWS = 500


@dataclass
class ResolvedModel:
    """A model to monitor, what it is called and where its log is by default."""

    model: Any
    name: str
    version: int | None
    log_dir: Path
    lineage: dict[str, Any] = field(default_factory=dict)


def resolve_model(ref: Any, *, registry: str | None = None) -> ResolvedModel:
    """Load ``ref`` (a Model, an artifact path or a registry reference) and find its log.

    The default log follows ``polyclass serve``: ``<registry folder>/logs/<name>`` for a
    registry model (the folder holding the registry's artifact folder), and
    ``./.polyclass/logs/<directory name>`` for a model served from a path.
    """
    from polyclass.model import Model

    if isinstance(ref, Model):
        name = str(ref.info.get("name") or (ref.path.name if ref.path else "model"))
        return ResolvedModel(ref, name, None, Path(".polyclass").absolute() / "logs" / name)
    path = Path(str(ref)).expanduser()
    if path.exists():
        model = Model.load(path)
        return ResolvedModel(
            model, path.name, None, Path(".polyclass").absolute() / "logs" / path.name
        )
    from polyclass.registry import Registry

    with Registry(registry) as store:
        version = store.resolve(str(ref))
        root = Path(store.root).parent
    model = Model.load(version.path)
    lineage = dict(getattr(version, "lineage", None) or {})
    return ResolvedModel(
        model, version.name, version.version, root / "logs" / version.name, lineage
    )


@dataclass
class MonitorResult:
    """Everything one run found; ``to_dict()`` is the JSON output."""

    model: dict[str, Any]
    log: dict[str, Any]
    drift: DriftSummary | None
    drift_windows: list[dict[str, Any]]
    prediction: dict[str, Any]
    live: dict[str, Any] | None
    estimate: dict[str, Any] | None
    reference_performance: dict[str, float]
    performance_threshold: float | None
    config: MonitorConfig
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alert_command: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """1 when an alert fired, else 0 (the CLI's exit status)."""
        return 1 if self.alerts else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (strict: no NaN)."""
        return {
            "model": self.model,
            "log": self.log,
            "status": "alert" if self.alerts else "ok",
            "alerts": [a.to_dict() for a in self.alerts],
            "drift": None if self.drift is None else self.drift.to_dict(),
            "drift_windows": self.drift_windows,
            "prediction": self.prediction,
            "live": self.live,
            "estimate": self.estimate,
            "reference_performance": self.reference_performance,
            "performance_metric": self.config.performance_metric,
            "performance_threshold": self.performance_threshold,
            "estimate_threshold": estimate_threshold(self.config, self.reference_performance),
            "notes": self.notes,
            "alert_command": self.alert_command,
            "timings": self.timings,
        }


def _prediction_drift(
    ref: Reference, data: LogData, config: MonitorConfig, pred_codes: np.ndarray[Any, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"class_mix": None, "scores": []}
    if ref.predicted_counts is not None and data.n_rows:
        mix_ref = class_mix_reference(ref.classes, ref.predicted_counts)
        k = len(ref.classes)
        codes = np.where((pred_codes >= 0) & (pred_codes < k), pred_codes, k)
        counts = np.bincount(codes, minlength=k + 1).astype(np.int64)[None, :]
        from polyclass.monitor._drift import BinCounts

        out["class_mix"] = feature_drift(
            mix_ref, BinCounts(counts, np.zeros(1, np.int64)), config
        ).to_dict()
    if ref.scores and data.proba is not None and data.n_rows:
        for k, sref in enumerate(ref.scores):
            d = feature_drift(sref, count_values(sref, data.proba[:, k]), config)
            out["scores"].append(d.to_dict())
    mix = out["class_mix"]
    out["drifted"] = bool(mix and mix["drifted"])
    return out


def monitor(
    model: Any,
    log_dir: str | Path | None = None,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    window: str | None = None,
    config: MonitorConfig | None = None,
    registry: str | None = None,
) -> MonitorResult:
    """Compare a model's logged traffic with its reference and score its feedback.

    Parameters
    ----------
    model : Model, str or Path
        The model, an artifact directory or a registry reference (``name``,
        ``name@alias``, ``name:3``). With a registry version, only rows that version
        logged are used.
    log_dir : str or Path, optional
        The log folder (``<root>/logs/<name>``); default where ``polyclass serve``
        writes it for this model.
    since, until : datetime or ISO string, optional
        Predictions with ``since <= ts < until``.
    window : str, optional
        Window length for the time series (``'1h'``; default ``config.window``).
    config : MonitorConfig, optional
        Methods, thresholds and alert options.
    registry : str, optional
        Registry URL (default ``POLYCLASS_REGISTRY`` or ``./.polyclass``).

    Returns
    -------
    MonitorResult
        ``exit_code`` is 1 when an alert fired.

    Examples
    --------
    >>> from polyclass.monitor import monitor
    >>> result = monitor("penguins@production", since="2026-01-01T00:00:00Z")  # doctest: +SKIP
    >>> [a.kind for a in result.alerts]                                       # doctest: +SKIP
    ['data_drift']
    """
    cfg = config if config is not None else MonitorConfig()
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 4)
        clock = now

    resolved = resolve_model(model, registry=registry)
    m = resolved.model
    classes = [str(c) for c in np.asarray(m.classes_).tolist()]
    ref = None if m.reference is None else Reference.from_state(*m.reference)
    notes: list[str] = []
    if ref is None:
        notes.append(
            "This model holds no reference statistics (trained before polyclass "
            "stored them): drift is not computed. Retrain it to monitor drift."
        )
    features = list(ref.features) if ref is not None else []
    folder = Path(log_dir) if log_dir is not None else resolved.log_dir
    lo, hi = to_micros(since), to_micros(until)
    data = read_log(
        folder,
        classes=classes,
        features=features,
        since=lo,
        until=hi,
        model_version=resolved.version,
    )
    lap("read")
    width = parse_window(window or cfg.window)
    if data.n_rows == 0:
        notes.append(
            f"No predictions in the log at {folder} for this period"
            + (f" and version {resolved.version}" if resolved.version else "")
            + "."
        )
    origin = (
        (lo // width * width)
        if lo is not None
        else (int(data.ts.min() // width * width) if data.n_rows else 0)
    )
    end = hi if hi is not None else (int(data.ts.max()) + 1 if data.n_rows else origin)
    n_windows = max(0, -(-(end - origin) // width))
    win = ((data.ts - origin) // width).astype(np.intp)

    # --- feature drift, overall and per window -----------------------------------------
    summary: DriftSummary | None = None
    drift_windows: list[dict[str, Any]] = []
    if ref is not None and data.n_rows:
        first = max(0, n_windows - MAX_DRIFT_WINDOWS)
        groups = np.clip(win - first, -1, None)
        n_g = n_windows - first
        sel = groups >= 0
        per_window: list[list[Any]] = [[] for _ in range(n_g)]
        overall = []
        for name, fref in ref.features.items():
            if not cfg.enabled(name):
                continue
            counts = count_values(fref, data.inputs[name], np.where(sel, groups, 0), n_g)
            if not sel.all():  # rows before the per-window range still count overall
                counts_all = count_values(fref, data.inputs[name])
            else:
                counts_all = counts.total()
            overall.append(feature_drift(fref, counts_all, cfg))
            for g in range(n_g):
                if counts.counts[g].sum() or counts.missing[g]:
                    per_window[g].append(feature_drift(fref, counts.group(g), cfg))
        summary = summarize_drift(overall, cfg)
        for g in range(n_g):
            s = summarize_drift(per_window[g], cfg)
            start = origin + (first + g) * width
            drift_windows.append(
                {
                    "start": iso(start),
                    "end": iso(start + width),
                    "n_drifted": s.n_drifted,
                    "drift_share": s.drift_share,
                    "dataset_drift": s.dataset_drift,
                    "drifted": [f.name for f in s.features if f.drifted],
                }
            )
    lap("drift")

    # --- prediction drift and the estimate ------------------------------------------
    pred_codes = class_codes(data.prediction, classes)
    prediction = (
        _prediction_drift(ref, data, cfg, pred_codes)
        if ref is not None
        else {"class_mix": None, "scores": [], "drifted": False}
    )
    estimate = None
    if data.proba is not None and data.n_rows:
        overall_est, per_est = estimate_performance(data.proba, pred_codes, classes, win, n_windows)
        estimate = {
            "overall": overall_est,
            "windows": [
                {"start": iso(origin + w * width), "end": iso(origin + (w + 1) * width), **e}
                for w, e in enumerate(per_est)
            ],
        }
    lap("prediction")

    live = None
    if data.n_rows:
        perf = live_performance(data, classes, width=width, origin=origin, n_windows=n_windows)
        live = (
            perf.to_dict()
            if perf.n_labelled.sum()
            else {
                "n_predictions": int(perf.n_predictions.sum()),
                "n_labelled": 0,
                "n_feedback": perf.joined.n_feedback,
                "n_feedback_unmatched": perf.joined.n_feedback_unmatched,
                "overall": {"n": 0},
                "windows": [],
            }
        )
    lap("live")

    reference_performance = (
        dict(ref.performance)
        if ref is not None
        else {k: float(v) for k, v in dict(m.info.get("test_metrics") or {}).items()}
    )
    result = MonitorResult(
        model={
            "name": resolved.name,
            "version": resolved.version,
            "path": None if m.path is None else str(m.path),
            "classes": classes,
            "reference_rows": None if ref is None else ref.n_rows,
            "score_rows": None if ref is None else ref.score_rows,
        },
        log={
            "dir": str(folder),
            "segments": data.n_segments,
            "feedback_segments": data.n_feedback_segments,
            "rows": data.n_rows,
            "problems": [p.to_dict() for p in data.problems],
            "other_versions": {str(k): v for k, v in data.other_versions.items()},
            "since": None if lo is None else iso(lo),
            "until": None if hi is None else iso(hi),
            "window": window or cfg.window,
            "first": iso(int(data.ts.min())) if data.n_rows else None,
            "last": iso(int(data.ts.max())) if data.n_rows else None,
        },
        drift=summary,
        drift_windows=drift_windows,
        prediction=prediction,
        live=live,
        estimate=estimate,
        reference_performance=reference_performance,
        performance_threshold=performance_threshold(cfg, reference_performance),
        config=cfg,
        notes=notes,
        timings=timings,
    )
    retrain = cfg.retrain_command or default_retrain_command(
        resolved.name, m.info.get("target"), resolved.lineage.get("data_path")
    )
    result.alerts = evaluate_alerts(result.to_dict(), cfg, retrain_command=retrain)
    return result


def monitor_gauges(
    model: Any,
    log_dir: str | Path | None = None,
    *,
    since: datetime | str | None = None,
    config: MonitorConfig | None = None,
    registry: str | None = None,
) -> str:
    """Current drift and live-metric gauges in the Prometheus text exposition format.

    For the server's ``/metrics``: call it from a background thread every minute or so
    (it reads the log, so keep ``since`` recent, e.g. the last 24 hours) and append the
    text to the page. Metric names start with ``polyclass_monitor_``; labels are
    ``model`` and, per feature / class, ``feature`` / ``class``. Never raises for a log
    problem: it answers ``polyclass_monitor_up 0`` with the error as a comment instead.

    Examples
    --------
    >>> text = monitor_gauges("penguins@production", since="2026-01-01")  # doctest: +SKIP
    >>> "polyclass_monitor_dataset_drift_share" in text                    # doctest: +SKIP
    True
    """
    from polyclass.monitor._prometheus import failure_gauges, gauges

    try:
        result = monitor(model, log_dir, since=since, config=config, registry=registry)
    except Exception as exc:  # the server keeps serving whatever the log holds
        return failure_gauges(str(model), f"{type(exc).__name__}: {exc}")
    return gauges(result)
