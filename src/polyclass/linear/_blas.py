"""One BLAS thread while any polyclass solver runs, safe across Python threads.

The solvers' products over X are memory-bound and many are small (cache-sized row
blocks), so BLAS threads buy little and, spinning on a busy machine, cost up to 10x.
BLAS thread limits are process-wide, so a plain ``threadpool_limits`` per call would
race when fits run in several threads (one exit restores the limit under another's
feet). Here the first entrant sets the limit and the last one out restores it.

Finding the loaded BLAS libraries means reading ``/proc/self/maps``, which costs a few
milliseconds: more than a small fit. The controller is built once and reused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

_lock = threading.Lock()
_depth = 0
_limits: Any = None
_controller: Any = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread for the duration (re-entrant, thread-safe)."""
    global _depth, _limits, _controller
    with _lock:
        if _depth == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            _limits = _controller.limit(limits=1, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limits.restore_original_limits()
                _limits = None
