"""Which model version is served: load beside, switch atomically, drop the old.

The manager follows a reference (``name@production``, ``name`` for the latest version,
``name:3`` pinned, or an artifact directory). When the reference moves (polling every
``poll_interval`` seconds, or :meth:`ModelManager.reload` from ``POST /admin/reload``)
it loads the new version completely (every checksum verified) while the old one keeps
answering, then replaces one attribute: a request reads :attr:`current` once and uses
that model to the end, so no response mixes versions. The old version is dropped when
its last request finishes. An artifact that fails to load is refused and the old
version stays. With ``stores`` a registry reference is still resolved by the registry,
but the version it names is loaded from a store's copy in the local cache.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyclass.serve._served import ServedModel, load_served

__all__ = ["ModelManager", "ReloadResult", "is_path_ref"]

Listener = Callable[[ServedModel, ServedModel | None], None]


def is_path_ref(ref: str) -> bool:
    """Whether ``ref`` names an artifact directory rather than a registry entry."""
    return Path(ref).expanduser().is_dir() or "/" in ref or ref.startswith((".", "~"))


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did."""

    switched: bool
    model: ServedModel
    previous: ServedModel | None
    error: str | None = None


class ModelManager:
    """Holds the served version and moves it when the followed reference moves.

    Parameters
    ----------
    ref : str
        ``name``, ``name@alias``, ``name:version`` or an artifact directory.
    registry : str, optional
        Registry URL or directory (default ``$POLYCLASS_REGISTRY`` or ``./.polyclass``).
    poll_interval : float
        Seconds between looks at the registry; 0 turns polling off.
    registered : str, optional
        ``name:version`` a directory ``ref`` is a copy of (fetched from a store).
    stores : sequence of str
        Store URLs (in order of preference) a registry ``ref``'s versions are fetched
        from into the local cache, verified, instead of read from the registry's folder.
    """

    def __init__(
        self,
        ref: str,
        *,
        registry: str | None = None,
        poll_interval: float = 5.0,
        registered: str | None = None,
        stores: Sequence[str] = (),
    ) -> None:
        self.ref = ref
        self.registered = registered
        self.stores = list(stores)
        self.poll_interval = poll_interval
        self._registry: Any = None
        self._registry_url = registry
        self._lock = threading.Lock()  # one reload at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Listener] = []
        self.last_error: str | None = None
        self._failed_sha: str | None = None
        self.current: ServedModel = self._load_now()

    # ----------------------------------------------------------------- lookups
    @property
    def is_path(self) -> bool:
        """Served from a directory (nothing to follow)."""
        return is_path_ref(self.ref)

    @property
    def follows(self) -> bool:
        """Whether the reference can move (an alias or 'latest')."""
        return not self.is_path and ":" not in self.ref.replace(":latest", "")

    def registry(self) -> Any:
        """The open Registry (SQLAlchemy loads on first use)."""
        if self._registry is None:
            from polyclass.registry import Registry

            self._registry = Registry(self._registry_url)
        return self._registry

    def log_root(self) -> Path:
        """Where logs go by default: the folder holding the registry's artifact folder."""
        if self.is_path:
            return Path(".polyclass").absolute()
        return Path(self.registry().root).parent

    def _resolve(self) -> tuple[Path, str | None, int | None, str | None]:
        if self.is_path and self.registered:  # a store's copy keeps its registry version
            name, _, number = self.registered.rpartition(":")
            return Path(self.ref).expanduser(), name, int(number), None
        if self.is_path:
            return Path(self.ref).expanduser(), None, None, None
        version = self.registry().resolve(self.ref)
        return Path(version.path), version.name, version.version, version.artifact_sha256

    def _load_now(self) -> ServedModel:
        path, name, version, _ = self._resolve()
        return load_served(self._fetched(path, name, version), name=name, version=version)

    def _fetched(self, path: Path, name: str | None, version: int | None) -> Path:
        """The directory to load: with stores, the cache's verified copy of ``name:version``."""
        if not self.stores or self.is_path or version is None:
            return path
        from polyclass.cloud import fetch

        return fetch(f"{name}:{version}", self.stores, registry=self._registry_url)

    # ------------------------------------------------------------------ switch
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(new, old)`` after every switch."""
        self._listeners.append(listener)

    def reload(self) -> ReloadResult:
        """Look up the reference now; load and switch if it names another version."""
        with self._lock:
            old = self.current
            sha: str | None = None
            try:
                path, name, version, sha = self._resolve()
                if (
                    version == old.version
                    and (sha is None or sha == old.sha256)
                    and (not self.is_path)
                ):
                    return ReloadResult(False, old, None)
                if sha is not None and sha == self._failed_sha:
                    return ReloadResult(False, old, None, self.last_error)
                new = load_served(self._fetched(path, name, version), name=name, version=version)
            except Exception as exc:  # keep serving the old version
                error = f"{type(exc).__name__}: {exc}"
                if error != self.last_error:  # a store down for a while: said once
                    sys.stderr.write(
                        f"polyclass serve: cannot load {self.ref}: {error}; "
                        f"still serving version {old.version_label}.\n"
                    )
                self.last_error = error
                # A store may come back (or receive the version): only a bad artifact is final.
                self._failed_sha = None if _store_failure(exc) else sha
                return ReloadResult(False, old, None, self.last_error)
            if new.sha256 == old.sha256 and new.version == old.version:
                return ReloadResult(False, old, None)
            self.current = new  # the atomic switch
            self.last_error = None
            for listener in self._listeners:
                listener(new, old)
            return ReloadResult(True, new, old)

    # ----------------------------------------------------------------- polling
    def start(self) -> None:
        """Start polling the registry (when the reference can move)."""
        if self.poll_interval <= 0 or not self.follows or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, name="polyclass-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.reload()

    def stop(self) -> None:
        """Stop polling and close the registry connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._registry is not None:
            self._registry.close()
            self._registry = None


def _store_failure(exc: Exception) -> bool:
    """Whether ``exc`` says no store held the version now (worth trying again later)."""
    from polyclass.cloud import StoreError

    return isinstance(exc, StoreError)
