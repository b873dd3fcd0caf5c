"""The prediction log: append-only Parquet segments, written off the request path.

Layout (the contract ``polyclass monitor`` reads; see docs/architecture.md)::

    <root>/logs/<model_name>/predictions/part-<YYYYmmddTHHMMSSffffff>-<pid>-<seq>.parquet
    <root>/logs/<model_name>/feedback/part-...parquet

A request only appends a reference to its arrays to an in-memory buffer; a background
thread turns buffered batches into one Arrow table and writes it under a temporary
name (``.part-*.tmp``), fsyncs and renames it, so readers never see a partial segment.
A segment is cut when the buffer holds ``rotate_bytes`` or its oldest row is
``rotate_seconds`` old, when the model version's classes or inputs change, and on
:meth:`SegmentLog.close` (called at shutdown, after in-flight requests finish).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["LOG_VERSION", "FeedbackLog", "PredictionLog", "SegmentLog", "log_folder"]

LOG_VERSION = "1"
ROTATE_BYTES = 64 * 1024 * 1024
ROTATE_SECONDS = 10.0

#: (model name, class labels as text, numeric inputs, (categorical input, kind) pairs,
#: every input in the model's order): what rows must share to share a segment.
LogKey = tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...],
               tuple[str, ...]]


def log_folder(root: str | Path, model_name: str) -> Path:
    """``<root>/logs/<model_name>``: where a model's predictions and feedback go."""
    return Path(root) / "logs" / model_name


@dataclass
class _Batch:
    key: Any  # batches with equal keys share a segment (same columns and classes)
    n_rows: int
    nbytes: int
    created: float
    payload: Any


