"""The shadow: another version predicting the served requests' rows off the response path.

The request handler only appends the parsed rows to a bounded queue (never waiting: a
full queue drops the sample and counts it). One worker thread takes the queued requests
in slices, predicts each slice's rows at once, logs every request's rows under the
shadow's version with that request's id, and counts how often it agrees with the served
answer. Its answers are never returned.

The worker shares the server's interpreter lock, so its cost on served requests is
bounded by design rather than by luck: a slice is small (a short hold of the lock), and
after each slice the worker rests long enough that it works at most ``SHADOW_SHARE`` of
the time. Its work includes what the log's writer thread spends on the rows it logged
(the writer's CPU per row so far, times its rows), since logging the shadow's rows is
part of its cost on the server. A server busier than that share allows sees shadow
samples dropped (counted in ``GET /admin/routing`` and in ``/metrics``, summed over
workers) rather than slower answers. A clean stop logs every queued request before the
log closes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from polyclass.preprocess import Encoded, Table
from polyclass.serve._canary import bucket
from polyclass.serve._manager import ModelManager
from polyclass.serve._metrics import ServerMetrics
from polyclass.serve._served import Prediction, ServedModel

__all__ = [
    "SHADOW_QUEUE",
    "SHADOW_ROWS",
    "SHADOW_SHARE",
    "ShadowCounts",
    "ShadowRunner",
    "join_tables",
]

#: Requests waiting for the shadow at most; beyond, shadow samples are dropped (counted).
SHADOW_QUEUE = 1024
#: Rows waiting for the shadow at most (a lone larger request is still taken).
SHADOW_ROWS = 65_536
#: The largest share of the time the shadow's thread works; it rests for the rest.
SHADOW_SHARE = 0.1
#: One slice, predicted at once, holds the interpreter lock briefly: at most this many
#: requests and rows (one larger request is a slice of its own).
SLICE_REQUESTS = 32
SLICE_ROWS = 1024
#: The shortest rest while less than a slice waits, so requests arriving one by one are
#: gathered into slices instead of waking the worker (and taking the lock) once each.
MIN_REST = 0.01

Record = Callable[[str, ServedModel, Prediction], None]
#: The log's writer's CPU seconds per row logged (see ``SegmentLog.seconds_per_row``).
LogCost = Callable[[], float]


class _Item(NamedTuple):
    request_id: str
    table: Table
    served: NDArray[np.intp]  # the served answer's class index per row
    classes: NDArray[np.object_]  # the answering version's classes
    features: Sequence[str]  # the answering version's inputs: a matrix's column order


@dataclass
class ShadowCounts:
    """What the shadow did: requests and rows compared, rows agreeing, samples dropped
    (queue full or server stopping), requests it failed on."""

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


class ShadowRunner:
    """One thread predicting queued requests with the shadow version, then logging them.

    Parameters
    ----------
    manager : ModelManager
        Follows the shadow's reference (hot-swaps like the served version).
    percent : float
        The share of requests shadowed (sticky by routing key, like the canary).
    record : callable
        ``record(request_id, model, prediction)`` logs a request's shadow prediction.
    share : float
        The largest share of the time the worker thread works (see ``SHADOW_SHARE``).
    metrics : ServerMetrics, optional
        Also counts there, by shadow version: this process's ``counts`` are one worker's
        and die with it, the Prometheus counters are summed over workers.
    log_cost : callable, optional
        ``log_cost()``: the log writer's CPU seconds per row, charged to the worker's share
        for each row it logs (None: no log, nothing to charge).
    """

    def __init__(
        self,
        manager: ModelManager,
        percent: float,
        record: Record,
        *,
        share: float = SHADOW_SHARE,
        metrics: ServerMetrics | None = None,
        log_cost: LogCost | None = None,
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must lie in (0, 1]; got {share!r}.")
        self.manager, self.percent, self.record = manager, percent, record
        self.share = share
        self.metrics = metrics
        self.log_cost = log_cost
        self.counts = ShadowCounts()
        self._items: deque[_Item] = deque()
        self._rows = 0  # rows in ``_items``
        # guards _items, _rows, _closed and counts.dropped
        self._cond = threading.Condition(threading.Lock())
        self._closed = False  # stopping: take no more requests, log the queued ones
        self._stopping = threading.Event()  # wakes a resting worker at stop
        self._thread: threading.Thread | None = None
        self._to_served: dict[tuple[int, int], tuple[Any, Any, NDArray[np.intp]]] = {}

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
        """Queue a request for the shadow; never waits (a full queue drops it, counted).

        ``served`` is the answer's class index per row among ``classes``; ``features``
        the answering version's inputs, in the order of ``table.matrix`` if it has one.
        """
        n = len(served)
        with self._cond:
            full = len(self._items) >= SHADOW_QUEUE or (
                self._items and self._rows + n > SHADOW_ROWS
            )
            dropped = full or self._closed
            if dropped:
                self.counts.dropped += 1
            else:
                self._items.append(_Item(request_id, table, served, classes, features))
                self._rows += n
                if len(self._items) == 1:
                    self._cond.notify()
        if dropped:
            self._tally(self.manager.current, dropped=1)

    def start(self) -> None:
        self._tally(self.manager.current)  # the series exist, at 0, before anything happens
        if self._thread is None:
            self._closed = False
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="polyclass-shadow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Log every queued request (no more rests), then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            started, rows = time.thread_time(), self.counts.rows
            self._shadow(batch)
            worked = time.thread_time() - started
            if self.log_cost is not None:
                worked += (self.counts.rows - rows) * self.log_cost()
            self._rest(worked)

    def _take(self) -> list[_Item]:
        """The next slice of queued requests (waiting for one); empty once stopped and
        drained."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            batch: list[_Item] = []
            rows = 0
            items = self._items
            while items and len(batch) < SLICE_REQUESTS:
                n = len(items[0].served)
                if batch and rows + n > SLICE_ROWS:
                    break
                batch.append(items.popleft())
                rows += n
            self._rows -= rows
            return batch

    def _rest(self, worked: float) -> None:
        """Sleep so the worker works at most ``share`` of the time, and at least
        ``MIN_REST`` unless a whole slice waits; a stop ends the rest."""
        pause = worked * (1.0 - self.share) / self.share
        with self._cond:
            behind = len(self._items) >= SLICE_REQUESTS or self._rows >= SLICE_ROWS
        self._stopping.wait(pause if behind else max(pause, MIN_REST))

    def _shadow(self, batch: list[_Item]) -> None:
        """Predict a slice's rows at once and log each request's part; requests are taken
        one by one when their tables do not join or the joined prediction fails."""
        model = self.manager.current
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

    def _log(self, model: ServedModel, batch: list[_Item], prediction: Prediction) -> None:
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
        self._tally(model, requests=requests, rows=rows, agreed=agreed)

    def _agreeing(
        self, model: ServedModel, batch: list[_Item], index: NDArray[np.intp]
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

    def _tally(self, model: ServedModel, **amounts: int) -> None:
        """Add ``amounts`` to the Prometheus counters of ``model``'s version."""
        if self.metrics is not None:
            self.metrics.count_shadow(model.name, model.version_label, **amounts)

    def _failed(self, model: ServedModel, exc: Exception) -> None:
        self.counts.errors += 1
        self._tally(model, errors=1)
        if self.counts.errors == 1:
            sys.stderr.write(f"polyclass serve: shadow {model.version_label} failed: {exc}\n")
