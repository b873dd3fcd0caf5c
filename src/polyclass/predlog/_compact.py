"""Compaction: closed segments (Arrow IPC streams) become Parquet, off the request path.

The server writes each logged row once, into its segment's journal; a closed segment is
that journal renamed ``part-<name>.arrows``. Compaction rewrites it as
``part-<name>.parquet`` (the same columns and metadata; through ``.part-<name>.convert``,
fsynced, renamed) and then deletes the ``.arrows`` file. Readers read either; one that
finds both reads the Parquet file. Whoever compacts holds an exclusive ``flock`` on the
``.arrows`` file, so two processes never convert the same segment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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


def closed_segments(folder: Path) -> list[Path]:
    """Closed segments of ``folder`` not compacted yet, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"part-*{ARROW_SUFFIX}"))


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
            rows, _ = to_parquet(path, final, strict=True)
        if final.exists():
            path.unlink()
        return rows


def compact_folder(folder: Path, stop: Callable[[], bool] = lambda: False) -> bool:
    """Compact the closed segments of ``folder``, oldest first, until ``stop()``; whether
    it got through them all.

    A segment that fails is reported on stderr and left for a later attempt.
    """
    for path in closed_segments(folder):
        if stop():
            return False
        try:
            compact(path)
        except Exception as exc:  # a background job: report it, keep the segment
            sys.stderr.write(f"polyclass: cannot compact {path} into Parquet: {exc!r}\n")
    return True


def _child(folder: Path) -> None:
    """The compaction child: at a lower priority, compact ``folder`` as segments close;
    exit when its stdin ends (the writer stopped it, or its process is gone) or nothing
    closed for ``CHILD_IDLE_SECONDS``."""
    with contextlib.suppress(OSError, AttributeError):  # not allowed, or not on this OS
        os.nice(NICENESS)
    stop = threading.Event()

    def watch() -> None:
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    idle_since = time.monotonic()
    while not stop.is_set():
        if closed_segments(folder):
            compact_folder(folder, stop.is_set)
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
        self.waiting = bool(closed_segments(folder))  # a stopped writer's, too
        self._child: subprocess.Popen[bytes] | None = None
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
        if compact_folder(self.folder, stop):
            self.waiting = False  # a segment that failed waits for the next one to close

    def _running(self) -> bool:
        child = self._child
        if child is None:
            return False
        if child.poll() is None:
            return True
        self._close_stdin(child)
        self._child = None
        self.waiting = bool(closed_segments(self.folder))  # what it left
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
            self._child = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env
            )
        except OSError:  # no child process here: compact in this thread
            self._child = None
            self._here(lambda: False)


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
