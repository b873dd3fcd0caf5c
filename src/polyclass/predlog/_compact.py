"""Compaction: closed segments (Arrow IPC streams) become Parquet, off the request path.

The server writes each logged row once, into its segment's journal; a closed segment is
that journal renamed ``part-<name>.arrows``. Compaction rewrites it as
``part-<name>.parquet`` (the same columns and metadata; through ``.part-<name>.convert``,
fsynced, renamed) and then deletes the ``.arrows`` file. Readers read either; one that
finds both reads the Parquet file. Whoever compacts holds an exclusive ``flock`` on the
``.arrows`` file, so two processes never convert the same segment.

A torn closed segment (a disk error, a copy cut short) has its complete batches
compacted and is moved aside as ``.part-<name>.lost``; a segment that cannot be
compacted is reported once and left as it is (readers read it) until it changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from polyclass.predlog._format import ARROW_SUFFIX, PARQUET_SUFFIX
from polyclass.predlog._journal import to_parquet

__all__ = ["Compactor", "closed_segments", "compact", "compact_folder"]

#: ``os.nice`` increment of the compaction child process (it yields the CPU to requests).
NICENESS = 10
#: The child looks for closed segments this often...
POLL_SECONDS = 0.5
#: ...and exits once none came for this long.
CHILD_IDLE_SECONDS = 30.0
#: Least seconds between two child starts (one that keeps failing is not restarted in a loop).
RESTART_SECONDS = 5.0


#: A segment that failed to compact, as it was then: its size and mtime (ns).
Stamp = tuple[int, int]


def closed_segments(folder: Path) -> list[Path]:
    """Closed segments of ``folder`` not compacted yet, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"part-*{ARROW_SUFFIX}"))


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def to_compact(folder: Path, failed: dict[Path, Stamp]) -> list[Path]:
    """Closed segments of ``folder`` to compact: not ones that failed and have not
    changed since (they are tried again when they change, or by the next process)."""
    return [p for p in closed_segments(folder) if p not in failed or failed[p] != _stamp(p)]


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """Whether this process holds ``path``'s exclusive lock (False: another one does, or
    the file is gone) for the duration of the block."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        yield False
        return
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def compact(path: Path) -> int | None:
    """Turn the closed segment ``path`` into its Parquet file; the rows it held.

    None when another process is compacting it or it is gone already. Raises
    ``OSError`` when it cannot be read whole or written (it is then left as it is:
    readers still read it).
    """
    final = path.with_suffix(PARQUET_SUFFIX)
    with _exclusive(path) as mine:
        if not mine or not path.exists():  # gone between the open and the lock
            return None
        rows = 0
        if not final.exists():  # else compacted already, stopped before the delete
            rows, torn = to_parquet(path, final, strict=False)
            if torn is not None:
                _salvaged(path, final, rows, torn)
        if final.exists():
            path.unlink(missing_ok=True)  # moved aside already when torn
        return rows


def _salvaged(path: Path, final: Path, rows: int, torn: str) -> None:
    """Report a torn closed segment whose complete batches became ``final`` (if any) and
    move it aside (``.part-<name>.lost``: read by no one, deleted by no one)."""
    lost = path.with_name(f".{path.stem}.lost")
    missing = _torn_rows(path)
    os.replace(path, lost)
    kept = f"{rows} rows salvaged into {final.name}" if rows else "no complete batch to salvage"
    sys.stderr.write(
        f"polyclass: the closed segment {path} is torn ({torn}): {kept}; "
        f"{'its torn last batch' if missing is None else f'{missing} rows'} lost; "
        f"the original is kept as {lost.name}.\n"
    )


def _torn_rows(path: Path) -> int | None:
    """Rows of the record batch a torn Arrow IPC stream ends in, read from that
    message's header (None when the cut is not in a record batch's body)."""
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        marker, size = struct.unpack_from("<Ii", data, pos)
        if marker != 0xFFFFFFFF or size <= 0 or pos + 8 + size > len(data):
            return None
        kind, header, body = _message(data, pos + 8)
        pos += 8 + size + body
        if pos > len(data):
            return _field(data, header, 0, "<q") if kind == 3 and header else None
    return None


def _message(data: bytes, at: int) -> tuple[int, int, int]:
    """(header type, header table position, body length) of an IPC ``Message`` flatbuffer."""
    root = at + struct.unpack_from("<I", data, at)[0]
    kind = _field(data, root, 1, "<B")
    header = _field(data, root, 2, "<I", relative=True)
    return kind, header, _field(data, root, 3, "<q")


def _field(data: bytes, table: int, index: int, fmt: str, *, relative: bool = False) -> int:
    """Field ``index`` of the flatbuffer table at ``table`` (0 when absent)."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    vt_size = struct.unpack_from("<H", data, vtable)[0]
    if 4 + 2 * index >= vt_size:
        return 0
    offset = struct.unpack_from("<H", data, vtable + 4 + 2 * index)[0]
    if not offset:
        return 0
    value = int(struct.unpack_from(fmt, data, table + offset)[0])
    return table + offset + value if relative else value


def compact_folder(
    folder: Path,
    stop: Callable[[], bool] = lambda: False,
    failed: dict[Path, Stamp] | None = None,
) -> bool:
    """Compact the closed segments of ``folder``, oldest first, until ``stop()``; whether
    it got through them all.

    A segment that fails is reported on stderr once and left as it is (readers read
    it); with ``failed``, it is noted there and skipped until it changes.
    """
    failed = {} if failed is None else failed
    for path in to_compact(folder, failed):
        if stop():
            return False
        stamp = _stamp(path)
        try:
            compact(path)
        except Exception as exc:  # a background job: report it, keep the segment
            if stamp is not None:
                failed[path] = stamp
            sys.stderr.write(
                f"polyclass: cannot compact {path} into Parquet: {exc!r}; it stays as it "
                "is (readers read it) and is tried again when it changes or at the next "
                "start.\n"
            )
            _tell_parent(path, stamp)
    return True


