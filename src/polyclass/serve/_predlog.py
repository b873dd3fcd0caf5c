"""The prediction log: append-only Parquet segments, written off the request path.

Layout (the contract ``polyclass monitor`` reads; see docs/architecture.md)::

    <root>/logs/<model_name>/predictions/part-<YYYYmmddTHHMMSSffffff>-<pid>-<seq>.parquet
    <root>/logs/<model_name>/feedback/part-...parquet

A request only appends a reference to its arrays to an in-memory buffer (O(1), no
copy); a background thread cuts a segment when the buffer holds ``rotate_bytes``
(default 8 MB) or its oldest row is ``rotate_seconds`` old, when the model version's
classes or inputs change, and on :meth:`SegmentLog.close` (called at shutdown, after
in-flight requests finish). The segment is written under a temporary name
(``.part-*.tmp``) in row groups of about ``CHUNK_BYTES`` of buffered rows: each chunk's
Arrow columns are built straight from the NumPy buffers (``pyarrow.Array.from_buffers``:
no pandas, no ``pyarrow.array`` conversion, which would import pandas), written, and
dropped before the next, and the writer yields the GIL between chunks so requests are
not held up behind a long conversion. The file is then fsynced and renamed, so readers
never see a partial segment.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["LOG_VERSION", "FeedbackLog", "PredictionLog", "SegmentLog", "log_folder"]

LOG_VERSION = "1"
ROTATE_BYTES = 8 * 1024 * 1024
ROTATE_SECONDS = 10.0
#: Buffered bytes turned into one row group at a time (bounds the writer's extra memory
#: and how long it holds the GIL in one go).
CHUNK_BYTES = 2 * 1024 * 1024

#: (model name, class labels as text, numeric inputs, (categorical input, kind) pairs,
#: every input in the model's order): what rows must share to share a segment.
LogKey = tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...],
               tuple[str, ...]]


def log_folder(root: str | Path, model_name: str) -> Path:
    """``<root>/logs/<model_name>``: where a model's predictions and feedback go."""
    return Path(root) / "logs" / model_name


#: A buffered request: (key, n_rows, nbytes, created, payload), a plain tuple of strings,
#: numbers, arrays and tuples, so the garbage collector stops tracking it after one look
#: (a dataclass or a list inside would be scanned by every collection while buffered).
_Batch = tuple[Any, int, int, float, tuple[Any, ...]]
_KEY: Final = 0
_ROWS: Final = 1
_BYTES: Final = 2
_CREATED: Final = 3
_PAYLOAD: Final = 4


