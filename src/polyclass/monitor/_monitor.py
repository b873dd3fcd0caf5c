"""One monitoring run: read the log, compare with the reference, score, raise alerts.

:func:`monitor` is what ``polyclass monitor`` runs; :func:`monitor_gauges` is the small
entry point the server calls in the background for its ``/metrics`` page.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
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
from polyclass.monitor._data_drift import drift_by_window, drift_from_counts
from polyclass.monitor._drift import (
    BinCounts,
    DriftSummary,
    class_mix_reference,
    count_values,
    feature_drift,
)
from polyclass.monitor._estimate import estimate_performance
from polyclass.monitor._live import class_codes, live_performance, parse_window
from polyclass.monitor._reference import Reference
from polyclass.monitor._resolve import ResolvedModel, resolve_model
from polyclass.monitor._timefmt import iso, to_micros
from polyclass.predlog import LogData, read_log

#: Per-window drift is computed for at most this many windows (the latest ones).
MAX_DRIFT_WINDOWS = 500


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
    performance_metric: str
    config: MonitorConfig
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alert_command: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """1 when an alert fired, else 0 (the CLI's exit status)."""
        return 1 if self.alerts else 0

    @property
    def performance_threshold(self) -> float | None:
        """The live-metric alert threshold."""
        return performance_threshold(
            self.config, self.reference_performance, self.performance_metric
        )

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
            "performance_metric": self.performance_metric,
            "performance_threshold": self.performance_threshold,
            "estimate_threshold": estimate_threshold(
                self.config, self.reference_performance, self.performance_metric
            ),
            "drift_alert": self.config.drift_alert,
            "notes": self.notes,
            "alert_command": self.alert_command,
            "timings": self.timings,
            "versions": self.versions,
        }


@dataclass
class _Run:
    """What one monitoring run knows so far; each step of :func:`monitor` adds a part."""

    resolved: ResolvedModel
    config: MonitorConfig
    classes: list[str]
    ref: Reference | None
    folder: Path
    since: int | None
    until: int | None
    width: int
    notes: list[str] = field(default_factory=list)
    data: LogData | None = None
    origin: int = 0
    n_windows: int = 0
    window_of_row: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    drift: DriftSummary | None = None
    drift_windows: list[dict[str, Any]] = field(default_factory=list)
    prediction: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] | None = None
    live: dict[str, Any] | None = None
    versions: dict[str, Any] | None = None
    client: Any = None  # a Dask client: the inputs are read and counted on its cluster

    @property
    def log(self) -> LogData:
        if self.data is None:  # a step ran before the log was read
            raise RuntimeError("read the log first")
        return self.data

    @property
    def metric(self) -> str:
        return self.config.metric_for((self.resolved.model.info.get("metric") or {}).get("name"))


def _start(
    model: Any,
    log_dir: str | Path | None,
    since: datetime | str | None,
    until: datetime | str | None,
    window: str | None,
    config: MonitorConfig,
    registry: str | None,
) -> _Run:
    """Resolve the model, its reference statistics, its log folder and the period."""
    resolved = resolve_model(model, registry=registry)
    m = resolved.model
    ref = None if m.reference is None else Reference.from_state(*m.reference)
    run = _Run(
        resolved=resolved,
        config=config,
        classes=[str(c) for c in np.asarray(m.classes_).tolist()],
        ref=ref,
        folder=Path(log_dir) if log_dir is not None else resolved.log_dir,
        since=to_micros(since),
        until=to_micros(until),
        width=parse_window(window or config.window),
    )
    if ref is None:
        run.notes.append(
            "This model holds no reference statistics (trained before polyclass "
            "stored them): drift is not computed. Retrain it to monitor drift."
        )
    return run


def _read(run: _Run) -> None:
    """Read the period's predictions and feedback of this model version."""
    on_cluster = run.client is not None
    run.data = read_log(
        run.folder,
        classes=run.classes,
        features=list(run.ref.features) if run.ref is not None and not on_cluster else [],
        since=run.since,
        until=run.until,
        model_version=run.resolved.version,
    )
    if run.data.n_rows == 0:
        version = run.resolved.version
        run.notes.append(
            f"No predictions in the log at {run.folder} for this period"
            + (f" and version {version}" if version else "")
            + "."
        )