def _tell_parent(path: Path, stamp: Stamp | None) -> None:
    """In the compaction child: tell the writer that ``path`` failed, so no later child
    tries it again (one line on stdout, read by :class:`Compactor`)."""
    if _IN_CHILD and stamp is not None:
        sys.stdout.write(f"{stamp[0]} {stamp[1]} {path}\n")
        sys.stdout.flush()


_IN_CHILD = False


def _child(folder: Path) -> None:
    """The compaction child: at a lower priority, compact ``folder`` as segments close;
    exit when its stdin ends (the writer stopped it, or its process is gone) or nothing
    was left to compact for ``CHILD_IDLE_SECONDS`` (segments that failed, here or in an
    earlier child as the first line of stdin says, count only once they change)."""
    global _IN_CHILD
    _IN_CHILD = True
    with contextlib.suppress(OSError, AttributeError):  # not allowed, or not on this OS
        os.nice(NICENESS)
    stop = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        stop.set()

    failed = {Path(p): (size, mtime) for p, size, mtime in json.loads(sys.stdin.readline())}
    threading.Thread(target=watch, daemon=True).start()
    idle_since = time.monotonic()
    while not stop.is_set():
        if to_compact(folder, failed):
            compact_folder(folder, stop.is_set, failed)
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= CHILD_IDLE_SECONDS:
            return
        stop.wait(POLL_SECONDS)


def _child_command(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The child's command line and environment (polyclass importable from where this
    process imported it)."""
    import polyclass

    env = dict(os.environ)
    where = str(Path(polyclass.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [where, env.get("PYTHONPATH")]))
    return [sys.executable, "-m", "polyclass.predlog._compact", str(folder)], env


class Compactor:
    """Compacts one folder's closed segments for its writer.

    In the writer's thread after each segment closes, or (``process``) in one
    long-lived child process at a lower CPU priority, started when a segment closes and
    none runs: the request thread then shares neither the GIL nor its priority with the
    Parquet encoding, and one child serves a busy period (its start costs an
    interpreter and pyarrow's import). The child is a plain ``python -m`` process, not
    a multiprocessing one (which imports the parent's main module); closing its stdin
    stops it, and so does the writer's death.

    Parameters
    ----------
    folder : Path
        The segments' folder.
    process : bool
        Compact in a child process.
    """

    def __init__(self, folder: Path, *, process: bool) -> None:
        self.folder = folder
        self.process = process
        #: Segments that failed to compact (here or in a child), not tried again unchanged.
        self.failed: dict[Path, Stamp] = {}
        self.waiting = bool(closed_segments(folder))  # a stopped writer's, too
        self._child: subprocess.Popen[bytes] | None = None
        self._listener: threading.Thread | None = None  # reads the child's failures
        self._started = -RESTART_SECONDS
        self._lock = threading.Lock()  # the writer thread and ``finish`` both come here

    def closed(self) -> None:
        """Note that a segment was closed."""
        self.waiting = True

    def step(self) -> None:
        """Compact what waits (here), or see that a child does."""
        with self._lock:
            if not self.waiting:
                return
            if not self.process:
                self._here(lambda: False)
            elif not self._running() and time.monotonic() - self._started >= RESTART_SECONDS:
                self._start()

    def finish(self, deadline: float) -> None:
        """Stop the child and compact the rest here, until ``deadline`` (monotonic);
        what is left then stays as it is (readers read it; the next writer compacts it)."""
        with self._lock:
            child = self._child
            if child is not None:
                self._close_stdin(child)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(max(0.0, deadline - time.monotonic()))
                if self._running():
                    return
            self._here(lambda: time.monotonic() >= deadline)

    def _here(self, stop: Callable[[], bool]) -> None:
        if compact_folder(self.folder, stop, self.failed):
            self.waiting = False  # a segment that failed waits until it changes

    def _running(self) -> bool:
        child = self._child
        if child is None:
            return False
        if child.poll() is None:
            return True
        self._close_stdin(child)
        self._child = None
        if self._listener is not None:
            self._listener.join()  # its last lines: the output ended with the child
        self.waiting = bool(to_compact(self.folder, self.failed))  # what it left
        return False

    @staticmethod
    def _close_stdin(child: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):  # a child that is gone already
            if child.stdin is not None:
                child.stdin.close()

    def _start(self) -> None:
        self._started = time.monotonic()
        command, env = _child_command(self.folder)
        try:
            child = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
        except OSError:  # no child process here: compact in this thread
            self._child = None
            self._here(lambda: False)
            return
        known = [[str(p), size, mtime] for p, (size, mtime) in self.failed.items()]
        assert child.stdin is not None and child.stdout is not None  # both are pipes
        with contextlib.suppress(OSError):  # a child that died at once is seen by _running
            child.stdin.write(json.dumps(known).encode() + b"\n")
            child.stdin.flush()
        self._child = child
        self._listener = threading.Thread(target=self._listen, args=(child.stdout,), daemon=True)
        self._listener.start()

    def _listen(self, output: Any) -> None:
        """Note the segments the child failed to compact (``size mtime path`` lines)."""
        for line in output:
            with contextlib.suppress(ValueError):  # not such a line: nothing to note
                size, mtime, path = line.decode().rstrip("\n").split(" ", 2)
                self.failed[Path(path)] = (int(size), int(mtime))
        output.close()


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
