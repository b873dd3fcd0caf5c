"""The prediction log: append-only Parquet segments, written off the request path.

Layout (the contract ``polyclass monitor`` reads; see docs/architecture.md)::

    <root>/logs/<model_name>/predictions/part-<YYYYmmddTHHMMSSffffff>-<pid>-<seq>.parquet
    <root>/logs/<model_name>/feedback/part-...parquet

A request's rows are copied into the open block of preallocated columns (``_Block``; no
new container per row for the garbage collector to scan), which joins an in-memory
buffer as one item when full; blocks of closed segments are reused. A background
thread streams the buffer into the
open segment (``.part-*.tmp``) one row group per ``CHUNK_BYTES`` of buffered rows: each
row group's Arrow columns are built straight from the NumPy buffers
(``pyarrow.Array.from_buffers``: no pandas, no ``pyarrow.array`` conversion, which would
import pandas; text as dictionary arrays) and written with
``pyarrow.parquet.ParquetWriter``, and the writer yields the GIL between row groups.
The segment is closed, fsynced and renamed
(readers never see a partial segment) when its requests hold ``rotate_bytes`` (default
8 MB), when its oldest request is ``rotate_seconds`` old, when the model version's
classes or inputs change, and on :meth:`SegmentLog.close` (called at shutdown, after
in-flight requests finish). A segment's requests stay referenced until its rename, so
a failed write puts them back in the buffer, and are let go a few thousand at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["LOG_VERSION", "FeedbackLog", "PredictionLog", "SegmentLog", "log_folder"]

LOG_VERSION = "1"
ROTATE_BYTES = 8 * 1024 * 1024
ROTATE_SECONDS = 10.0
#: Buffered bytes turned into one row group at a time (bounds the writer's extra memory
#: and how long it holds the GIL in one go).
CHUNK_BYTES = 2 * 1024 * 1024
#: Writes tried by ``close`` (0.05 s, 0.1 s, ... apart) before buffered rows are given up.
CLOSE_ATTEMPTS = 6

#: Closed segments between two trims of the heap (``malloc_trim``), unless the writer
#: finds nothing new to write first. Trimming after every segment handed back pages the
#: request thread then faulted in again (~45 page faults and +0.1 ms of system CPU per
#: 1,000-row request); between trims the freed memory is reused.
TRIM_EVERY = 8

#: (model name, class labels as text, numeric inputs, (categorical input, kind) pairs,
#: every input in the model's order): what rows must share to share a segment.
LogKey = tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]


def log_folder(root: str | Path, model_name: str) -> Path:
    """``<root>/logs/<model_name>``: where a model's predictions and feedback go."""
    return Path(root) / "logs" / model_name


class _Buffer:
    """Buffered requests as columns: one list per field, appended to in place.

    Appending to long-lived lists makes no new container per request, so the garbage
    collector has nothing new to look at. (With a tuple per request, every young
    collection walked the requests buffered since the last one: 2-17 ms pauses at
    3,000 one-row requests/s on a loaded machine.)
    """

    def __init__(self, n_fields: int) -> None:
        self.keys: list[Any] = []  # equal keys share a segment (same columns and classes)
        self.rows: list[int] = []
        self.nbytes: list[int] = []
        self.created: list[float] = []
        self.fields: list[list[Any]] = [[] for _ in range(n_fields)]
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self.keys)

    def append(
        self,
        key: Any,
        n_rows: int,
        nbytes: int,
        values: tuple[Any, ...],
        created: float | None = None,
    ) -> None:
        self.keys.append(key)
        self.rows.append(n_rows)
        self.nbytes.append(nbytes)
        self.created.append(time.monotonic() if created is None else created)
        for column, value in zip(self.fields, values, strict=True):
            column.append(value)
        self.total_bytes += nbytes

    def part(self, start: int, stop: int) -> _Buffer:
        """Requests ``start:stop`` as a new buffer."""
        out = _Buffer(len(self.fields))
        out.keys = self.keys[start:stop]
        out.rows = self.rows[start:stop]
        out.nbytes = self.nbytes[start:stop]
        out.created = self.created[start:stop]
        out.fields = [column[start:stop] for column in self.fields]
        out.total_bytes = sum(out.nbytes)
        return out

    def release(self, step: int = 2048) -> None:
        """Drop the buffered values a few thousand at a time, yielding the GIL in between.

        Freeing 10,000 requests' arrays in one ``del`` held the GIL for ~10 ms.
        """
        for column in [*self.fields, self.keys, self.rows, self.nbytes, self.created]:
            while column:
                del column[-step:]
                time.sleep(0)
        self.total_bytes = 0

    def extend(self, other: _Buffer) -> None:
        self.keys += other.keys
        self.rows += other.rows
        self.nbytes += other.nbytes
        self.created += other.created
        for column, more in zip(self.fields, other.fields, strict=True):
            column += more
        self.total_bytes += other.total_bytes


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


