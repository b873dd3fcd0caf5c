"""The shadow's own process: predict the served requests' rows with another version, log them.

``polyclass serve --shadow`` starts this module as a child of each server worker
(:class:`~polyclass.serve._shadow.ShadowRunner`). It reads the queued requests from its
standard input (the frames of :mod:`polyclass.serve._shadow`), takes them in slices,
predicts each slice's rows at once with the shadow version, writes every request's rows
to its own prediction log (the server's folder, its own segments) under the shadow's
version with that request's id, and reports on a pipe what it compared, how often it
agreed with the served answer, and what it failed on. Its answers are never returned.

It runs at a lower CPU priority and rests so that it works at most a share of the time
(its log's writer included), as its CPU and memory traffic still slow the server on a
small machine; when it falls behind, the server drops samples (counted) rather than
wait. SIGTERM (sent by a stopping server, or by Linux when the server dies) ends its
rests; the end of its input makes it log every request it was sent and close its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Sequence
from itertools import chain
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from polyclass.preprocess import Encoded, Table
from polyclass.serve._lifeline import exit_with_parent
from polyclass.serve._served import Prediction, ServedModel, load_served, log_rows
from polyclass.serve._shadow import Frames, Item, ShadowCounts

__all__ = ["SLICE_REQUESTS", "SLICE_ROWS", "Shadow", "join_tables", "main"]

#: One slice, predicted at once: at most this many requests and rows (one larger request
#: is a slice of its own).
SLICE_REQUESTS = 256
SLICE_ROWS = 4096
#: The rest after reading less than a slice, so requests arriving one by one are taken
#: in slices instead of waking the process once each.
MIN_REST = 0.01
#: Seconds of idle time the process may make up for in a burst.
CREDIT = 1.0
#: Seconds between two reports of the counts to the server.
REPORT_SECONDS = 0.1
#: ``os.nice`` increment: the shadow takes the CPU the request path leaves idle.
NICENESS = 10

Record = Callable[[str, ServedModel, Prediction], None]


def join_tables(tables: Sequence[Table]) -> Table | None:
    """The rows of ``tables`` as one table, or None when their forms differ.

    Tables join when every one is a numeric matrix of one width, or every one holds
    lists under the same column names; anything else is predicted table by table.
    """
    first = tables[0]
    if len(tables) == 1:
        return first
    n_rows = sum(t.n_rows for t in tables)
    if first.matrix is not None:
        width = first.matrix.shape[1]
        if any(t.matrix is None or t.matrix.shape[1] != width for t in tables):
            return None
        matrix = np.concatenate([t.matrix for t in tables if t.matrix is not None])
        return Table(
            n_rows, matrix=matrix, matrix_loc=first.matrix_loc, matrix_keys=first.matrix_keys
        )
    names = first.columns.keys()
    for t in tables:
        if t.matrix is not None or t.columns.keys() != names:
            return None
        if not all(isinstance(values, list) for values in t.columns.values()):
            return None
    columns = {n: list(chain.from_iterable(t.columns[n] for t in tables)) for n in names}
    return Table(n_rows, columns, first.locs)


def _by_name(table: Table, features: Sequence[str], model: ServedModel) -> Table:
    """``table`` as ``model`` reads it: a matrix in another version's input order becomes
    named columns (a missing input then fails that request alone, counted)."""
    if table.matrix is None or list(features) == model.feature_names:
        return table
    matrix = table.matrix
    return Table(table.n_rows, {name: matrix[:, j] for j, name in enumerate(features)})


def _part(prediction: Prediction, start: int, stop: int) -> Prediction:
    """Rows ``start:stop`` of a prediction (views, no copies)."""
    enc = prediction.encoded
    return Prediction(
        index=prediction.index[start:stop],
        proba=prediction.proba[start:stop],
        encoded=Encoded(
            X=enc.X[start:stop],
            numeric=enc.numeric[start:stop],
            categorical=[values[start:stop] for values in enc.categorical],
        ),
    )


def slices(items: Sequence[Item]) -> list[list[Item]]:
    """``items`` in order, cut into slices of at most ``SLICE_REQUESTS`` and ``SLICE_ROWS``."""
    out: list[list[Item]] = []
    batch: list[Item] = []
    rows = 0
    for item in items:
        n = len(item.served)
        if batch and (len(batch) >= SLICE_REQUESTS or rows + n > SLICE_ROWS):
            out.append(batch)
            batch, rows = [], 0
        batch.append(item)
        rows += n
    if batch:
        out.append(batch)
    return out


class Shadow:
    """Predicts slices of requests with the shadow version and logs each request's rows.

    Parameters
    ----------
    model : ServedModel
        The shadow version (:attr:`model` is replaced when its reference moves).
    record : callable
        ``record(request_id, model, prediction)`` logs a request's shadow prediction.
    """

    def __init__(self, model: ServedModel, record: Record) -> None:
        self.model, self.record = model, record
        self.counts = ShadowCounts()
        self._to_served: dict[tuple[int, int], tuple[Any, Any, NDArray[np.intp]]] = {}

    def predict(self, batch: Sequence[Item]) -> None:
        """Predict a slice's rows at once and log each request's part; requests are taken
        one by one when their tables do not join or the joined prediction fails."""
        model = self.model
        tables = [_by_name(item.table, item.features, model) for item in batch]
        table = join_tables(tables)
        if table is not None:
            try:
                prediction = model.predict(table)
            except Exception:  # one request the shadow refuses: find it, spare the others
                prediction = None
            if prediction is not None:
                self._log(model, batch, prediction)
                return
        for item, one in zip(batch, tables, strict=True):
            try:
                prediction = model.predict(one)
            except Exception as exc:  # a shadow never affects serving; count and say once
                self._failed(model, exc)
                continue
            self._log(model, [item], prediction)

    def _log(self, model: ServedModel, batch: Sequence[Item], prediction: Prediction) -> None:
        """Log each request's rows of ``prediction``; count the logged ones and how many
        of their rows agree with the served answer."""
        same = self._agreeing(model, batch, prediction.index)
        agreed = int(np.count_nonzero(same))
        requests = rows = 0
        start = 0
        for item in batch:
            stop = start + len(item.served)
            try:
                self.record(item.request_id, model, _part(prediction, start, stop))
            except Exception as exc:  # not logged, so not counted as compared
                self._failed(model, exc)
                agreed -= int(np.count_nonzero(same[start:stop]))
            else:
                requests += 1
                rows += stop - start
            start = stop
        self.counts.requests += requests
        self.counts.rows += rows
        self.counts.agreed += agreed

    def _agreeing(
        self, model: ServedModel, batch: Sequence[Item], index: NDArray[np.intp]
    ) -> NDArray[np.bool_]:
        """Per row: whether the shadow's class is the served one."""
        first = batch[0].classes
        if all(item.classes is first for item in batch):
            mapped = self._served_index(model, first)[index]
        else:  # some requests answered by the canary
            parts, start = [], 0
            for item in batch:
                stop = start + len(item.served)
                parts.append(self._served_index(model, item.classes)[index[start:stop]])
                start = stop
            mapped = np.concatenate(parts)
        served = batch[0].served if len(batch) == 1 else np.concatenate([i.served for i in batch])
        same: NDArray[np.bool_] = mapped == served
        return same

    def _served_index(self, model: ServedModel, classes: Any) -> NDArray[np.intp]:
        """Each shadow class's position among the served classes (-1 when absent)."""
        key = (id(model), id(classes))
        known = self._to_served.get(key)
        if known is not None and known[0] is model and known[1] is classes:
            return known[2]
        position = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
        lookup = np.array([position.get(c, -1) for c in model.classes], dtype=np.intp)
        if len(self._to_served) > 8:  # versions swapped in and out: forget the old ones
            self._to_served.clear()
        self._to_served[key] = (model, classes, lookup)  # held, so the ids stay theirs
        return lookup

    def _failed(self, model: ServedModel, exc: Exception) -> None:
        self.counts.errors += 1
        if self.counts.errors == 1:
            sys.stderr.write(f"polyclass serve: shadow {model.version_label} failed: {exc}\n")


