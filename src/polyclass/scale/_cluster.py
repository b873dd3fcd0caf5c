"""Connecting to a Dask cluster: a LocalCluster started and stopped for one job, or the
user's scheduler, with errors that name the address and the fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from polyclass.scale._errors import ScaleError

#: Environment variable naming the scheduler when ``--dask`` is not given an address.
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
#: Seconds to wait for a scheduler to answer before giving up.
CONNECT_TIMEOUT = 5.0
#: glibc allocator settings of a LocalCluster's worker processes: arrays of 16 MB and
#: more (a part, a block) go back to the system when freed; smaller ones (a batch's
#: columns, a block's per-class temporaries) are reused rather than paged in afresh at
#: every task, as under Dask's default of returning everything above 64 KB (which made
#: predict --dask's workers spend more CPU time in page faults than in scoring).
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": 16 << 20, "MALLOC_TRIM_THRESHOLD_": 32 << 20}


def resolve_address(address: str | None) -> str | None:
    """``address``, else ``$DASK_SCHEDULER_ADDRESS``, else None (no cluster)."""
    if address:
        return address
    return os.environ.get(SCHEDULER_ENV) or None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ScaleError(
            "Running on Dask needs the 'dask' extra: pip install 'polyclass[dask]'."
        ) from None
    return distributed


@contextmanager
def connect(
    address: str, *, n_workers: int | None = None, threads_per_worker: int = 1
) -> Iterator[Any]:
    """A ``distributed.Client`` for ``address`` ('local' starts a LocalCluster of worker
    processes, stopped on exit), checked to have workers that can import polyclass.

    Raises
    ------
    ScaleError
        The scheduler does not answer within a few seconds, or a worker lacks polyclass.
    """
    distributed = _import_distributed()
    cluster = None
    try:
        if address == "local":
            import dask

            environ = {
                f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()
            }
            with dask.config.set(environ):
                cluster = distributed.LocalCluster(
                    n_workers=n_workers or min(2, os.cpu_count() or 1),
                    threads_per_worker=threads_per_worker,
                    processes=True,
                    dashboard_address=":0",  # a free port: another cluster may hold 8787
                )
            client = distributed.Client(cluster)
        else:
            client = _client_for(distributed, address)
        try:
            check_workers(client)
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _client_for(distributed: Any, address: str) -> Any:
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ScaleError(
            f"Cannot reach the Dask scheduler at {address!r} within {CONNECT_TIMEOUT:g} s "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}). "
            "Check the address and that the scheduler is running, or use --dask local."
        ) from None


def _worker_version() -> str | None:
    try:
        import polyclass
    except ImportError:
        return None
    return str(polyclass.__version__)


def check_workers(client: Any) -> None:
    """Refuse a cluster without workers or whose workers lack (this version of) polyclass."""
    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT * 6)
    from polyclass import __version__

    versions = client.run(_worker_version)
    missing = sorted(w for w, v in versions.items() if v is None)
    if missing:
        raise ScaleError(
            f"The Dask workers {missing} cannot import polyclass. Install it on every "
            "worker (pip install 'polyclass[dask]') in the environment they run in."
        )
    other = sorted(f"{w} ({v})" for w, v in versions.items() if v != __version__)
    if other:
        raise ScaleError(
            f"The Dask workers {other} run another polyclass version than this one "
            f"({__version__}). Install the same version on the workers."
        )
