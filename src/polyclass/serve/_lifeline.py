"""A uvicorn worker stops when the ``polyclass serve`` process that started it dies (and
a worker's shadow process when the worker dies).

uvicorn's workers outlive a master that is SIGKILLed (or OOM-killed): they kept serving
the port and writing the log, and the restarted server could not bind. Each worker asks
Linux for a SIGTERM at its parent's death (``prctl(PR_SET_PDEATHSIG)``), or elsewhere
watches its parent id; SIGTERM is uvicorn's graceful stop, so the worker's answered rows
are still logged.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["MASTER_ENV", "exit_with_master", "exit_with_parent"]

#: The master's pid, set by ``polyclass serve`` for its workers.
MASTER_ENV = "POLYCLASS_SERVE_MASTER"
#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent id where ``prctl`` is not available.
WATCH_SECONDS = 1.0


def exit_with_master() -> None:
    """In a worker: get SIGTERM when the master dies (no-op outside ``serve --workers``)."""
    raw = os.environ.get(MASTER_ENV)
    if not raw:
        return
    exit_with_parent(int(raw))


def exit_with_parent(parent: int) -> None:
    """Get SIGTERM when ``parent`` (this process's parent) dies."""
    if not _death_signal(signal.SIGTERM):
        threading.Thread(
            target=_watch, args=(parent,), name="polyclass-parent-watch", daemon=True
        ).start()
    if os.getppid() != parent:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def _death_signal(sig: int) -> bool:
    """Ask Linux for ``sig`` when the parent dies; whether it was granted."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0)
    return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
