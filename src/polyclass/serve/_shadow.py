"""The shadow: another version predicting the served requests' rows off the response path.

The shadow runs in its own process (:mod:`polyclass.serve._shadow_worker`), a child of
the server worker, so its predictions and its log's writer never compete with the
request path for the interpreter lock. The request handler only appends the request's
rows to a buffer as one frame (never waiting: a full buffer drops the sample and counts
it); the event loop writes the buffer to the child's standard input every few
milliseconds, without blocking, and reads the child's reports of what it logged, agreed on
and failed on (counted in ``GET /admin/routing`` and in ``/metrics``, summed over
workers). When the shadow's reference moves, the server (which follows it like the
served one) tells the child which version to load. A clean stop writes every buffered
request to the child and waits for it to log them and close its log; the child also
stops when the server process dies. A child that exits while the server serves (killed,
out of memory) is started again after a back-off (``RESTART_SECONDS``, doubling), its
samples dropped and counted meanwhile.

A frame is the sizes of its two parts, a pickle of a plain tuple and the raw bytes of a
numeric matrix (not pickled, so not copied once more); the pipe is private to the server
and its child, so nothing from outside is ever unpickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from polyclass.preprocess import Table
from polyclass.serve._canary import bucket
from polyclass.serve._manager import ModelManager
from polyclass.serve._metrics import ServerMetrics
from polyclass.serve._served import ServedModel

__all__ = [
    "FLUSH_SECONDS",
    "SHADOW_BYTES",
    "SHADOW_SHARE",
    "Frames",
    "Item",
    "ShadowCounts",
    "ShadowRunner",
]

#: Bytes of frames waiting in the server at most; beyond, shadow samples are dropped
#: (counted). A lone larger request is still taken.
SHADOW_BYTES = 2 * 1024 * 1024
#: Seconds between two writes of the buffered frames to the child (one system call for
#: many requests).
FLUSH_SECONDS = 0.005
#: The pipe's capacity asked of Linux (the default 64 KiB holds few requests).
PIPE_BYTES = 1024 * 1024
#: The largest share of one CPU's time the shadow's process works; it rests for the rest.
SHADOW_SHARE = 0.2
#: Seconds a stop waits for the child to log what it was sent before killing it.
STOP_SECONDS = 60.0
#: Seconds before a shadow process that exited is started again, doubling with each exit
#: up to ``RESTART_MAX_SECONDS`` (one that keeps dying is not restarted in a loop).
RESTART_SECONDS = 5.0
RESTART_MAX_SECONDS = 300.0

#: Frames handed to one ``writev`` at most (Linux's IOV_MAX is 1024).
WRITE_FRAMES = 512

#: A frame's head: the sizes of its message (a pickle) and of the raw bytes after it.
_HEAD = struct.Struct("<II")


@dataclass
class ShadowCounts:
    """What the shadow did: requests and rows compared, rows agreeing, samples dropped
    (buffer full, server stopping or shadow process gone), requests it failed on."""

    requests: int = 0
    rows: int = 0
    agreed: int = 0
    dropped: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        rate = self.agreed / self.rows if self.rows else None
        return {
            "requests": self.requests,
            "rows": self.rows,
            "agreement": rate,
            "dropped": self.dropped,
            "errors": self.errors,
        }


class Item(NamedTuple):
    """One request to shadow."""

    request_id: str
    table: Table
    served: NDArray[np.intp]  # the served answer's class index per row
    classes: NDArray[np.object_]  # the answering version's classes
    features: Sequence[str]  # the answering version's inputs: a matrix's column order


def _frame(message: tuple[Any, ...], raw: bytes = b"") -> list[bytes]:
    """A message's frame as buffers to write in turn (``raw`` is not copied into it)."""
    body = pickle.dumps(message, protocol=5)
    head = _HEAD.pack(len(body), len(raw)) + body
    return [head, raw] if raw else [head]


