"""The open segment's journal: an Arrow IPC stream, fsynced often, that becomes the segment.

A segment's batches go to ``.part-<name>.tmp``, an Arrow IPC stream the writer flushes
and fsyncs at least every ``sync_seconds`` (a Parquet file is unreadable without its
footer, so rows streamed into one were lost on a kill). Each row is written once: when
the segment closes, its stream is ended, fsynced and renamed ``part-<name>.arrows``,
the closed segment, which :mod:`polyclass.predlog._compact` later turns into
``part-<name>.parquet`` (through ``.part-<name>.convert``). The writer holds an
exclusive ``flock`` on its journal, so a journal nobody holds was left by a writer that
stopped; :func:`recover` turns its complete batches into the segment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyclass.predlog._arrow import dictionary_columns, statistics_columns

__all__ = [
    "Journal",
    "Leftover",
    "leftovers",
    "parquet_writer",
    "publish",
    "recover",
    "staging",
    "to_parquet",
]

#: Suffix of a segment's journal (the name every leftover check looks for).
JOURNAL_SUFFIX = ".tmp"
#: Suffix of the Parquet file being built from a journal.
CONVERT_SUFFIX = ".convert"
#: Journal batches (written every half ``sync_seconds``) merged into one Parquet row group.
GROUP_BYTES = 2 * 1024 * 1024


class Journal:
    """An Arrow IPC stream on ``path``, locked while it is open.

    Parameters
    ----------
    path : Path
        ``.part-<name>.tmp``.
    schema : pyarrow.Schema
        Every batch's schema, with the segment's metadata.
    """

    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow as pa

        self.path = path
        # created under another name and locked before it takes its own, so no reader
        # ever finds a journal nobody holds that a live writer is about to write
        fresh = path.with_suffix(".new")
        self._file = pa.OSFile(str(fresh), "wb")  # Arrow writes it itself, off the GIL
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(fresh, path)
            self._stream = pa.ipc.new_stream(self._file, schema)
        except BaseException:
            self._file.close()
            raise
        self.dirty = False

    def write(self, batch: Any) -> None:
        """Append one row group (on disk after the next :meth:`sync`)."""
        self._stream.write_batch(batch)
        self.dirty = True

    def sync(self) -> None:
        """Flush and fsync what was written (the durability point)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self.dirty = False

    def finish(self, final: Path) -> None:
        """End the stream, fsync it and rename it ``final``, still locked: the segment closes.

        The lock is let go only after the rename, so no other process ever finds the
        finished journal unheld under its ``.tmp`` name and recovers it a second time.
        """
        self._stream.close()
        self._file.flush()
        try:
            os.fsync(self._file.fileno())
            os.replace(self.path, final)
            _fsync_folder(final.parent)
        finally:
            self._file.close()

    def close(self) -> None:
        """End the stream and let go of the file (and its lock)."""
        try:
            self._stream.close()
            self._file.flush()
        finally:
            self._file.close()


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def staging(final: Path) -> Path:
    """Where a segment's Parquet file is written before its rename to ``final``."""
    return final.with_name(f".{final.stem}{CONVERT_SUFFIX}")


def parquet_writer(path: Path, schema: Any) -> Any:
    """A segment's Parquet writer: text dictionary-encoded, min/max statistics on times,
    rows and versions only, no Arrow schema (dictionary columns read back as strings)."""
    import pyarrow.parquet as pq

    writer = pq.ParquetWriter(
        path,
        schema,
        store_schema=False,
        use_dictionary=dictionary_columns(schema),
        write_statistics=statistics_columns(schema),
    )
    metadata = schema.metadata or {}
    writer.add_key_value_metadata({k.decode(): v.decode() for k, v in metadata.items()})
    return writer


