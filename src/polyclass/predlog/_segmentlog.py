"""Append-only segments written off the request path, durable within a bound.

A request's rows are copied into the open block of preallocated columns (``_Block``; no
new container per row for the garbage collector to scan), which joins an in-memory
buffer as one item when full; blocks of closed segments are reused. A background
thread streams the buffer into the open segment's journal (``.part-*.tmp``, an Arrow
IPC stream, see :mod:`polyclass.predlog._journal`) one row group per ``CHUNK_BYTES`` of
buffered rows, or sooner: no request waits longer than half of ``sync_seconds``, and the
journal is fsynced once its oldest unsynced request has waited that long, so a kill or
a power cut loses at most the last ``sync_seconds`` of answered rows. Each row group's
Arrow columns are built straight from the NumPy buffers (``pyarrow.Array.from_buffers``:
no pandas; text as dictionary arrays), and the writer yields the GIL between row groups.
The segment is closed (its journal ended, fsynced and renamed ``part-*.arrows``: readers
never see a partial segment) when its requests hold ``rotate_bytes`` (default 8 MB),
when its oldest request is ``rotate_seconds`` old, when the model version's classes or
inputs change, and on :meth:`SegmentLog.close` (called at shutdown, after in-flight
requests finish). Each row is thus written once; closed segments become Parquet by
compaction (:mod:`polyclass.predlog._compact`), in the writer thread or, for a server,
in a child process at a lower priority, and on :meth:`SegmentLog.close`. A segment's
requests stay referenced until its rename, so a failed write puts them back in the
buffer, and are let go a few thousand at a time. Journals left by a killed writer are
turned into segments when the next writer starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyclass.predlog._compact import Compactor
from polyclass.predlog._format import ARROW_SUFFIX, segment_name
from polyclass.predlog._journal import Journal, recover

__all__ = ["CHUNK_BYTES", "ROTATE_BYTES", "ROTATE_SECONDS", "SYNC_SECONDS", "Buffer", "SegmentLog"]

ROTATE_BYTES = 8 * 1024 * 1024
ROTATE_SECONDS = 10.0
#: At most this many seconds of answered rows are lost on a kill or a power cut: the
#: writer fsyncs the open segment's journal at least this often.
SYNC_SECONDS = 1.0
#: Buffered bytes turned into one row group at a time (bounds the writer's extra memory
#: and how long it holds the GIL in one go).
CHUNK_BYTES = 2 * 1024 * 1024
#: Writes tried by ``close`` (0.05 s, 0.1 s, ... apart) before buffered rows are given up.
CLOSE_ATTEMPTS = 6

#: Closed segments between two trims of the heap (``malloc_trim``), unless the writer
#: finds nothing new to write first: between trims the request thread reuses the freed
#: memory instead of faulting fresh pages in.
TRIM_EVERY = 8
#: Seconds :meth:`SegmentLog.close` spends compacting before it leaves the rest as they
#: are (readers read them; the next writer or child compacts them).
CLOSE_COMPACT_SECONDS = 10.0


class Buffer:
    """Buffered requests as columns: one list per field, appended to in place.

    Appending to long-lived lists makes no new container per request, so the garbage
    collector has nothing new to look at (a tuple per request made every young
    collection walk the requests buffered since the last one).
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

    def part(self, start: int, stop: int) -> Buffer:
        """Requests ``start:stop`` as a new buffer."""
        out = Buffer(len(self.fields))
        out.keys = self.keys[start:stop]
        out.rows = self.rows[start:stop]
        out.nbytes = self.nbytes[start:stop]
        out.created = self.created[start:stop]
        out.fields = [column[start:stop] for column in self.fields]
        out.total_bytes = sum(out.nbytes)
        return out

    def grouped(self, first: Any) -> Buffer:
        """The same requests with equal keys side by side, ``first``'s key leading and each
        key's requests in their order: alternating keys (a shadow or canary whose inputs
        differ from the served version's) would otherwise close a segment at every switch."""
        keys = self.keys
        if all(key is keys[0] or key == keys[0] for key in keys):
            return self
        runs: dict[Any, list[int]] = {first: []} if first is not None else {}
        for i, key in enumerate(keys):
            runs.setdefault(key, []).append(i)
        order = [i for indices in runs.values() for i in indices]
        out = Buffer(len(self.fields))
        out.keys = [keys[i] for i in order]
        out.rows = [self.rows[i] for i in order]
        out.nbytes = [self.nbytes[i] for i in order]
        out.created = [self.created[i] for i in order]
        out.fields = [[column[i] for i in order] for column in self.fields]
        out.total_bytes = self.total_bytes
        return out

    def release(self, step: int = 2048) -> None:
        """Drop the buffered values a few thousand at a time, yielding the GIL in between
        (one ``del`` of them all held up requests)."""
        for column in [*self.fields, self.keys, self.rows, self.nbytes, self.created]:
            while column:
                del column[-step:]
                time.sleep(0)
        self.total_bytes = 0

    def extend(self, other: Buffer) -> None:
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
    """The segment being written: its journal and the requests in it."""

    key: Any
    tmp: Path
    final: Path  # ``part-<name>.arrows``, the journal's name once the segment is closed
    created: float  # when its oldest request arrived
    written: Buffer  # its requests, kept until the rename to retry them if a write fails
    journal: Journal | None = None  # opened with the first row group
    unsynced: float | None = None  # when the oldest request written since the last fsync came