def item_frame(
    request_id: str, context: int, table: Table, served: NDArray[np.intp]
) -> list[bytes]:
    """A request's frame: its rows (a matrix as raw float64, else the columns) and the
    served answer; ``context`` numbers the answering version's classes and inputs."""
    matrix = table.matrix
    served_bytes = served.tobytes()
    if matrix is not None:
        raw = np.ascontiguousarray(matrix, dtype=np.float64).tobytes()
        message = ("i", request_id, context, served_bytes, table.n_rows, matrix.shape[1], None)
        return _frame(message, raw)
    return _frame(("i", request_id, context, served_bytes, table.n_rows, None, table.columns))


def context_frame(context: int, classes: Any, features: Sequence[str]) -> list[bytes]:
    """The classes and inputs of the version answering the requests numbered ``context``."""
    return _frame(("c", context, np.asarray(classes).tolist(), list(features)))


def model_frame(model: ServedModel) -> list[bytes]:
    """Load ``model``'s version: the shadow's reference moved to it."""
    return _frame(("m", str(model.path), model.name, model.version))


class Frames:
    """Turns the bytes read from the server into messages (a frame may span reads)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._contexts: dict[int, tuple[NDArray[np.object_], list[str]]] = {}

    def feed(self, data: bytes) -> Iterator[tuple[str, Any]]:
        """``("item", Item)`` per request and ``("model", (path, name, version))`` per
        swap, in the order sent; contexts are kept, not yielded."""
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= _HEAD.size:
            size, raw_size = _HEAD.unpack_from(buffer, start)
            body = start + _HEAD.size
            end = body + size + raw_size
            if end > len(buffer):
                break
            message = pickle.loads(buffer[body : body + size])
            raw = buffer[body + size : end]  # a copy, so writable
            start = end
            if message[0] == "i":
                _, request_id, context, served, n_rows, width, columns = message
                yield "item", self._item(request_id, context, served, n_rows, width, columns, raw)
            elif message[0] == "c":
                classes = np.empty(len(message[2]), dtype=object)
                classes[:] = message[2]
                self._contexts[message[1]] = (classes, message[3])
            else:
                yield "model", message[1:]
        del buffer[:start]

    def _item(
        self,
        request_id: str,
        context: int,
        served: bytes,
        n_rows: int,
        width: int | None,
        columns: dict[str, Any] | None,
        raw: bytearray,
    ) -> Item:
        classes, features = self._contexts[context]
        if width is not None:
            table = Table(
                n_rows, matrix=np.frombuffer(raw, dtype=np.float64).reshape(n_rows, width)
            )
        else:
            table = Table(n_rows, columns or {})
        index = np.frombuffer(served, dtype=np.intp)
        return Item(request_id, table, index, classes, features)


class ShadowRunner:
    """The server's side of the shadow: queues requests for its process, reads its counts.

    Parameters
    ----------
    manager : ModelManager
        Follows the shadow's reference (hot-swaps like the served version); the shadow
        process loads each version it moves to.
    percent : float
        The share of requests shadowed (sticky by routing key, like the canary).
    share : float
        The largest share of one CPU's time the shadow's process works (``SHADOW_SHARE``).
    metrics : ServerMetrics, optional
        Also counts there, by shadow version: this process's ``counts`` are one worker's
        and die with it, the Prometheus counters are summed over workers.
    """

    def __init__(
        self,
        manager: ModelManager,
        percent: float,
        *,
        share: float = SHADOW_SHARE,
        metrics: ServerMetrics | None = None,
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must lie in (0, 1]; got {share!r}.")
        self.manager, self.percent, self.metrics = manager, percent, metrics
        self.share = share
        self.counts = ShadowCounts()
        self._out: deque[bytes | memoryview] = deque()  # frames not yet written to the child
        self._queued = 0  # bytes in ``_out``
        self._contexts: dict[tuple[int, int], tuple[Any, Any, int]] = {}
        self._next_context = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reports = b""  # a report line not read to its end yet
        self._closed = True  # not started, or stopping: no more requests
        self._listening = False
        self._log: dict[str, Any] | None = None  # the log spec ``start`` was given
        self._exits = 0  # times the process exited while the server served
        self._restart: asyncio.TimerHandle | None = None
        self._ready = False  # the child said it handles SIGTERM

    def wants(self, key: str) -> bool:
        """Whether this request is in the shadowed share (sticky, like the canary)."""
        return self.percent >= 100.0 or bucket("shadow:" + key) < self.percent

    def submit(
        self,
        request_id: str,
        table: Table,
        served: NDArray[np.intp],
        classes: Any,
        features: Sequence[str],
    ) -> None:
        """Queue a request for the shadow; never waits (a full buffer drops it, counted).

        ``served`` is the answer's class index per row among ``classes``; ``features``
        the answering version's inputs, in the order of ``table.matrix`` if it has one.
        Called on the event loop's thread.
        """
        if not self._closed and (self._queued < SHADOW_BYTES or not self._out):
            context = self._context(classes, features)
            self._send(item_frame(request_id, context, table, served))
            return
        self.counts.dropped += 1
        model = self.manager.current
        self._tally(model.name, model.version_label, dropped=1)

    def _context(self, classes: Any, features: Sequence[str]) -> int:
        """The number of the answering version's classes and inputs (sent once each)."""
        key = (id(classes), id(features))
        known = self._contexts.get(key)
        if known is not None and known[0] is classes and known[1] is features:
            return known[2]
        if len(self._contexts) > 8:  # versions swapped in and out: forget the old ones
            self._contexts.clear()
        number = self._next_context
        self._next_context += 1
        self._contexts[key] = (classes, features, number)  # held, so the ids stay theirs
        self._send(context_frame(number, classes, features))
        return number

    def start(self, log: dict[str, Any] | None = None) -> None:
        """Start the shadow process (on the event loop's thread); ``log``: its prediction
        log's ``folder`` and ``options`` (None: nothing logged, only counted)."""
        model = self.manager.current
        self._tally(model.name, model.version_label)  # the series exist, at 0, from now
        if self._child is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._log = log
        config = {
            "path": str(model.path),
            "name": model.name,
            "version": model.version,
            "parent": os.getpid(),
            "share": self.share,
            "log": log,
        }
        env = dict(os.environ)  # the child imports this very polyclass
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._child = child = subprocess.Popen(
            [sys.executable, "-m", "polyclass.serve._shadow_worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdin is not None and child.stdout is not None
        os.set_blocking(child.stdin.fileno(), False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only; a hint
            fcntl.fcntl(child.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._loop.add_reader(child.stdout.fileno(), self._read_reports)
        if not self._listening:
            self.manager.add_listener(self._on_switch)
            self._listening = True
        self._contexts.clear()  # a new child knows none
        self._ready = False
        self._closed = False

    def stop(self) -> None:
        """Send every queued request, let the child log them and close its log, then reap
        it (on the event loop's thread)."""
        child, self._child = self._child, None
        self._closed = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if child is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert child.stdin is not None and child.stdout is not None
        if self._loop is not None:
            self._loop.remove_reader(child.stdout.fileno())
        deadline = time.monotonic() + STOP_SECONDS
        # SIGTERM ends its rests (a stop sooner would kill it before its handler is set)
        if self._read_until(child, lambda: self._ready, deadline):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        os.set_blocking(child.stdin.fileno(), True)
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write(b"".join(self._out))
        self._out.clear()
        self._queued = 0
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()  # its end of input: it logs what it was sent, then ends
        self._read_until(child, lambda: False, deadline)
        child.stdout.close()
        child.wait()

    def _read_until(
        self, child: subprocess.Popen[bytes], done: Callable[[], bool], deadline: float
    ) -> bool:
        """Read the child's reports until ``done()``; False at their end (or when it
        has not stopped by ``deadline``: killed)."""
        out = child.stdout.fileno() if child.stdout is not None else -1
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                child.kill()
                sys.stderr.write("polyclass serve: the shadow process did not stop; killed\n")
                return False
            data = os.read(out, 1 << 16)
            if not data:
                return False
            self._apply(data)
        return True

    # ------------------------------------------------------------ event loop
    def _send(self, frame: list[bytes]) -> None:
        self._out.extend(frame)
        self._queued += sum(map(len, frame))
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(FLUSH_SECONDS, self._flush)

    def _schedule(self) -> None:
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        """Write what the pipe takes now; the rest waits for the next turn."""
        self._timer = None
        child = self._child
        if child is None or child.stdin is None or not self._out:
            return
        out = self._out
        try:
            written = os.writev(child.stdin.fileno(), list(islice(out, WRITE_FRAMES)))
        except BlockingIOError:
            written = 0
        except OSError:  # the child is gone: its reports' end says so
            out.clear()
            self._queued = 0
            return
        self._queued -= written
        while written and written >= len(out[0]):
            written -= len(out.popleft())
        if written:  # a frame written in part: its rest goes next
            out[0] = memoryview(out[0])[written:]
        if out:
            self._schedule()

    def _read_reports(self) -> None:
        child = self._child
        if child is None or child.stdout is None:
            return
        data = os.read(child.stdout.fileno(), 1 << 16)
        if data:
            self._apply(data)
            return
        # the child ended while the server serves: drop samples (counted) until it is
        # started again, later after each exit
        assert self._loop is not None
        self._loop.remove_reader(child.stdout.fileno())
        self._child = None
        self._closed = True
        self._out.clear()
        self._queued = 0
        code = child.wait()
        child.stdout.close()
        if child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()
        self._exits += 1
        delay = min(RESTART_SECONDS * 2 ** (self._exits - 1), RESTART_MAX_SECONDS)
        sys.stderr.write(
            f"polyclass serve: the shadow process exited (code {code}); the shadow's "
            f"samples are dropped (counted) until it is started again in {delay:.0f} s\n"
        )
        self._restart = self._loop.call_later(delay, self._start_again)

    def _start_again(self) -> None:
        self._restart = None
        try:
            self.start(self._log)
        except OSError as exc:  # no process now: try again later
            self._exits += 1
            delay = min(RESTART_SECONDS * 2 ** (self._exits - 1), RESTART_MAX_SECONDS)
            sys.stderr.write(
                f"polyclass serve: cannot start the shadow process ({exc}); trying again "
                f"in {delay:.0f} s\n"
            )
            assert self._loop is not None
            self._restart = self._loop.call_later(delay, self._start_again)

    def _apply(self, data: bytes) -> None:
        """Add the child's reports (JSON lines of counts by version) to the counts."""
        *lines, self._reports = (self._reports + data).split(b"\n")
        for line in lines:
            report = json.loads(line)
            if "ready" in report:  # its handlers are set
                self._ready = True
                continue
            amounts = {k: int(report[k]) for k in ("requests", "rows", "agreed", "errors")}
            self.counts.requests += amounts["requests"]
            self.counts.rows += amounts["rows"]
            self.counts.agreed += amounts["agreed"]
            self.counts.errors += amounts["errors"]
            self._tally(report["model"], report["version"], **amounts)

    def _on_switch(self, new: ServedModel, old: ServedModel | None) -> None:
        """The shadow's reference moved (the manager's thread): the child loads it too."""
        loop = self._loop
        if loop is not None and not self._closed:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._send_model, new)

    def _send_model(self, model: ServedModel) -> None:
        if not self._closed:
            self._send(model_frame(model))

    def _tally(self, model: str, version: str, **amounts: int) -> None:
        """Add ``amounts`` to the Prometheus counters of the shadow version."""
        if self.metrics is not None:
            self.metrics.count_shadow(model, version, **amounts)