def _release_heap() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)`` (give freed heap pages back to the OS), else a no-op."""
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


class SegmentLog:
    """A folder of immutable Parquet segments fed from a buffer by a writer thread.

    Parameters
    ----------
    folder : Path
        Created if absent.
    build : callable
        ``build(key, payloads) -> pyarrow.RecordBatch`` for batches that share ``key``
        (called once per row group; every call for one key gives the same schema).
    metadata : callable
        ``metadata(key) -> dict[str, str]``: the segment's file-level key-value metadata.
    rotate_bytes, rotate_seconds : int, float
        Cut a segment when the buffer holds this many (estimated) bytes, or its
        oldest batch is this old.
    system_allocator : bool
        Make the process's default Arrow memory pool the system allocator (for a
        server process, where Arrow's own pool would keep freed memory resident).
    """

    def __init__(self, folder: str | Path, build: Callable[[Any, list[Any]], Any],
                 metadata: Callable[[Any], dict[str, str]], *,
                 rotate_bytes: int = ROTATE_BYTES,
                 rotate_seconds: float = ROTATE_SECONDS,
                 system_allocator: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._build = build
        self._metadata = metadata
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.system_allocator = system_allocator
        self._pending: list[_Batch] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one writer at a time
        self._wake = threading.Event()
        self._closed = False
        self._seq = 0
        self._trim = _release_heap()
        self.rows_written = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"polyclass-log-{folder}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ request path
    def _append(self, key: Any, n_rows: int, nbytes: int, payload: tuple[Any, ...]) -> None:
        if self._closed:
            raise RuntimeError(f"The log {self.folder} is closed; no more rows can be added.")
        batch: _Batch = (key, n_rows, nbytes, time.monotonic(), payload)
        with self._lock:
            self._pending.append(batch)
            self._pending_bytes += nbytes
            full = self._pending_bytes >= self.rotate_bytes
        if full:
            self._wake.set()

    @property
    def backlogged(self) -> bool:
        """True while the buffer holds twice ``rotate_bytes``: the writer is behind.

        The server then holds back its answers (``await_room``), which keeps memory
        bounded and lets the writer catch up instead of dropping rows.
        """
        return self._pending_bytes >= 2 * self.rotate_bytes

    async def await_room(self, timeout: float = 2.0) -> None:
        """Wait (without blocking the event loop) until the writer has caught up.

        Gives up after ``timeout`` seconds (a writer that keeps failing must not stall
        the server; its rows stay buffered and are retried).
        """
        import anyio

        deadline = time.monotonic() + timeout
        self._wake.set()
        while self.backlogged and time.monotonic() < deadline:
            await anyio.sleep(0.002)

    # ------------------------------------------------------------- background
    def _due(self) -> bool:
        with self._lock:
            if not self._pending:
                return False
            age = time.monotonic() - self._pending[0][_CREATED]
            return self._pending_bytes >= self.rotate_bytes or age >= self.rotate_seconds

    def _run(self) -> None:
        try:  # load pyarrow now, before traffic, not in the middle of the first write
            import pyarrow as pa
            import pyarrow.parquet
        except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
            sys.stderr.write(f"polyclass serve: cannot import pyarrow ({exc}); the "
                             "prediction log cannot be written.\n")
        else:
            if self.system_allocator:
                # Arrow's default pool (mimalloc/jemalloc) keeps pages it freed: a server
                # writing a segment every few seconds grew to ~190 MB that way; malloc
                # hands them back (with the malloc_trim after each segment).
                pa.set_memory_pool(pa.system_memory_pool())
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
                while stop < len(batches) and batches[stop][_KEY] == batches[start][_KEY]:
                    stop += 1
                try:
                    self._write(batches[start:stop])
                    self.rows_written += sum(b[_ROWS] for b in batches[start:stop])
                except Exception as exc:  # keep serving; keep the rows for the next try
                    self.errors += 1
                    sys.stderr.write(f"polyclass serve: cannot write a log segment in "
                                     f"{self.folder}: {exc!r}; will retry.\n")
                    with self._lock:
                        rest = batches[start:]
                        self._pending[:0] = rest
                        self._pending_bytes += sum(b[_BYTES] for b in rest)
                    return
                start = stop
            del batches  # the buffered arrays go now, not at the next flush
            self._trim()

    @staticmethod
    def _chunks(group: list[_Batch]) -> Iterator[list[Any]]:
        """The group's payloads in runs of about CHUNK_BYTES."""
        chunk: list[Any] = []
        size = 0
        for batch in group:
            chunk.append(batch[_PAYLOAD])
            size += batch[_BYTES]
            if size >= CHUNK_BYTES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    def _write(self, group: list[_Batch]) -> Path:
        """One segment from batches that share a key, a row group per chunk."""
        import pyarrow.parquet as pq

        key = group[0][_KEY]
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"part-{stamp}-{os.getpid()}-{self._seq}"
        tmp = self.folder / f".{name}.tmp"
        final = self.folder / f"{name}.parquet"
        writer = None
        try:
            for chunk in self._chunks(group):
                record_batch = self._build(key, chunk)
                if writer is None:
                    schema = record_batch.schema.with_metadata(self._metadata(key))
                    writer = pq.ParquetWriter(tmp, schema, use_dictionary=_dictionary_columns(
                        schema), write_statistics=_statistics_columns(schema))
                writer.write_batch(record_batch.replace_schema_metadata(schema.metadata))
                del record_batch, chunk
                time.sleep(0)  # let the request thread have the GIL between row groups
            if writer is not None:
                writer.close()
                writer = None
        except BaseException:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
            raise
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
            return sum(b[_ROWS] for b in self._pending)