class SegmentLog:
    """A folder of immutable segments fed from a buffer by a writer thread.

    The writer streams: buffered requests go to the open segment's journal
    (``.part-*.tmp``) at least every half ``sync_seconds``, one row group per
    ``CHUNK_BYTES`` of them. The segment is closed (its journal ended, fsynced and
    renamed ``part-*.arrows``) when its requests reach ``rotate_bytes``, when its oldest
    is ``rotate_seconds`` old, when the key changes, or on :meth:`flush`; closed segments
    are then compacted into Parquet. Its requests stay referenced until the rename, so a
    failed write puts them back in the buffer to be retried.

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
    sync_seconds : float
        The durability bound: a request's rows are in the fsynced journal at most this
        long after :meth:`_append` (unless the writer is behind, when the server holds
        answers back, see :attr:`backlogged`).
    system_allocator : bool
        Make the process's default Arrow memory pool the system allocator (for a
        server process, where Arrow's own pool would keep freed memory resident).
    compact_process : bool
        Compact closed segments into Parquet in a child process at a lower CPU priority
        instead of in the writer thread (see :class:`~polyclass.predlog._compact.Compactor`).
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
        sync_seconds: float = SYNC_SECONDS,
        system_allocator: bool = False,
        compact_process: bool = False,
    ) -> None:
        if not sync_seconds > 0:
            raise ValueError(f"sync_seconds must be positive; got {sync_seconds!r}.")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in recover(self.folder):  # journals of a writer that was killed
            sys.stderr.write(f"polyclass serve: prediction log {self.folder}: {message}.\n")
        self._build = build
        self._metadata = metadata
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.sync_seconds = sync_seconds
        #: Longest a request waits in memory before the writer takes it (half the bound:
        #: the other half is for writing and fsyncing it).
        self.hold_seconds = min(rotate_seconds, sync_seconds / 2)
        self.system_allocator = system_allocator
        self._compactor = Compactor(self.folder, process=compact_process)
        self._n_fields = n_fields
        self._pending = Buffer(n_fields)
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
        #: Failed writes since the log opened (each attempt counts).
        self.errors = 0
        #: Called with ``errors`` after each failed write (the server's metric).
        self.on_error: Callable[[int], None] | None = None
        #: Why writes fail now ("No space left on device at <folder>"); None while they work.
        self.failure: str | None = None
        self._failing_since = 0.0
        self._failed_attempts = 0
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

    def _recycle(self, written: Buffer) -> None:
        """Take back what can be reused of a closed segment's items (before they go)."""

    @property
    def backlogged(self) -> bool:
        """True while the buffer holds twice ``rotate_bytes``: the writer is behind.

        The server then holds back its answers (``await_room``), which keeps memory
        bounded and lets the writer catch up instead of dropping rows.
        """
        return self._pending.total_bytes >= 2 * self.rotate_bytes

    @property
    def full(self) -> bool:
        """True while writes fail and the buffer is :attr:`backlogged`: the memory bound
        is reached, so the server takes no more rows until a write succeeds again."""
        return self.failure is not None and self.backlogged

    async def await_room(self, timeout: float = 2.0) -> None:
        """Wait (without blocking the event loop) until the writer has caught up.

        Gives up after ``timeout`` seconds, or at once while writes fail (the server
        then refuses new rows instead, see :attr:`full`).
        """
        import anyio

        deadline = time.monotonic() + timeout
        self._wake.set()
        while self.backlogged and self.failure is None and time.monotonic() < deadline:
            await anyio.sleep(0.002)

    # ------------------------------------------------------------- background
    def _run(self) -> None:
        try:  # load pyarrow now, before traffic, not in the middle of the first write
            import pyarrow as pa
            import pyarrow.compute  # its functions are registered at import, a slow step
            import pyarrow.parquet
        except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
            sys.stderr.write(
                f"polyclass serve: cannot import pyarrow ({exc}); the "
                "prediction log cannot be written.\n"
            )
        else:
            if self.system_allocator:
                # Arrow's default pool (mimalloc/jemalloc) keeps pages it freed, so a
                # server's memory grew; malloc hands them back (with a malloc_trim every
                # TRIM_EVERY segments, or when the server is quiet).
                pa.set_memory_pool(pa.system_memory_pool())
        tick = min(0.5, self.rotate_seconds / 4, self.sync_seconds / 4)
        while not self._closed:
            self._wake.wait(tick)
            self._wake.clear()
            self._drain(final=False)
            self._compactor.step()
            if self._untrimmed and time.monotonic() - self._last_append >= tick:
                self._release_memory()  # a quiet moment: no request for a whole tick

    def flush(self) -> None:
        """Write everything buffered, close the open segment and compact it, now."""
        self._drain(final=True)
        self._compactor.finish(time.monotonic() + CLOSE_COMPACT_SECONDS)

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
                    due
                    or pending.total_bytes >= min(CHUNK_BYTES, self.rotate_bytes)
                    or now - pending.created[0] >= self.hold_seconds
                )
                if take:
                    self._pending = Buffer(self._n_fields)
                    pending = pending.grouped(None if segment is None else segment.key)
            self._placed = 0
            try:
                if take:
                    self._write_runs(pending)
                    pending.release()  # its arrays now live in segments' ``written`` only
                if self._segment is not None and (
                    due or (self._segment.written.total_bytes >= self.rotate_bytes)
                ):
                    self._close_segment()
                synced = self._sync(now)
            except Exception as exc:  # keep serving; keep the rows for the next try
                rest = pending.part(self._placed, len(pending)) if take else None
                self._abort_segment(rest)
                self._failed(exc)
            else:
                durable = self._segment is None or self._segment.unsynced is None
                if self.failure is not None and (take or synced) and durable:
                    self._recovered()  # on disk, not only written: fsync fails too on a full disk

    def _failed(self, exc: Exception) -> None:
        """Count a failed write; say so on stderr when it starts an outage."""
        self.errors += 1
        self._failed_attempts += 1
        if self.failure is None:
            self._failing_since = time.monotonic()
            errno = exc.errno if isinstance(exc, OSError) else None
            reason = os.strerror(errno) if errno else repr(exc)  # Arrow's message is long
            self.failure = f"{reason} at {self.folder}"
            sys.stderr.write(
                f"polyclass serve: cannot write the prediction log in {self.folder}: "
                f"{exc!r}; its rows are kept in memory and retried (up to about "
                f"{2 * self.rotate_bytes / 2**20:.3g} MB; then requests are refused "
                "with 503 until a write succeeds).\n"
            )
        if self.on_error is not None:
            self.on_error(self.errors)

    def _recovered(self) -> None:
        """A write succeeded after an outage: say so once."""
        seconds = time.monotonic() - self._failing_since
        sys.stderr.write(
            f"polyclass serve: the prediction log in {self.folder} is written again "
            f"after {self._failed_attempts} failed attempts over {seconds:.0f} s; "
            "the rows held meanwhile are being written.\n"
        )
        self.failure = None
        self._failed_attempts = 0

    def _write_runs(self, pending: Buffer) -> None:
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
                if segment.unsynced is None:
                    segment.unsynced = group.created[0]
                if segment.written.total_bytes >= self.rotate_bytes:
                    self._close_segment()
                time.sleep(0)  # let the request thread have the GIL between row groups
            start = stop

    def _sync(self, now: float) -> bool:
        """Fsync the open journal once its oldest unsynced request has waited half the
        bound; whether it did."""
        segment = self._segment
        if (
            segment is None
            or segment.journal is None
            or segment.unsynced is None
            or now - segment.unsynced < self.hold_seconds
        ):
            return False
        segment.journal.sync()
        segment.unsynced = None
        return True

    @staticmethod
    def _chunks(group: Buffer, start: int, stop: int) -> Iterator[tuple[int, int]]:
        """``start:stop`` in runs of about CHUNK_BYTES of requests."""
        size = 0
        for i in range(start, stop):
            size += group.nbytes[i]
            if size >= CHUNK_BYTES or i == stop - 1:
                yield start, i + 1
                start, size = i + 1, 0

    def _open_segment(self, key: Any, created: float) -> _Segment:
        self._seq += 1
        name = segment_name(self._seq)
        self._segment = _Segment(
            key=key,
            tmp=self.folder / f".{name}.tmp",
            final=self.folder / f"{name}{ARROW_SUFFIX}",
            created=created,
            written=Buffer(self._n_fields),
        )
        return self._segment

    def _write_group(self, segment: _Segment, group: Buffer) -> None:
        """One batch into ``segment``'s journal (the only place its rows are written)."""
        batch = self._build(segment.key, group.fields)
        if segment.journal is None:
            schema = batch.schema.with_metadata(self._metadata(segment.key))
            segment.journal = Journal(segment.tmp, schema)
        segment.journal.write(batch)

    def _close_segment(self) -> None:
        """Finish the open segment: its journal renamed, closed; its requests go."""
        segment = self._segment
        if segment is None:
            return
        if segment.journal is not None:
            segment.journal.finish(segment.final)
            segment.journal = None
            self._compactor.closed()
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

    def _abort_segment(self, rest: Buffer | None) -> None:
        """After a failed write: drop the partial file; its requests and ``rest`` (taken
        from the buffer but not yet in a segment) go back to the front of the buffer."""
        segment = self._segment
        self._segment = None
        back = Buffer(self._n_fields)
        if segment is not None:
            self._seq -= 1  # its number is used again: no gap for a reader to report
            if segment.journal is not None:
                with contextlib.suppress(Exception):  # the file is dropped anyway
                    segment.journal.close()
            for path in (segment.tmp, segment.final):
                with contextlib.suppress(OSError):  # absent, or the folder itself is gone
                    path.unlink()
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