class SegmentLog:
    """A folder of immutable Parquet segments fed from a buffer by a writer thread.

    Parameters
    ----------
    folder : Path
        Created if absent.
    build : callable
        ``build(key, payloads) -> pyarrow.Table`` for batches that share ``key``.
    rotate_bytes, rotate_seconds : int, float
        Cut a segment when the buffer holds this many (estimated) bytes, or its
        oldest batch is this old.
    """

    def __init__(self, folder: str | Path, build: Callable[[Any, list[Any]], Any], *,
                 rotate_bytes: int = ROTATE_BYTES,
                 rotate_seconds: float = ROTATE_SECONDS) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._build = build
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self._pending: list[_Batch] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one writer at a time
        self._wake = threading.Event()
        self._closed = False
        self._seq = 0
        self.rows_written = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"polyclass-log-{folder}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ request path
    def _append(self, key: Any, n_rows: int, nbytes: int, payload: Any) -> None:
        if self._closed:
            raise RuntimeError(f"The log {self.folder} is closed; no more rows can be added.")
        batch = _Batch(key, n_rows, nbytes, time.monotonic(), payload)
        with self._lock:
            self._pending.append(batch)
            self._pending_bytes += nbytes
            full = self._pending_bytes >= self.rotate_bytes
        if full:
            self._wake.set()

    # ------------------------------------------------------------- background
    def _due(self) -> bool:
        with self._lock:
            if not self._pending:
                return False
            age = time.monotonic() - self._pending[0].created
            return self._pending_bytes >= self.rotate_bytes or age >= self.rotate_seconds

    def _run(self) -> None:
        try:  # load pyarrow now, before traffic, not in the middle of the first write
            import pyarrow.parquet  # noqa: F401
        except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
            sys.stderr.write(f"polyclass serve: cannot import pyarrow ({exc}); the "
                             "prediction log cannot be written.\n")
        tick = min(0.5, self.rotate_seconds / 4)
        while not self._closed:
            self._wake.wait(tick)
            self._wake.clear()
            if self._due():
                self.flush()

    def flush(self) -> None:
        """Write everything buffered now (one segment per run of equal keys)."""
        with self._write_lock:
            with self._lock:
                batches, self._pending, self._pending_bytes = self._pending, [], 0
            start = 0
            while start < len(batches):
                stop = start
                while stop < len(batches) and batches[stop].key == batches[start].key:
                    stop += 1
                group = batches[start:stop]
                try:
                    self._write(group[0].key, [b.payload for b in group])
                    self.rows_written += sum(b.n_rows for b in group)
                except Exception as exc:  # keep serving; keep the rows for the next try
                    self.errors += 1
                    sys.stderr.write(f"polyclass serve: cannot write a log segment in "
                                     f"{self.folder}: {exc!r}; will retry.\n")
                    with self._lock:
                        rest = batches[start:]
                        self._pending[:0] = rest
                        self._pending_bytes += sum(b.nbytes for b in rest)
                    return
                start = stop

    def _write(self, key: Any, payloads: list[Any]) -> Path:
        import pyarrow.parquet as pq

        table = self._build(key, payloads)
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"part-{stamp}-{os.getpid()}-{self._seq}"
        tmp = self.folder / f".{name}.tmp"
        final = self.folder / f"{name}.parquet"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        try:
            dir_fd = os.open(self.folder, os.O_RDONLY)
        except OSError:
            return final
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def close(self) -> None:
        """Stop the writer thread and write what is buffered. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()

    @property
    def pending_rows(self) -> int:
        """Rows buffered and not yet written."""
        with self._lock:
            return sum(b.n_rows for b in self._pending)


def _ts_array(ts_us: NDArray[np.int64]) -> Any:
    import pyarrow as pa

    return pa.array(ts_us, type=pa.timestamp("us", tz="UTC"))


class PredictionLog(SegmentLog):
    """Every predicted row: request id, time, model version, inputs, label, probabilities."""

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(Path(folder) / "predictions", self._table, **kwargs)

    def record(self, request_id: str, model_version: int, key: LogKey,
               index: NDArray[np.intp], proba: NDArray[np.float64],
               numeric: NDArray[np.float64], categorical: Sequence[Sequence[Any]]) -> None:
        """Buffer one request's rows (arrays are kept by reference, not copied).

        ``key`` names the model, its classes and its inputs (``ServedModel.log_key``);
        ``numeric`` holds the numeric inputs (n, n_numeric), NaN = missing; each list
        of ``categorical`` one categorical or boolean input, None = missing.
        """
        n = len(index)
        nbytes = proba.nbytes + numeric.nbytes + index.nbytes + 56 * n * len(categorical) + 512
        ts = time.time_ns() // 1000
        self._append(key, n, nbytes,
                     (request_id, ts, model_version, index, proba, numeric, categorical))

    @staticmethod
    def _table(key: LogKey, payloads: list[Any]) -> Any:
        import pyarrow as pa

        model_name, class_strs, numeric_names, categorical_kinds, order = key
        counts = np.array([len(p[3]) for p in payloads], dtype=np.int64)
        total = int(counts.sum())
        ids = np.empty(len(payloads), dtype=object)
        ids[:] = [p[0] for p in payloads]
        k = len(class_strs)
        proba = np.concatenate([p[4] for p in payloads]).reshape(-1) if total else np.empty(0)
        offsets = np.arange(0, total * k + 1, k, dtype=np.int32)
        labels = np.asarray(class_strs, dtype=object)[np.concatenate(
            [p[3] for p in payloads])] if total else np.empty(0, dtype=object)
        columns: dict[str, Any] = {
            "request_id": pa.array(np.repeat(ids, counts), type=pa.string()),
            "row": pa.array(np.concatenate([np.arange(c, dtype=np.int32) for c in counts])
                            if total else np.empty(0, dtype=np.int32), type=pa.int32()),
            "ts": _ts_array(np.repeat(np.array([p[1] for p in payloads], dtype=np.int64),
                                      counts)),
            "model_name": pa.array(np.repeat(np.array([model_name], dtype=object), total),
                                   type=pa.string()),
            "model_version": pa.array(np.repeat(np.array([p[2] for p in payloads],
                                                         dtype=np.int64), counts)),
            "prediction": pa.array(labels, type=pa.string()),
            "proba": pa.ListArray.from_arrays(pa.array(offsets),
                                              pa.array(proba, type=pa.float64())),
        }
        inputs: dict[str, Any] = {}
        # one copy, column-major: each input column is contiguous and goes to Arrow as is
        numeric = np.concatenate([p[5].T for p in payloads], axis=1) if total else np.empty(
            (len(numeric_names), 0))
        for j, name in enumerate(numeric_names):
            values = numeric[j]
            finite = np.isfinite(values)
            mask = None if finite.all() else ~finite
            inputs[name] = pa.array(values, mask=mask, type=pa.float64())
        for k, (name, kind) in enumerate(categorical_kinds):
            parts = [p[6][k] for p in payloads]
            if kind == "boolean":
                flags = [None if v is None else bool(v) for part in parts for v in part]
                inputs[name] = pa.array(flags, type=pa.bool_())
            else:
                flat = [None if v is None else v if isinstance(v, str) else str(v)
                        for part in parts for v in part]
                inputs[name] = pa.array(flat, type=pa.string())
        for name in order:
            columns[f"in.{name}"] = inputs[name]
        table = pa.table(columns)
        return table.replace_schema_metadata({"classes": json.dumps(list(class_strs)),
                                              "polyclass_log_version": LOG_VERSION})


class FeedbackLog(SegmentLog):
    """Ground-truth labels sent to ``POST /feedback``, joined to predictions by request id."""

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(Path(folder) / "feedback", self._table, **kwargs)

    def record(self, items: Sequence[tuple[str, int, str]]) -> None:
        """Buffer ``(request_id, row, label)`` items; row -1 means every row of the request."""
        ts = time.time_ns() // 1000
        self._append("feedback", len(items), 64 * len(items) + 64, (ts, list(items)))

    @staticmethod
    def _table(key: Any, payloads: list[Any]) -> Any:
        import pyarrow as pa

        ids, rows, labels, stamps = [], [], [], []
        for ts, items in payloads:
            for request_id, row, label in items:
                ids.append(request_id)
                rows.append(row)
                labels.append(label)
                stamps.append(ts)
        return pa.table({
            "request_id": pa.array(ids, type=pa.string()),
            "row": pa.array(rows, type=pa.int32()),
            "label": pa.array(labels, type=pa.string()),
            "ts": _ts_array(np.array(stamps, dtype=np.int64)),
        }).replace_schema_metadata({"polyclass_log_version": LOG_VERSION})