class _Reporter:
    """Sends the counts added since the last report, by shadow version, as JSON lines."""

    def __init__(self, shadow: Shadow, out: IO[bytes]) -> None:
        self.shadow, self.out = shadow, out
        self.sent = ShadowCounts()
        self.at = time.monotonic()

    @property
    def unsent(self) -> bool:
        """Whether counts were added since the last report."""
        return self.shadow.counts != self.sent

    def send(self, *, now: bool = False) -> None:
        if not now and time.monotonic() - self.at < REPORT_SECONDS:
            return
        counts, sent, model = self.shadow.counts, self.sent, self.shadow.model
        delta = {
            "model": model.name,
            "version": model.version_label,
            "requests": counts.requests - sent.requests,
            "rows": counts.rows - sent.rows,
            "agreed": counts.agreed - sent.agreed,
            "errors": counts.errors - sent.errors,
        }
        self.sent = ShadowCounts(counts.requests, counts.rows, counts.agreed, 0, counts.errors)
        self.at = time.monotonic()
        if any(delta[k] for k in ("requests", "rows", "agreed", "errors")):
            self.out.write(json.dumps(delta).encode() + b"\n")
            self.out.flush()


def _swap(shadow: Shadow, reporter: _Reporter, path: str, name: str, version: int) -> None:
    """Load the version the shadow's reference moved to (checksums verified, no code run)."""
    try:
        model = load_served(path, name=name, version=version)
    except Exception as exc:  # the server loaded it; say why this process could not
        sys.stderr.write(f"polyclass serve: the shadow process cannot load {path}: {exc}\n")
        return
    reporter.send(now=True)  # counts so far belong to the old version
    shadow.model = model