def _place_windows(run: _Run) -> None:
    """Cut the period into windows of ``width`` and find each row's window."""
    data, width = run.log, run.width
    if run.since is not None:
        run.origin = run.since // width * width
    elif data.n_rows:
        run.origin = int(data.ts.min() // width * width)
    if run.until is not None:
        end = run.until
    else:
        end = int(data.ts.max()) + 1 if data.n_rows else run.origin
    run.n_windows = max(0, -(-(end - run.origin) // width))
    run.window_of_row = ((data.ts - run.origin) // width).astype(np.intp)


def _feature_drift(run: _Run) -> None:
    """Each feature's drift overall and in each of the latest windows."""
    if run.ref is None or not run.log.n_rows:
        return
    first = max(0, run.n_windows - MAX_DRIFT_WINDOWS)
    if run.client is not None:
        run.drift, per_window = _drift_on_cluster(run, run.ref, first)
    else:
        groups = np.clip(run.window_of_row - first, -1, None)
        run.drift, per_window = drift_by_window(
            run.ref, run.log.inputs, groups, run.n_windows - first, run.config
        )
    if run.drift.too_few_rows:
        run.notes.append(f"Feature drift not judged: {run.drift.too_few_rows}.")
    for g, s in enumerate(per_window):
        start = run.origin + (first + g) * run.width
        run.drift_windows.append(
            {
                "start": iso(start),
                "end": iso(start + run.width),
                "n_drifted": s.n_drifted,
                "drift_share": s.drift_share,
                "dataset_drift": s.dataset_drift,
                "drifted": [f.name for f in s.features if f.drifted],
            }
        )


def _drift_on_cluster(
    run: _Run, ref: Reference, first: int
) -> tuple[DriftSummary, list[DriftSummary]]:
    """:func:`drift_by_window` from per-segment counts summed on the driver."""
    from polyclass.monitor._dask import counts_on_cluster
    from polyclass.predlog import SegmentProblem, list_segments

    folder = run.folder / "predictions"
    read = {
        "features": list(ref.features),
        "since": run.since,
        "until": run.until,
        "model_version": run.resolved.version,
    }
    window = (run.origin, run.width, first, run.n_windows - first)
    segments = [str(p) for p in list_segments(folder)]
    counts, problems = counts_on_cluster(run.client, segments, ref, run.config, window, read)
    known = {p.path for p in run.log.problems}  # segments the driver's read skipped already
    run.log.problems.extend(
        SegmentProblem(path, "predictions", reason)
        for path, reason in problems
        if path not in known or path == str(folder)
    )
    return drift_from_counts(ref, counts, run.n_windows - first, run.config)


def _prediction_drift(run: _Run) -> None:
    """The predicted class mix and each class's scores against the reference, and the
    CBPE estimate of performance from the probabilities."""
    data, ref, cfg = run.log, run.ref, run.config
    pred_codes = class_codes(data.prediction, run.classes)
    out: dict[str, Any] = {"class_mix": None, "scores": [], "drifted": False}
    if ref is not None and ref.predicted_counts is not None and data.n_rows:
        mix_ref = class_mix_reference(ref.classes, ref.predicted_counts)
        k = len(ref.classes)
        codes = np.where((pred_codes >= 0) & (pred_codes < k), pred_codes, k)
        counts = np.bincount(codes, minlength=k + 1).astype(np.int64)[None, :]
        out["class_mix"] = feature_drift(
            mix_ref, BinCounts(counts, np.zeros(1, np.int64)), cfg
        ).to_dict()
        out["drifted"] = bool(out["class_mix"]["drifted"])
    if ref is not None and ref.scores and data.proba is not None and data.n_rows:
        for k, sref in enumerate(ref.scores):
            d = feature_drift(sref, count_values(sref, data.proba[:, k]), cfg)
            out["scores"].append(d.to_dict())
    run.prediction = out
    if data.proba is not None and data.n_rows:
        overall, per_window = estimate_performance(
            data.proba, pred_codes, run.classes, run.window_of_row, run.n_windows
        )
        if overall.get("too_few_rows"):
            run.notes.append(f"No estimated performance (CBPE): {overall['too_few_rows']}.")
        run.estimate = {
            "overall": overall,
            "windows": [
                {
                    "start": iso(run.origin + w * run.width),
                    "end": iso(run.origin + (w + 1) * run.width),
                    **e,
                }
                for w, e in enumerate(per_window)
            ],
        }


def _live_performance(run: _Run) -> None:
    """Join feedback labels to predictions; metrics overall and per window."""
    data = run.log
    if not data.n_rows:
        return
    perf = live_performance(
        data, run.classes, width=run.width, origin=run.origin, n_windows=run.n_windows
    )
    if not perf.n_labelled.sum():
        run.live = {
            "n_predictions": int(perf.n_predictions.sum()),
            "n_labelled": 0,
            "n_feedback": perf.joined.n_feedback,
            "n_feedback_unmatched": perf.joined.n_feedback_unmatched,
            "overall": {"n": 0},
            "windows": [],
        }
        return
    run.live = perf.to_dict()
    positive = run.resolved.model.info.get("positive_class")
    if run.metric == "f1" and positive is not None:  # a binary model's F1 is its positive class's
        for part in [run.live["overall"], *run.live["windows"]]:
            part["f1"] = (part.get("per_class") or {}).get(str(positive), {}).get("f1")


def _versions(run: _Run) -> None:
    """With other versions in the log (a canary, a shadow): every version side by side."""
    if not run.log.other_versions and run.resolved.version is not None:
        return
    from polyclass.monitor._versions import compare_versions, read_all_versions

    data = run.log
    if run.log.other_versions:
        data = read_all_versions(run.folder, run.classes, run.ref, run.since, run.until)
    if len(set(np.asarray(data.model_version).tolist())) > 1:
        run.versions = compare_versions(data, run.classes, run.ref, run.config)


def _finish(run: _Run, window: str | None, timings: dict[str, float]) -> MonitorResult:
    """The result, its alerts and the retraining command they name."""
    m, ref, data, cfg = run.resolved.model, run.ref, run.log, run.config
    model_metric = (m.info.get("metric") or {}).get("name")
    if cfg.performance_metric is None and model_metric and model_metric != run.metric:
        run.notes.append(
            f"The model was trained for {model_metric}, which feedback labels alone do "
            f"not give per window; live performance is judged by {run.metric}."
        )
    reference_performance = (
        dict(ref.performance)
        if ref is not None
        else {k: float(v) for k, v in dict(m.info.get("test_metrics") or {}).items()}
    )
    lo, hi = run.since, run.until
    result = MonitorResult(
        model={
            "name": run.resolved.name,
            "version": run.resolved.version,
            "path": None if m.path is None else str(m.path),
            "classes": run.classes,
            "reference_rows": None if ref is None else ref.n_rows,
            "score_rows": None if ref is None else ref.score_rows,
            "important_features": list(m.info.get("important_features") or []),
        },
        log={
            "dir": str(run.folder),
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
        drift=run.drift,
        drift_windows=run.drift_windows,
        prediction=run.prediction,
        live=run.live,
        estimate=run.estimate,
        reference_performance=reference_performance,
        performance_metric=run.metric,
        config=cfg,
        notes=run.notes,
        timings=timings,
        versions=run.versions,
    )
    retrain = cfg.retrain_command or default_retrain_command(
        run.resolved.name, m.info.get("target"), run.resolved.lineage.get("data_path")
    )
    result.alerts = evaluate_alerts(result.to_dict(), cfg, retrain_command=retrain)
    return result


def monitor(
    model: Any,
    log_dir: str | Path | None = None,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    window: str | None = None,
    config: MonitorConfig | None = None,
    registry: str | None = None,
    dask: str | None = None,
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
    dask : str, optional
        Read and count the logged inputs on Dask: ``'local'`` (a LocalCluster for this
        run) or a scheduler address. The result is the same as without it.

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
    run = _start(model, log_dir, since, until, window, cfg, registry)
    timings: dict[str, float] = {}
    steps = (
        ("read", _read),
        ("windows", _place_windows),
        ("drift", _feature_drift),
        ("prediction", _prediction_drift),
        ("live", _live_performance),
        ("versions", _versions),
    )
    with ExitStack() as stack:
        if dask:
            from polyclass.scale import connect

            run.client = stack.enter_context(connect(dask))
        for name, step in steps:
            clock = time.perf_counter()
            step(run)
            timings[name] = round(time.perf_counter() - clock, 4)
    return _finish(run, window, timings)


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
