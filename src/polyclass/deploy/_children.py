"""Child processes that die with ``deploy up``, even when it is SIGKILLed.

On Linux each child asks the kernel for SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, set between fork and exec). The kernel counts the
*thread* that forked as the parent, so every child is forked from one thread that lives
as long as the process: a rollout's short-lived thread would otherwise take its new
replicas with it when it ends. The prediction log's compaction child uses its stdin
instead, which suits a Python child of our own but not Envoy or a server.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["popen_tied", "set_cpus", "starting_cpus"]

_PR_SET_PDEATHSIG = 1


def _death_signal() -> Callable[[], None] | None:
    """The ``preexec_fn`` that ties a child to this process, None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        prctl = ctypes.CDLL(name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def tie() -> None:  # in the child, between fork and exec
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)

    return tie


class _Forker:
    """One daemon thread, alive as long as the process, that forks every child."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def run(self, job: Callable[[], Any]) -> Any:
        with self._lock:  # a forked copy of this process needs a thread of its own
            if self._thread is None or self._pid != os.getpid():
                self._jobs, self._pid = queue.SimpleQueue(), os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, args=(self._jobs,), name="polyclass-forker", daemon=True
                )
                self._thread.start()
            done: Future[Any] = Future()
            self._jobs.put((job, done))
        return done.result()

    @staticmethod
    def _loop(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
        while True:
            job, done = jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # the caller raises it in its own thread
                done.set_exception(exc)


_FORKER = _Forker()


def popen_tied(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(command, **options)``, the child sent SIGTERM when we die.

    Parameters
    ----------
    command : list of str
        The child's command line.
    **options
        Passed to :class:`subprocess.Popen` (not ``preexec_fn``).

    Returns
    -------
    subprocess.Popen
        The started child.
    """
    tie = _death_signal()
    if tie is None:
        return subprocess.Popen(command, **options)
    proc: subprocess.Popen[bytes] = _FORKER.run(
        lambda: subprocess.Popen(command, preexec_fn=tie, **options)
    )
    return proc


def starting_cpus() -> set[int] | None:
    """The CPUs a replica that starts while others serve may use, None for all of them.

    Half of this process's CPUs (at least one): a ``polyclass serve`` start is about a
    CPU-second of imports and loading, and two of them on every core delayed each
    serving process's wake-ups behind them, the whole-run tail of a restart.
    """
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return None
    allowed = sorted(os.sched_getaffinity(0))
    share = set(allowed[len(allowed) - max(1, len(allowed) // 2) :])
    return None if share == set(allowed) else share


def set_cpus(pid: int, cpus: set[int] | None) -> None:
    """Let every thread of process ``pid`` and of its descendants run on ``cpus`` (None:
    all of ours).

    Descendants too: a child a replica started while it was confined (its prediction
    log's compaction child, started at once when a killed server left segments) would
    otherwise stay on the starting CPUs for its whole life. A process that is gone or
    refuses is left as it is: this only shares the CPUs out.
    """
    if not hasattr(os, "sched_setaffinity"):
        return
    wanted = os.sched_getaffinity(0) if cpus is None else cpus
    done: set[int] = set()
    processes = [pid]
    while processes:
        process = processes.pop()
        # a second pass for threads made meanwhile by one not moved yet (a new thread
        # inherits its creator's CPUs)
        for _ in range(2):
            threads = set(_threads(process)) - done
            for thread in threads:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(thread, wanted)
                processes += _children(process, thread)
            done |= threads


def _threads(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:  # gone, or no /proc
        return [pid]


def _children(pid: int, thread: int) -> list[int]:
    """The processes ``thread`` of ``pid`` forked (empty when the kernel does not say)."""
    try:
        with open(f"/proc/{pid}/task/{thread}/children", encoding="ascii") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []
