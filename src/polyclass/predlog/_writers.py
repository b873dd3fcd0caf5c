"""The prediction and feedback logs: what a request's rows become in a segment."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.predlog import _segmentlog
from polyclass.predlog._arrow import bool_column, dictionary, primitive, strings, text_column
from polyclass.predlog._format import LOG_VERSION, LogKey
from polyclass.predlog._segmentlog import Buffer, SegmentLog

__all__ = ["FeedbackLog", "PredictionLog"]

#: Spare blocks kept for reuse (a fresh block's pages are faulted in by the request thread).
SPARE_BLOCKS = 4
#: Memory of one request in a block besides its rows: its id string and list slot (an
#: overestimate made a block of one-row requests look like a backlog, see ``backlogged``).
REQUEST_BYTES = 96


class _Block:
    """Rows of consecutive requests, copied into preallocated columns.

    One block becomes one row group with no per-request work left for the writer: its
    columns go to Arrow as they are (converting buffered requests one by one held the
    GIL while requests waited). Numeric inputs are stored column-major, as Arrow wants
    them; the request's own arrays are let go at once (kept until the segment closed,
    they made the request thread allocate cold memory for every request).
    """

    def __init__(self, key: LogKey, capacity: int, created: float) -> None:
        k = len(key[1])
        self.key = key
        self.capacity = capacity
        self.created = created
        self.n = 0
        self.nbytes = 0
        self.ids: list[str] = []
        self.request = np.empty(capacity, dtype=np.int32)  # row -> its request in ids
        self.row = np.empty(capacity, dtype=np.int32)
        self.ts = np.empty(capacity, dtype=np.int64)
        self.version = np.empty(capacity, dtype=np.int64)
        self.index = np.empty(capacity, dtype=np.int32)
        self.proba = np.empty((capacity, k), dtype=np.float64)
        self.numeric = np.empty((len(key[2]), capacity), dtype=np.float64)
        self.categorical: list[list[Any]] = [[] for _ in key[3]]

    def reset(self, created: float) -> None:
        self.created = created
        self.n = self.nbytes = 0
        self.ids = []
        self.categorical = [[] for _ in self.key[3]]

    def add(
        self,
        request_id: str,
        ts: int,
        version: int,
        index: NDArray[np.intp],
        proba: NDArray[np.float64],
        numeric: NDArray[np.float64],
        categorical: Sequence[Sequence[Any]],
        nbytes: int,
    ) -> None:
        start = self.n
        stop = start + len(index)
        self.request[start:stop] = len(self.ids)
        self.ids.append(request_id)
        self.row[start:stop] = _row_numbers(stop - start)
        self.ts[start:stop] = ts
        self.version[start:stop] = version
        self.index[start:stop] = index
        self.proba[start:stop] = proba
        self.numeric[:, start:stop] = numeric.T
        for column, values in zip(self.categorical, categorical, strict=True):
            column.extend(values)
        self.n = stop
        self.nbytes += nbytes


_ROWS = np.arange(1024, dtype=np.int32)


def _row_numbers(n: int) -> NDArray[np.int32]:
    """0, 1, ..., n - 1 (a view of a shared array, grown as needed)."""
    global _ROWS
    if n > len(_ROWS):
        _ROWS = np.arange(max(n, 2 * len(_ROWS)), dtype=np.int32)
    return _ROWS[:n]


@dataclass
class _Rows:
    """Some logged rows as columns (one block, or one large request)."""

    ids: list[str]
    request: NDArray[np.int32]  # position in ``ids`` of each row's request
    row: NDArray[np.int32]
    ts: NDArray[np.int64]
    version: NDArray[np.int64]
    index: NDArray[Any]
    proba: NDArray[np.float64]  # (n, k)
    numeric: NDArray[np.float64]  # (n_numeric, n)
    categorical: Sequence[Sequence[Any]]


def _rows_of(block: _Block) -> _Rows:
    n = block.n
    return _Rows(
        block.ids,
        block.request[:n],
        block.row[:n],
        block.ts[:n],
        block.version[:n],
        block.index[:n],
        block.proba[:n],
        block.numeric[:, :n],
        block.categorical,
    )


def _joined(parts: list[NDArray[Any]], axis: int = 0) -> NDArray[Any]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)


class PredictionLog(SegmentLog):
    """Every predicted row: request id, time, model version, inputs, label, probabilities."""

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        # set before the base class starts the writer thread, which reads them
        self._block: _Block | None = None  # the open block, not yet in the buffer
        self._spare: list[_Block] = []  # blocks of closed segments, for reuse
        super().__init__(
            Path(folder) / "predictions", self._record_batch, self._file_metadata, 1, **kwargs
        )

    def record(
        self,
        request_id: str,
        model_version: int,
        key: LogKey,
        index: NDArray[np.intp],
        proba: NDArray[np.float64],
        numeric: NDArray[np.float64],
        categorical: Sequence[Sequence[Any]],
    ) -> None:
        """Buffer one request's rows (copied into the open block of columns).

        ``key`` names the model, its classes and its inputs (``ServedModel.log_key``);
        ``numeric`` holds the numeric inputs (n, n_numeric), NaN = missing; each list
        of ``categorical`` one categorical or boolean input, None = missing.
        """
        n = len(index)
        row_bytes = proba.shape[1] * 8 + numeric.shape[1] * 8 + 24 + 56 * len(categorical)
        nbytes = n * row_bytes + REQUEST_BYTES
        ts = time.time_ns() // 1000
        self._check_open()
        full = False
        with self._lock:
            block = self._block
            if block is not None and (block.key != key or block.n + n > block.capacity):
                full = self._seal_block()
                block = None
            if block is None:
                block = self._block = self._new_block(key, n, row_bytes)
            block.add(request_id, ts, model_version, index, proba, numeric, categorical, nbytes)
            self._last_append = time.monotonic()
            full = (block.n == block.capacity and self._seal_block()) or full
        if full:
            self._wake.set()

    def _new_block(self, key: LogKey, n: int, row_bytes: int) -> _Block:
        """A block for ``key`` with room for ``n`` rows: a spare one, else a new one."""
        now = time.monotonic()
        capacity = max(1, min(_segmentlog.CHUNK_BYTES, self.rotate_bytes) // row_bytes)
        while self._spare:
            block = self._spare.pop()
            if block.key == key and block.capacity == capacity >= n:
                block.reset(now)
                return block
        return _Block(key, max(n, capacity), now)

    def _recycle(self, written: Buffer) -> None:
        with self._lock:
            for item in written.fields[0]:
                if len(self._spare) < SPARE_BLOCKS and isinstance(item, _Block):
                    self._spare.append(item)

    def _seal_block(self) -> bool:
        block, self._block = self._block, None
        if block is None or not block.n:
            return False
        return self._append_locked(block.key, block.n, block.nbytes, (block,), block.created)

    def _seal_open(self, *, final: bool, now: float) -> None:
        block = self._block
        if block is not None and (final or now - block.created >= self.hold_seconds):
            self._seal_block()

    def _open_rows(self) -> int:
        return self._block.n if self._block is not None else 0

    @staticmethod
    def _file_metadata(key: LogKey) -> dict[str, str]:
        return {"classes": json.dumps(list(key[1])), "polyclass_log_version": LOG_VERSION}

    @staticmethod
    def _record_batch(key: LogKey, fields: list[list[Any]]) -> Any:
        import pyarrow as pa

        model_name, class_strs, numeric_names, categorical_kinds, order = key
        parts = [_rows_of(item) for item in fields[0]]
        total = sum(len(p.index) for p in parts)
        ids: list[str] = []
        requests = []
        for p in parts:
            requests.append(p.request + len(ids) if ids else p.request)
            ids += p.ids
        k = len(class_strs)
        index = _joined([p.index for p in parts]).astype(np.int32, copy=False)
        proba = _joined([p.proba for p in parts])
        columns: dict[str, Any] = {
            "request_id": dictionary(_joined(requests), strings(ids)),
            "row": primitive(pa.int32(), _joined([p.row for p in parts])),
            "ts": primitive(pa.timestamp("us", tz="UTC"), _joined([p.ts for p in parts])),
            "model_name": dictionary(np.zeros(total, dtype=np.int32), strings([model_name])),
            "model_version": primitive(pa.int64(), _joined([p.version for p in parts])),
            "prediction": dictionary(index, strings(list(class_strs))),
            "proba": pa.ListArray.from_arrays(
                primitive(pa.int32(), np.arange(0, total * k + 1, k, dtype=np.int32)),
                primitive(pa.float64(), proba.reshape(-1)),
            ),
        }
        inputs: dict[str, Any] = {}
        if numeric_names:
            # column-major: each input column is contiguous and goes to Arrow as is
            numeric = _joined([p.numeric for p in parts], axis=1)
            finite = np.isfinite(numeric)
            for j, col in enumerate(numeric_names):
                inputs[col] = primitive(pa.float64(), numeric[j], finite[j])
        for c, (col, kind) in enumerate(categorical_kinds):
            flat = [v for p in parts for v in p.categorical[c]]
            inputs[col] = bool_column(flat) if kind == "boolean" else text_column(flat)
        for col in order:
            columns[f"in.{col}"] = inputs[col]
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))


class FeedbackLog(SegmentLog):
    """Ground-truth labels sent to ``POST /feedback``, joined to predictions by request id."""

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(
            Path(folder) / "feedback",
            self._record_batch,
            lambda key: {"polyclass_log_version": LOG_VERSION},
            2,
            **kwargs,
        )

    def record(self, items: Sequence[tuple[str, int, str]]) -> None:
        """Buffer ``(request_id, row, label)`` items; row -1 means every row of the request."""
        ts = time.time_ns() // 1000
        self._append("feedback", len(items), 64 * len(items) + 64, ts, list(items))

    @staticmethod
    def _record_batch(key: Any, fields: list[list[Any]]) -> Any:
        import pyarrow as pa

        times, batches = fields
        items = [item for batch in batches for item in batch]
        n = len(items)
        stamps = np.repeat(
            np.fromiter(times, dtype=np.int64, count=len(times)),
            np.fromiter(map(len, batches), dtype=np.int64, count=len(times)),
        )
        columns = {
            "request_id": strings([i[0] for i in items]),
            "row": primitive(
                pa.int32(), np.fromiter((i[1] for i in items), dtype=np.int32, count=n)
            ),
            "label": text_column([i[2] for i in items]),
            "ts": primitive(pa.timestamp("us", tz="UTC"), stamps),
        }
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))
