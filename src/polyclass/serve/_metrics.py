"""Prometheus metrics of one server: requests, latency, predictions, in-flight, version,
and what a shadow version compared, agreed on, dropped and failed.

Each app owns a ``CollectorRegistry`` (no global state, so tests can build many apps).
With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``polyclass serve``
does) and every worker's numbers are summed at ``GET /metrics``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServerMetrics:
    """The counters, histograms and gauges ``GET /metrics`` exposes."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the scrape for nothing
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.requests = Counter(
            "polyclass_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "polyclass_http_request_duration_seconds",
            "Time from the request's first byte "
            "to the end of the response, by route template and status.",
            ["route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "polyclass_http_requests_in_flight",
            "Requests being answered now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.predictions = Counter(
            "polyclass_predictions",
            "Predicted rows, by model, version and predicted class.",
            ["model", "version", "label"],
            registry=r,
        )
        self.rows = Histogram(
            "polyclass_request_rows",
            "Rows per prediction request.",
            ["model"],
            buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000),
            registry=r,
        )
        self.loaded = Gauge(
            "polyclass_model_loaded",
            "1 for the model version being served.",
            ["model", "version"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "polyclass_model_switches",
            "Times the served version changed (promotion, rollback, reload).",
            ["model"],
            registry=r,
        )
        self.grpc_requests = Counter(
            "polyclass_grpc_requests",
            "gRPC calls answered, by method and status code.",
            ["method", "code"],
            registry=r,
        )
        self.grpc_latency = Histogram(
            "polyclass_grpc_request_duration_seconds",
            "Time from a gRPC call's arrival to its answer, by method and status code.",
            ["method", "code"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.shadow_requests = Counter(
            "polyclass_shadow_requests",
            "Requests the shadow predicted and logged, by model and shadow version.",
            ["model", "version"],
            registry=r,
        )
        self.shadow_rows = Counter(
            "polyclass_shadow_rows",
            "Rows the shadow predicted and logged, by model and shadow version.",
            ["model", "version"],
            registry=r,
        )
        self.shadow_agreed_rows = Counter(
            "polyclass_shadow_agreed_rows",
            "Logged shadow rows whose class is the served answer's, by model and shadow version.",
            ["model", "version"],
            registry=r,
        )
        self.shadow_dropped = Counter(
            "polyclass_shadow_dropped",
            "Requests of the shadowed share never shadowed (queue full under load, or "
            "server stopping), by model and shadow version.",
            ["model", "version"],
            registry=r,
        )
        self.shadow_errors = Counter(
            "polyclass_shadow_errors",
            "Requests the shadow failed to predict or log, by model and shadow version.",
            ["model", "version"],
            registry=r,
        )
        self._shadow: dict[tuple[str, str], tuple[Any, Any, Any, Any, Any]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._grpc_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._predicted: dict[tuple[str, str, str], Any] = {}
        self._rows: dict[str, Any] = {}
        self.log_errors = Gauge(
            "polyclass_prediction_log_write_errors",
            "Failed prediction- and feedback-log writes, each attempt (rows are kept and "
            "retried; requests get 503 once the held rows reach the log's memory bound).",
            registry=r,
            multiprocess_mode="livesum",
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # labels() costs a lock and a dict walk: do it once per key
            code = str(status)
            children = (self.requests.labels(route, method, code), self.latency.labels(route, code))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_grpc(self, method: str, code: str, seconds: float) -> None:
        """Count one answered gRPC call (``code`` is the status name, ``"OK"``...)."""
        key = (method, code)
        children = self._grpc_children.get(key)
        if children is None:
            children = (
                self.grpc_requests.labels(method, code),
                self.grpc_latency.labels(method, code),
            )
            self._grpc_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(
        self, model: str, version: str, labels: Iterable[tuple[str, int]], n_rows: int
    ) -> None:
        """Add ``count`` predictions of each ``(label, count)``."""
        for label, count in labels:
            key = (model, version, label)
            child = self._predicted.get(key)
            if child is None:
                child = self._predicted[key] = self.predictions.labels(model, version, label)
            child.inc(count)
        rows = self._rows.get(model)
        if rows is None:
            rows = self._rows[model] = self.rows.labels(model)
        rows.observe(n_rows)

    def count_shadow(
        self,
        model: str,
        version: str,
        *,
        requests: int = 0,
        rows: int = 0,
        agreed: int = 0,
        dropped: int = 0,
        errors: int = 0,
    ) -> None:
        """Add to the shadow's counters (all of them exist from the first call, at 0)."""
        key = (model, version)
        children = self._shadow.get(key)
        if children is None:
            children = self._shadow[key] = (
                self.shadow_requests.labels(model, version),
                self.shadow_rows.labels(model, version),
                self.shadow_agreed_rows.labels(model, version),
                self.shadow_dropped.labels(model, version),
                self.shadow_errors.labels(model, version),
            )
        for child, amount in zip(children, (requests, rows, agreed, dropped, errors), strict=True):
            if amount:
                child.inc(amount)

    def set_loaded(self, model: str, version: str, previous: str | None) -> None:
        """Mark ``version`` as served (and ``previous`` as not)."""
        if previous is not None and previous != version:
            self.loaded.labels(model, previous).set(0)
            self.reloads.labels(model).inc()
        self.loaded.labels(model, version).set(1)

    def exposition(self) -> bytes:
        """The text format, summed over workers in multiprocess mode."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(combined))
        return bytes(generate_latest(self.registry))