# ---------------------------------------------------------------- Arrow columns
# Built with ``pyarrow.Array.from_buffers`` on NumPy memory: zero-copy for numbers, and
# no ``pyarrow.array`` call, which imports pandas (tens of MB) on first use.

def _buffer(values: NDArray[Any]) -> Any:
    import pyarrow as pa

    return pa.py_buffer(np.ascontiguousarray(values))


def _validity(valid: NDArray[np.bool_] | None) -> Any:
    """A validity bitmap (None when every value is present)."""
    if valid is None or valid.all():
        return None
    return _buffer(np.packbits(valid, bitorder="little"))


def _primitive(type_: Any, values: NDArray[Any], valid: NDArray[np.bool_] | None = None) -> Any:
    import pyarrow as pa

    return pa.Array.from_buffers(type_, len(values), [_validity(valid), _buffer(values)])


def _offsets(lengths: NDArray[np.int64]) -> NDArray[np.int32]:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("A prediction-log row group holds more than 2 GB of text.")
    return offsets.astype(np.int32)


def _strings(values: Sequence[str]) -> Any:
    """A string array of Python strings (no missing values)."""
    import pyarrow as pa

    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return pa.Array.from_buffers(pa.string(), len(encoded), [
        None, _buffer(_offsets(lengths)), pa.py_buffer(b"".join(encoded))])


def _take(dictionary: Any, codes: NDArray[np.int32]) -> Any:
    """``dictionary[codes]`` as a plain array; code -1 gives null."""
    import pyarrow as pa

    valid = codes >= 0
    indices = pa.Array.from_buffers(pa.int32(), len(codes), [
        _validity(valid), _buffer(np.where(valid, codes, 0).astype(np.int32, copy=False))])
    return dictionary.take(indices)


def _text_column(values: list[Any]) -> Any:
    """A string array of logged values (str(v); None = null), encoded once per distinct value."""
    seen: dict[Any, int] = {}
    setdefault = seen.setdefault
    codes = np.fromiter((-1 if v is None else setdefault(v, len(seen)) for v in values),
                        dtype=np.int32, count=len(values))
    texts = [v if isinstance(v, str) else str(v) for v in seen]
    return _take(_strings(texts), codes)