class _Groups:
    """A journal's complete batches, gathered into row groups of about ``group_bytes``.

    Reading stops at a torn last message (a writer killed mid-write); ``error`` then
    says why. The journal is memory-mapped: its batches are read without a copy.
    """

    def __init__(self, path: Path, group_bytes: int) -> None:
        import pyarrow as pa

        self.error: str | None = None
        self.schema: Any = None
        self._group_bytes = group_bytes
        self._file = pa.memory_map(str(path))
        try:
            self._reader = pa.ipc.open_stream(self._file)
            self.schema = self._reader.schema
        except (pa.ArrowInvalid, OSError) as exc:
            self.error = str(exc) or "empty"
            self._reader = None

    def __iter__(self) -> Iterator[Any]:
        import pyarrow as pa

        group: list[Any] = []
        size = 0
        while self._reader is not None:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as exc:
                self.error = str(exc)
                break
            if group and size + batch.nbytes > self._group_bytes:
                yield pa.Table.from_batches(group)
                group, size = [], 0
            group.append(batch)
            size += batch.nbytes
        if group:
            yield pa.Table.from_batches(group)

    def close(self) -> None:
        self._file.close()


def to_parquet(journal: Path, final: Path, *, strict: bool = True) -> tuple[int, str | None]:
    """Write a journal's complete row groups to ``final`` (temp, fsync, rename).

    Returns the rows written and why reading stopped early (None: the whole journal).
    Writes nothing when there is no complete row group. ``strict``: raise instead of
    dropping a torn tail (a closed journal must read whole). The journal itself is left
    for the caller to delete.
    """

    groups = _Groups(journal, GROUP_BYTES)
    convert = staging(final)
    writer = None
    rows = 0
    try:
        for table in groups:
            if writer is None:
                writer = parquet_writer(convert, groups.schema)
            writer.write_table(table, row_group_size=table.num_rows)
            rows += table.num_rows
    finally:
        groups.close()
        if writer is not None:
            writer.close()
    if strict and groups.error is not None:
        convert.unlink(missing_ok=True)
        raise OSError(f"the journal {journal} cannot be read whole: {groups.error}")
    if writer is None:
        return 0, groups.error
    publish(convert, final)
    return rows, groups.error


def publish(path: Path, final: Path) -> None:
    """fsync ``path``, rename it to ``final`` and fsync the folder: now readers see it."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(path, final)
    _fsync_folder(final.parent)


@dataclass(frozen=True)
class Leftover:
    """A journal left by a writer that stopped without closing its segment."""

    path: Path
    final: Path  # the segment it becomes


def _held(path: Path) -> bool | None:
    """Whether a live writer holds ``path``'s lock (None: the file is gone)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def leftovers(folder: Path) -> list[Leftover]:
    """Journals in ``folder`` no live writer holds, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f".part-*{JOURNAL_SUFFIX}")):
        if _held(path) is False:
            final = path.with_name(path.name[1 : -len(JOURNAL_SUFFIX)] + ".parquet")
            found.append(Leftover(path, final))
    return found


def recover(folder: Path) -> list[str]:
    """Turn left-over journals into segments; one sentence per journal saying what it held.

    A journal whose segment already exists (the writer stopped between the rename and
    the delete) is deleted. An unreadable one is renamed ``.part-*.lost`` so it is
    reported once, not read again.
    """
    messages = []
    for item in leftovers(folder):
        with contextlib.suppress(FileNotFoundError):
            staging(item.final).unlink()
        if item.final.exists():
            item.path.unlink(missing_ok=True)
            continue
        rows, error = to_parquet(item.path, item.final, strict=False)
        if rows:
            item.path.unlink(missing_ok=True)
            tail = f" (its torn last write was dropped: {error})" if error else ""
            messages.append(
                f"recovered {rows} rows from {item.path.name} into {item.final.name}{tail}"
            )
        else:
            lost = item.path.with_suffix(".lost")
            os.replace(item.path, lost)
            messages.append(
                f"{item.path.name} holds no complete row group ({error or 'empty'}); "
                f"kept as {lost.name}"
            )
    return messages