class Rest:
    """Rests so the process works (all its threads: the log's writer too) at most
    ``share`` of one CPU's time, with at most ``CREDIT`` seconds made up for after idle
    time; SIGTERM (the server stops or died) ends every rest, so all it was sent is logged
    promptly. Made on the main thread."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.cpu, self.at, self.owed = time.process_time(), time.monotonic(), 0.0
        self.stopping = False
        self._wake, wake = os.pipe()
        os.set_blocking(wake, False)
        signal.set_wakeup_fd(wake)  # a signal ends the select below at once
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def pause(self, at_least: float) -> float:
        """Seconds to rest now (0 once stopping)."""
        cpu, now = time.process_time(), time.monotonic()
        self.owed += (cpu - self.cpu) / self.share - (now - self.at)
        self.owed = max(self.owed, -CREDIT)
        self.cpu, self.at = cpu, now
        return 0.0 if self.stopping else max(self.owed, at_least)

    def rest(self, seconds: float) -> None:
        if seconds > 0 and not self.stopping:
            select.select([self._wake], [], [], seconds)


def run(config: dict[str, Any], source: int, reports: IO[bytes], rest: Rest) -> None:
    """Shadow the requests read from the file descriptor ``source`` until its end;
    ``config`` as ``main``'s."""
    log = None
    if config.get("log") is not None:
        from polyclass.predlog import PredictionLog

        log = PredictionLog(config["log"]["folder"], **config["log"]["options"])
    name, version = config["name"], config["version"]
    record: Record = (lambda *_: None) if log is None else lambda r, m, p: log_rows(log, r, m, p)
    shadow = Shadow(load_served(config["path"], name=name, version=version), record)
    reporter = _Reporter(shadow, reports)
    frames = Frames()
    try:
        while True:
            if reporter.unsent and not select.select([source], [], [], REPORT_SECONDS)[0]:
                reporter.send(now=True)  # nothing new came: the last counts go out now
            data = os.read(source, 1 << 20)
            if not data:
                break
            items: list[Item] = []
            for kind, body in frames.feed(data):
                if kind == "item":
                    items.append(body)
                elif kind == "model":
                    for batch in slices(items):  # taken by the old version, in order
                        shadow.predict(batch)
                    items = []
                    _swap(shadow, reporter, *body)
            for batch in slices(items):
                shadow.predict(batch)
            pause = rest.pause(MIN_REST if len(items) < SLICE_REQUESTS else 0.0)
            reporter.send(now=pause >= REPORT_SECONDS)  # no counts held through a long rest
            rest.rest(pause)
    finally:
        if log is not None:
            log.close()
        reporter.send(now=True)


def main() -> None:
    """``python -m polyclass.serve._shadow_worker CONFIG``: CONFIG is JSON with the shadow
    version (``path``, ``name``, ``version``), the server's pid (``parent``), the share of
    the time it works (``share``) and the log (``log``: ``folder`` and ``options``, or
    null). Frames come on standard input; reports
    go to the standard output, which everything else in this process must leave alone."""
    config = json.loads(sys.argv[1])
    reports = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, not into the reports
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C stops the server, which stops us
    rest = Rest(float(config["share"]))  # before a SIGTERM can come
    reports.write(b'{"ready": true}\n')  # the server may send SIGTERM from now on
    reports.flush()
    exit_with_parent(int(config["parent"]))
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    run(config, sys.stdin.fileno(), reports, rest)


if __name__ == "__main__":
    main()
