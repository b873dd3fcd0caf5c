"""Drift and live-metric gauges on the server's ``/metrics``, refreshed in the background.

Every ``interval`` seconds a daemon thread has :func:`polyclass.monitor.monitor_gauges`
computed on the prediction log (last 24 hours of traffic) and keeps the exposition
text; ``GET /metrics`` appends the latest text, so scraping never waits on the log.

The computation runs in a child process (a new one for each refresh, at a lower CPU
priority), not in the server's own interpreter: reading a day of log segments holds
the GIL for tens of milliseconds at a time, and a server thread doing it stalled every
request in flight (one-row requests at 2,500/s: p99 1.9 ms without it, 40 ms with a
refresh every 3 s). The server's thread only waits for the answer. The child exits
after each refresh because reading a busy day's log takes memory (6.5 million rows:
about 1.4 GB at its peak, 800 MB kept afterwards by a long-lived reader); the server
itself stays small. Where a child process cannot be started, the thread computes the
gauges itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

LOOKBACK = timedelta(hours=24)
#: ``os.nice`` increment of the child process (it yields the CPU to the request path).
NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not allowed, or not on this OS
        os.nice(NICENESS)


def _gauges(model: str, log_dir: Path, since: datetime, registry: str | None) -> str:
    from polyclass.monitor import monitor_gauges

    return monitor_gauges(model, log_dir, since=since, registry=registry)


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
    in_process : bool
        Compute in the server's own process (no child process).
    """

    def __init__(
        self, model: Callable[[], str], log_dir: Path, registry: str | None, interval: float,
        *, in_process: bool = False,
    ) -> None:
        self._model = model
        self._log_dir = log_dir
        self._registry = registry
        self._interval = interval
        self._in_process = in_process
        self._pool: Executor | None = None
        self._text = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polyclass-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def text(self) -> str:
        """The latest gauges in the exposition format ('' before the first refresh)."""
        return self._text

    def refresh(self) -> None:
        """Recompute the gauges now (the thread does this every ``interval`` seconds)."""
        args = (self._model(), self._log_dir, datetime.now(UTC) - LOOKBACK, self._registry)
        if not self._in_process and self._pool is None:
            try:
                import multiprocessing

                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority, max_tasks_per_child=1)
            except (OSError, ValueError, ImportError) as exc:
                sys.stderr.write(f"polyclass serve: cannot start the monitoring process "
                                 f"({exc!r}); computing the gauges in the server.\n")
                self._in_process = True
        if self._in_process or self._pool is None:
            self._text = _gauges(*args)
            return
        try:
            self._text = self._pool.submit(_gauges, *args).result()
        except Exception as exc:  # a dead child (killed, out of memory): start another
            if self._stop.is_set():
                return
            sys.stderr.write(f"polyclass serve: the monitoring process failed ({exc!r}); "
                             "starting a new one.\n")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _run(self) -> None:
        # The first refresh waits one interval: start-up and the first requests come first.
        while not self._stop.wait(self._interval):
            self.refresh()
