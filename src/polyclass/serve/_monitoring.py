"""Drift and live-metric gauges on the server's ``/metrics``, refreshed in the background.

A daemon thread calls :func:`polyclass.monitor.monitor_gauges` on the prediction log
every ``interval`` seconds (last 24 hours of traffic) and keeps the exposition text;
``GET /metrics`` appends the latest text, so scraping never waits on the log. The
monitoring code is imported by the thread, off the request path and after start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

LOOKBACK = timedelta(hours=24)


class MonitorGauges:
    """Keeps the latest monitoring gauges for one served model.

    Parameters
    ----------
    model : callable returning str
        The reference of the model being served now (it changes on promotion).
    log_dir : Path
        The model's prediction-log folder (``<root>/logs/<name>``).
    registry : str, optional
        The registry URL, for resolving the reference.
    interval : float
        Seconds between refreshes.
    """

    def __init__(
        self, model: Callable[[], str], log_dir: Path, registry: str | None, interval: float
    ) -> None:
        self._model = model
        self._log_dir = log_dir
        self._registry = registry
        self._interval = interval
        self._text = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polyclass-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def text(self) -> str:
        """The latest gauges in the exposition format ('' before the first refresh)."""
        return self._text

    def refresh(self) -> None:
        """Recompute the gauges now (the thread does this every ``interval`` seconds)."""
        from polyclass.monitor import monitor_gauges

        since = datetime.now(UTC) - LOOKBACK
        self._text = monitor_gauges(
            self._model(), self._log_dir, since=since, registry=self._registry
        )

    def _run(self) -> None:
        # The first refresh waits one interval: start-up and the first requests come first.
        while not self._stop.wait(self._interval):
            self.refresh()
