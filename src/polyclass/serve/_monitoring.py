"""Drift and live-metric gauges on the server's ``/metrics``, refreshed in the background.

Every ``interval`` seconds (or less often, when a refresh takes more than a tenth of
that) a daemon thread has :func:`polyclass.monitor.monitor_gauges` computed on the
prediction log (the last 24 hours of traffic, or the newest ``MAX_ROWS`` predictions
when those came in less time) and keeps the exposition text;
``GET /metrics`` appends the latest text, so scraping never waits on the log.

The computation runs in a child process (a new one for each refresh, at a lower CPU
priority), not in the server's own interpreter: reading a day of log segments holds
the GIL for tens of milliseconds at a time, and a server thread doing it stalled every
request in flight (benchmarks/README.md). The server's thread only waits for the answer.
The child exits after each refresh because reading a busy day's log takes memory (6.5 million rows:
about 1.4 GB at its peak, 800 MB kept afterwards by a long-lived reader); the server
itself stays small. Where a child process cannot be started, the thread computes the
gauges itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LOOKBACK = timedelta(hours=24)
#: The gauges read about this many of the newest predictions at most (a busy day's log,
#: 6.5 million rows, took 1.4 GB and seconds of CPU to read; drift and live metrics are
#: as well estimated from the last million).
MAX_ROWS = 1_000_000
#: ``os.nice`` increment of the child process (it yields the CPU to the request path).
NICENESS = 10
#: A refresh that takes ``t`` seconds is followed by at least ``(SPACING - 1) * t`` idle.
SPACING = 10
#: Seconds a monitoring child may take before it is stopped (a hung registry or disk).
CHILD_TIMEOUT = 300.0


def _gauges(model: str, log_dir: Path, since: datetime, registry: str | None) -> str:
    from polyclass.monitor import monitor_gauges
    from polyclass.predlog import recent_rows_start

    start = recent_rows_start(log_dir, MAX_ROWS)
    if start is not None and start > since:
        since = start

    return monitor_gauges(model, log_dir, since=since, registry=registry)


def _child(conn: Any, args: tuple[str, Path, datetime, str | None]) -> None:
    """The monitoring child: lower its priority, compute, send the text back."""
    with contextlib.suppress(OSError, AttributeError):  # not allowed, or not on this OS
        os.nice(NICENESS)
    try:
        conn.send(_gauges(*args))
    finally:
        conn.close()


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
        self,
        model: Callable[[], str],
        log_dir: Path,
        registry: str | None,
        interval: float,
        *,
        in_process: bool = False,
    ) -> None:
        self._model = model
        self._log_dir = log_dir
        self._registry = registry
        self._interval = interval
        self._in_process = in_process
        self._child: Any = None  # the running child process, if any
        self._text = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polyclass-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        child = self._child
        if child is not None:
            with contextlib.suppress(Exception):  # already gone
                child.terminate()

    def text(self) -> str:
        """The latest gauges in the exposition format ('' before the first refresh)."""
        return self._text

    def refresh(self) -> None:
        """Recompute the gauges now (the thread does this every ``interval`` seconds)."""
        args = (self._model(), self._log_dir, datetime.now(UTC) - LOOKBACK, self._registry)
        if not self._in_process:
            try:
                text = self._in_child(args)
            except (OSError, ValueError, ImportError) as exc:
                sys.stderr.write(
                    f"polyclass serve: cannot run the monitoring process "
                    f"({exc!r}); computing the gauges in the server.\n"
                )
                self._in_process = True
            else:
                if text is not None:
                    self._text = text
                return
        self._text = _gauges(*args)

    def _in_child(self, args: tuple[str, Path, datetime, str | None]) -> str | None:
        """The gauges from a new child process; None if it died or the server stops."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_child, args=(send, args), daemon=True, name="polyclass-monitor"
        )
        child.start()
        send.close()
        self._child = child
        deadline = time.monotonic() + CHILD_TIMEOUT
        try:
            while not receive.poll(0.2):
                if time.monotonic() > deadline:
                    sys.stderr.write(
                        "polyclass serve: the monitoring process took over "
                        f"{CHILD_TIMEOUT:.0f} s; stopped it, the gauges keep "
                        "their last values.\n"
                    )
                    child.terminate()
                    return None
                if self._stop.is_set() or (not child.is_alive() and not receive.poll(0)):
                    if not self._stop.is_set():
                        sys.stderr.write(
                            "polyclass serve: the monitoring process exited "
                            f"with {child.exitcode}; the gauges keep their "
                            "last values.\n"
                        )
                    return None
            try:
                return str(receive.recv())
            except EOFError:  # it died while sending
                return None
        finally:
            receive.close()
            if self._stop.is_set():
                child.terminate()
            child.join()
            self._child = None

    def _run(self) -> None:
        # The first refresh waits one interval: start-up and the first requests come first.
        # A refresh that took long (a busy day's log) spaces the next ones out, so the
        # monitoring uses at most 1 / SPACING of the time of a core.
        wait = self._interval
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                self.refresh()
            except Exception as exc:  # the gauges keep their last values; keep trying
                sys.stderr.write(f"polyclass serve: monitoring refresh failed: {exc!r}\n")
            wait = max(self._interval, (SPACING - 1) * (time.monotonic() - started))