@dataclass
class _Segment:
    """The segment being written: a ParquetWriter on ``.part-*.tmp`` and the requests in it."""

    key: Any
    tmp: Path
    final: Path
    created: float  # when its oldest request arrived
    written: _Buffer  # its requests, kept until the rename to retry them if a write fails
    writer: Any = None  # pyarrow.parquet.ParquetWriter, opened with the first row group
    schema: Any = None


class SegmentLog:
    """A folder of immutable Parquet segments fed from a buffer by a writer thread.

    The writer streams: every ``CHUNK_BYTES`` of buffered requests become one row group
    of the open segment (``.part-*.tmp``), so the conversion work is spread out rather
    than done for a whole segment at once (which held up requests for ~100 ms every few
    seconds). The segment is closed, fsynced and renamed when its requests reach
    ``rotate_bytes``, when its oldest is ``rotate_seconds`` old, when the key changes, or
    on :meth:`flush`. Its requests stay referenced until the rename, so a failed write
    puts them back in the buffer to be retried.

    Parameters
    ----------
    folder : Path
        Created if absent.
    build : callable
        ``build(key, fields) -> pyarrow.RecordBatch`` for requests that share ``key``;
        ``fields[j]`` lists the ``j``-th value passed to ``_append`` by each request
        (called once per row group; every call for one key gives the same schema).
    metadata : callable
        ``metadata(key) -> dict[str, str]``: the segment's file-level key-value metadata.
    n_fields : int
        How many values each request passes to ``_append``.
    rotate_bytes, rotate_seconds : int, float
        Close a segment when its requests hold this many (estimated) bytes, or its
        oldest request is this old.
    system_allocator : bool
        Make the process's default Arrow memory pool the system allocator (for a
        server process, where Arrow's own pool would keep freed memory resident).
    """

    def __init__(
        self,
        folder: str | Path,
        build: Callable[[Any, list[list[Any]]], Any],
        metadata: Callable[[Any], dict[str, str]],
        n_fields: int,
        *,
        rotate_bytes: int = ROTATE_BYTES,
        rotate_seconds: float = ROTATE_SECONDS,
        system_allocator: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._build = build
        self._metadata = metadata
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.system_allocator = system_allocator
        self._n_fields = n_fields
        self._pending = _Buffer(n_fields)
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # guards _segment: one writer at a time
        self._segment: _Segment | None = None
        self._placed = 0  # requests of the buffer being drained already in a segment
        self._wake = threading.Event()
        self._closed = False
        self._seq = 0
        self._trim = _release_heap()
        self._untrimmed = 0  # segments closed since the heap was last trimmed
        self._last_append = time.monotonic()
        self.rows_written = 0
        self.errors = 0
        self._thread = threading.Thread(
            target=self._run, name=f"polyclass-log-{folder}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------ request path
    def _append(self, key: Any, n_rows: int, nbytes: int, *values: Any) -> None:
        self._check_open()
        with self._lock:
            full = self._append_locked(key, n_rows, nbytes, values)
        if full:
            self._wake.set()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"The log {self.folder} is closed; no more rows can be added.")

    def _append_locked(
        self,
        key: Any,
        n_rows: int,
        nbytes: int,
        values: tuple[Any, ...],
        created: float | None = None,
    ) -> bool:
        """Buffer one item (``self._lock`` held); whether a row group's worth is waiting."""
        self._pending.append(key, n_rows, nbytes, values, created)
        self._last_append = time.monotonic()
        return self._pending.total_bytes >= min(CHUNK_BYTES, self.rotate_bytes)

    def _seal_open(self, *, final: bool, now: float) -> None:
        """Move rows gathered outside the buffer into it (``self._lock`` held).

        Called by the writer before it looks at the buffer; ``final`` on a flush.
        """

    def _open_rows(self) -> int:
        """Rows gathered outside the buffer (``self._lock`` held)."""
        return 0

    def _recycle(self, written: _Buffer) -> None:
        """Take back what can be reused of a closed segment's items (before they go)."""

    @property
    def backlogged(self) -> bool:
        """True while the buffer holds twice ``rotate_bytes``: the writer is behind.

        The server then holds back its answers (``await_room``), which keeps memory
        bounded and lets the writer catch up instead of dropping rows.
        """
        return self._pending.total_bytes >= 2 * self.rotate_bytes

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
    def _run(self) -> None:
        try:  # load pyarrow now, before traffic, not in the middle of the first write
            import pyarrow as pa
            import pyarrow.compute  # its functions are registered at import: 80 ms, once
            import pyarrow.parquet
        except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
            sys.stderr.write(
                f"polyclass serve: cannot import pyarrow ({exc}); the "
                "prediction log cannot be written.\n"
            )
        else:
            if self.system_allocator:
                # Arrow's default pool (mimalloc/jemalloc) keeps pages it freed: a server
                # writing a segment every few seconds grew to ~190 MB that way; malloc
                # hands them back (with a malloc_trim every TRIM_EVERY segments, or when
                # the server is quiet).
                pa.set_memory_pool(pa.system_memory_pool())
        tick = min(0.5, self.rotate_seconds / 4)
        while not self._closed:
            self._wake.wait(tick)
            self._wake.clear()
            self._drain(final=False)
            if self._untrimmed and time.monotonic() - self._last_append >= tick:
                self._release_memory()  # a quiet moment: no request for a whole tick

    def flush(self) -> None:
        """Write everything buffered and close the open segment, now."""
        self._drain(final=True)

    def _drain(self, *, final: bool) -> None:
        """Write buffered requests as row groups; close the segment when it is due.

        Unless ``final``, requests are taken only once they fill a row group
        (``CHUNK_BYTES``) or the oldest of them is due to be in a closed segment.
        """
        with self._write_lock:
            now = time.monotonic()
            segment = self._segment
            with self._lock:
                self._seal_open(final=final, now=now)
                pending = self._pending
                oldest = pending.created[0] if len(pending) else now
                if segment is not None:
                    oldest = min(oldest, segment.created)
                due = final or now - oldest >= self.rotate_seconds
                take = len(pending) > 0 and (
                    due or pending.total_bytes >= min(CHUNK_BYTES, self.rotate_bytes)
                )
                if take:
                    self._pending = _Buffer(self._n_fields)
            self._placed = 0
            try:
                if take:
                    self._write_runs(pending)
                    pending.release()  # its arrays now live in segments' ``written`` only
                if self._segment is not None and (
                    due or (self._segment.written.total_bytes >= self.rotate_bytes)
                ):
                    self._close_segment()
            except Exception as exc:  # keep serving; keep the rows for the next try
                self.errors += 1
                sys.stderr.write(
                    f"polyclass serve: cannot write a log segment in "
                    f"{self.folder}: {exc!r}; will retry.\n"
                )
                rest = pending.part(self._placed, len(pending)) if take else None
                self._abort_segment(rest)

    def _write_runs(self, pending: _Buffer) -> None:
        """Each run of equal keys into the segment for that key, rotating by size.

        ``self._placed`` counts the requests of ``pending`` already in a segment (closed,
        or open and kept in its ``written``), for :meth:`_abort_segment`.
        """
        keys = pending.keys
        start = 0
        while start < len(keys):
            stop = start
            while stop < len(keys) and keys[stop] == keys[start]:
                stop += 1
            if self._segment is not None and self._segment.key != keys[start]:
                self._close_segment()
            for lo, hi in self._chunks(pending, start, stop):
                segment = self._segment
                if segment is None:
                    segment = self._open_segment(keys[start], pending.created[lo])
                group = pending.part(lo, hi)
                segment.written.extend(group)  # kept for a retry until the rename
                self._placed = hi
                self._write_group(segment, group)
                if segment.written.total_bytes >= self.rotate_bytes:
                    self._close_segment()
                time.sleep(0)  # let the request thread have the GIL between row groups
            start = stop

    @staticmethod
    def _chunks(group: _Buffer, start: int, stop: int) -> Iterator[tuple[int, int]]:
        """``start:stop`` in runs of about CHUNK_BYTES of requests."""
        size = 0
        for i in range(start, stop):
            size += group.nbytes[i]
            if size >= CHUNK_BYTES or i == stop - 1:
                yield start, i + 1
                start, size = i + 1, 0

    def _open_segment(self, key: Any, created: float) -> _Segment:
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"part-{stamp}-{os.getpid()}-{self._seq}"
        self._segment = _Segment(
            key=key,
            tmp=self.folder / f".{name}.tmp",
            final=self.folder / f"{name}.parquet",
            created=created,
            written=_Buffer(self._n_fields),
        )
        return self._segment

    def _write_group(self, segment: _Segment, group: _Buffer) -> None:
        """One row group into ``segment``."""
        import pyarrow.parquet as pq

        record_batch = self._build(segment.key, group.fields)
        if segment.writer is None:
            segment.schema = record_batch.schema.with_metadata(self._metadata(segment.key))
            segment.writer = pq.ParquetWriter(  # no Arrow schema: dictionary columns
                segment.tmp,
                segment.schema,
                store_schema=False,  # read back as strings
                use_dictionary=_dictionary_columns(segment.schema),
                write_statistics=_statistics_columns(segment.schema),
            )
            segment.writer.add_key_value_metadata(self._metadata(segment.key))
        segment.writer.write_batch(record_batch.replace_schema_metadata(segment.schema.metadata))

    def _close_segment(self) -> None:
        """Finish the open segment: close, fsync, rename; then let its requests go."""
        segment = self._segment
        if segment is None:
            return
        if segment.writer is not None:
            segment.writer.close()
            segment.writer = None
            with open(segment.tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(segment.tmp, segment.final)
            try:
                dir_fd = os.open(self.folder, os.O_RDONLY)
            except OSError:
                dir_fd = -1
            if dir_fd >= 0:
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        self._segment = None
        self.rows_written += sum(segment.written.rows)
        self._recycle(segment.written)
        segment.written.release()  # the buffered arrays go now
        self._untrimmed += 1
        if self._untrimmed >= TRIM_EVERY:
            self._release_memory()

    def _release_memory(self) -> None:
        self._untrimmed = 0
        self._trim()

    def _abort_segment(self, rest: _Buffer | None) -> None:
        """After a failed write: drop the partial file; its requests and ``rest`` (taken
        from the buffer but not yet in a segment) go back to the front of the buffer."""
        segment = self._segment
        self._segment = None
        back = _Buffer(self._n_fields)
        if segment is not None:
            if segment.writer is not None:
                with contextlib.suppress(Exception):  # the file is dropped anyway
                    segment.writer.close()
            with contextlib.suppress(OSError):  # absent, or the folder itself is gone
                segment.tmp.unlink()
            back.extend(segment.written)
        if rest is not None:
            back.extend(rest)
        with self._lock:
            back.extend(self._pending)
            self._pending = back

    def close(self) -> None:
        """Stop the writer thread and write what is buffered. Idempotent.

        A failed write is retried (``CLOSE_ATTEMPTS`` times, waiting longer each time)
        before the process may exit; rows that still cannot be written are reported on
        stderr with their count.
        """
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        for attempt in range(CLOSE_ATTEMPTS):
            self.flush()
            if not self.pending_rows:
                return
            time.sleep(0.05 * 2**attempt)
        sys.stderr.write(
            f"polyclass serve: {self.pending_rows} logged rows could not be "
            f"written to {self.folder} before stopping; they are lost.\n"
        )

    @property
    def pending_rows(self) -> int:
        """Rows buffered and not yet in a closed segment."""
        with self._lock:
            rows = sum(self._pending.rows) + self._open_rows()
        segment = self._segment
        if segment is not None:
            rows += sum(segment.written.rows)
        return rows


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
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [None, _buffer(_offsets(lengths)), pa.py_buffer(b"".join(encoded))],
    )


def _dictionary(codes: NDArray[Any], dictionary: Any) -> Any:
    """``dictionary[codes]`` as a dictionary array; code -1 gives null.

    Parquet stores it as is (its dictionary page and codes): no string is repeated per
    row, and the writer hashes nothing. Read back, it is a plain string column (the
    segments are written without the Arrow schema, see ``_write_group``).
    """
    import pyarrow as pa

    valid = codes >= 0
    if valid.all():
        indices = pa.Array.from_buffers(
            pa.int32(), len(codes), [None, _buffer(codes.astype(np.int32, copy=False))]
        )
    else:
        indices = pa.Array.from_buffers(
            pa.int32(),
            len(codes),
            [_validity(valid), _buffer(np.where(valid, codes, 0).astype(np.int32))],
        )
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _text_column(values: list[Any]) -> Any:
    """A string array of logged values (str(v); None = null), encoded once per distinct value."""
    seen: dict[Any, int] = {}
    setdefault = seen.setdefault
    codes = np.fromiter(
        (-1 if v is None else setdefault(v, len(seen)) for v in values),
        dtype=np.int32,
        count=len(values),
    )
    texts = [v if isinstance(v, str) else str(v) for v in seen]
    return _dictionary(codes, _strings(texts))


def _bool_column(values: list[Any]) -> Any:
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=len(values))
    flags = np.fromiter((bool(v) for v in values), dtype=np.bool_, count=len(values))
    bits = _buffer(np.packbits(flags, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [_validity(valid), bits])


#: Columns with min/max statistics: readers skip a segment by its time range.
_STATISTICS = ("row", "ts", "model_version")


def _statistics_columns(schema: Any) -> list[str]:
    """Min/max statistics for times, rows and versions only.

    Not for the float inputs (-10%), nor for text: min/max of 10,000 request ids per row
    group was string comparisons for nothing (no reader looks at them).
    """
    return [f.name for f in schema if f.name in _STATISTICS]


def _dictionary_columns(schema: Any) -> list[str]:
    """Dictionary-encode text columns only (trying it on floats costs time for nothing)."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_dictionary(f.type)]


#: Spare blocks kept for reuse (fresh 2 MB blocks cost ~60 page faults per 1,000 rows).
SPARE_BLOCKS = 4
#: Memory of one request in a block besides its rows: its id string and list slot.
#: (512 made one block of one-row requests count as 17 MB, over twice rotate_bytes:
#: the server then held requests back whenever one block waited for the writer.)
REQUEST_BYTES = 96


class _Block:
    """Rows of consecutive requests, copied into preallocated columns.

    One block becomes one row group with no per-request work left for the writer: its
    columns go to Arrow as they are. (Converting thousands of buffered one-row requests
    one by one held the GIL for 5-10 ms per row group, and requests in flight waited that
    long.) Numeric inputs are stored column-major, as Arrow wants them; the request's own
    arrays are let go at once (kept until the segment closed, they made the request
    thread allocate cold memory for every request: +0.1 ms per 1,000 rows).
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
        capacity = max(1, min(CHUNK_BYTES, self.rotate_bytes) // row_bytes)
        while self._spare:
            block = self._spare.pop()
            if block.key == key and block.capacity == capacity >= n:
                block.reset(now)
                return block
        return _Block(key, max(n, capacity), now)

    def _recycle(self, written: _Buffer) -> None:
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
        if block is not None and (final or now - block.created >= self.rotate_seconds):
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
            "request_id": _dictionary(_joined(requests), _strings(ids)),
            "row": _primitive(pa.int32(), _joined([p.row for p in parts])),
            "ts": _primitive(pa.timestamp("us", tz="UTC"), _joined([p.ts for p in parts])),
            "model_name": _dictionary(np.zeros(total, dtype=np.int32), _strings([model_name])),
            "model_version": _primitive(pa.int64(), _joined([p.version for p in parts])),
            "prediction": _dictionary(index, _strings(list(class_strs))),
            "proba": pa.ListArray.from_arrays(
                _primitive(pa.int32(), np.arange(0, total * k + 1, k, dtype=np.int32)),
                _primitive(pa.float64(), proba.reshape(-1)),
            ),
        }
        inputs: dict[str, Any] = {}
        if numeric_names:
            # column-major: each input column is contiguous and goes to Arrow as is
            numeric = _joined([p.numeric for p in parts], axis=1)
            finite = np.isfinite(numeric)
            for j, col in enumerate(numeric_names):
                inputs[col] = _primitive(pa.float64(), numeric[j], finite[j])
        for c, (col, kind) in enumerate(categorical_kinds):
            flat = [v for p in parts for v in p.categorical[c]]
            inputs[col] = _bool_column(flat) if kind == "boolean" else _text_column(flat)
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
            "request_id": _strings([i[0] for i in items]),
            "row": _primitive(
                pa.int32(), np.fromiter((i[1] for i in items), dtype=np.int32, count=n)
            ),
            "label": _text_column([i[2] for i in items]),
            "ts": _primitive(pa.timestamp("us", tz="UTC"), stamps),
        }
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))