def _bool_column(values: list[Any]) -> Any:
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=len(values))
    flags = np.fromiter((bool(v) for v in values), dtype=np.bool_, count=len(values))
    bits = _buffer(np.packbits(flags, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [_validity(valid), bits])


def _statistics_columns(schema: Any) -> list[str]:
    """Min/max statistics for ids, times, versions and labels, not the float inputs (-10%)."""
    import pyarrow as pa

    return [f.name for f in schema if not pa.types.is_floating(f.type)
            and not pa.types.is_list(f.type)]


def _dictionary_columns(schema: Any) -> list[str]:
    """Dictionary-encode text columns only (trying it on floats costs time for nothing)."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_string(f.type)]


class PredictionLog(SegmentLog):
    """Every predicted row: request id, time, model version, inputs, label, probabilities."""

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(Path(folder) / "predictions", self._record_batch, self._file_metadata,
                         **kwargs)

    def record(self, request_id: str, model_version: int, key: LogKey,
               index: NDArray[np.intp], proba: NDArray[np.float64],
               numeric: NDArray[np.float64], categorical: Sequence[Sequence[Any]]) -> None:
        """Buffer one request's rows (O(1): the arrays are kept by reference, not copied).

        ``key`` names the model, its classes and its inputs (``ServedModel.log_key``);
        ``numeric`` holds the numeric inputs (n, n_numeric), NaN = missing; each list
        of ``categorical`` one categorical or boolean input, None = missing. The arrays
        must not be changed afterwards.
        """
        n = len(index)
        nbytes = proba.nbytes + numeric.nbytes + index.nbytes + 56 * n * len(categorical) + 512
        ts = time.time_ns() // 1000
        self._append(key, n, nbytes, (request_id, ts, model_version, index, proba, numeric,
                                      tuple(categorical)))

    @staticmethod
    def _file_metadata(key: LogKey) -> dict[str, str]:
        return {"classes": json.dumps(list(key[1])), "polyclass_log_version": LOG_VERSION}

    @staticmethod
    def _record_batch(key: LogKey, payloads: list[Any]) -> Any:
        import pyarrow as pa

        model_name, class_strs, numeric_names, categorical_kinds, order = key
        m = len(payloads)
        counts = np.fromiter((len(p[3]) for p in payloads), dtype=np.int64, count=m)
        total = int(counts.sum())
        one_each = total == m  # one row per request: no repeats needed
        request = None if one_each else np.repeat(np.arange(m, dtype=np.int32), counts)

        def per_row(values: NDArray[Any]) -> NDArray[Any]:
            return values if request is None else values[request]

        ids = _strings([p[0] for p in payloads])
        if request is not None:
            ids = _take(ids, request)
        starts = np.cumsum(counts) - counts
        rows = (np.arange(total, dtype=np.int64) - per_row(starts)).astype(np.int32)
        name = model_name.encode("utf-8", "surrogatepass")
        k = len(class_strs)
        index = np.concatenate([p[3] for p in payloads]).astype(np.int32, copy=False)
        proba = np.concatenate([p[4].reshape(-1) for p in payloads])
        columns: dict[str, Any] = {
            "request_id": ids,
            "row": _primitive(pa.int32(), rows),
            "ts": _primitive(pa.timestamp("us", tz="UTC"), per_row(
                np.fromiter((p[1] for p in payloads), dtype=np.int64, count=m))),
            "model_name": pa.Array.from_buffers(pa.string(), total, [
                None, _buffer(_offsets(np.full(total, len(name), dtype=np.int64))),
                pa.py_buffer(name * total)]),
            "model_version": _primitive(pa.int64(), per_row(
                np.fromiter((p[2] for p in payloads), dtype=np.int64, count=m))),
            "prediction": _take(_strings(list(class_strs)), index),
            "proba": pa.ListArray.from_arrays(
                _primitive(pa.int32(), np.arange(0, total * k + 1, k, dtype=np.int32)),
                _primitive(pa.float64(), proba)),
        }
        inputs: dict[str, Any] = {}
        if numeric_names:
            # one copy, column-major: each input column is contiguous and goes to Arrow as is
            numeric = np.concatenate([p[5].T for p in payloads], axis=1)
            finite = np.isfinite(numeric)
            for j, col in enumerate(numeric_names):
                inputs[col] = _primitive(pa.float64(), numeric[j], finite[j])
        for c, (col, kind) in enumerate(categorical_kinds):
            flat = [v for p in payloads for v in p[6][c]]
            inputs[col] = _bool_column(flat) if kind == "boolean" else _text_column(flat)
        for col in order:
            columns[f"in.{col}"] = inputs[col]
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))


class FeedbackLog(SegmentLog):
    """Ground-truth labels sent to ``POST /feedback``, joined to predictions by request id."""

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(Path(folder) / "feedback", self._record_batch,
                         lambda key: {"polyclass_log_version": LOG_VERSION}, **kwargs)

    def record(self, items: Sequence[tuple[str, int, str]]) -> None:
        """Buffer ``(request_id, row, label)`` items; row -1 means every row of the request."""
        ts = time.time_ns() // 1000
        self._append("feedback", len(items), 64 * len(items) + 64, (ts, tuple(items)))

    @staticmethod
    def _record_batch(key: Any, payloads: list[Any]) -> Any:
        import pyarrow as pa

        items = [item for _, batch in payloads for item in batch]
        n = len(items)
        stamps = np.repeat(np.fromiter((ts for ts, _ in payloads), dtype=np.int64,
                                       count=len(payloads)),
                           np.fromiter((len(b) for _, b in payloads), dtype=np.int64,
                                       count=len(payloads)))
        columns = {
            "request_id": _strings([i[0] for i in items]),
            "row": _primitive(pa.int32(), np.fromiter((i[1] for i in items), dtype=np.int32,
                                                      count=n)),
            "label": _text_column([i[2] for i in items]),
            "ts": _primitive(pa.timestamp("us", tz="UTC"), stamps),
        }
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))
