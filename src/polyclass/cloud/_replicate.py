"""Copy a model version to several stores at once: blobs first, the manifest last."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyclass.cloud._cache import Cache
from polyclass.cloud._config import StoreSpec
from polyclass.cloud._errors import CloudError, IntegrityError, UsageError
from polyclass.cloud._layout import (
    BLOBS,
    FileEntry,
    Manifest,
    blob_key,
    manifest_key,
    parse_manifest,
)
from polyclass.cloud._stores import Store

#: Uploads in flight per store (the cloud libraries overlap them on one event loop).
UPLOADS_PER_STORE = 4
Progress = Callable[[int], None]


@dataclass
class StoreOutcome:
    """What one store got: bytes sent and skipped, or the error that stopped it."""

    url: str
    uploaded_bytes: int = 0
    skipped_bytes: int = 0
    uploaded_blobs: int = 0
    skipped_blobs: int = 0
    manifest_written: bool = False
    #: Whether this run changed the store: sent a blob or (re)wrote the manifest. Set
    #: once the listing shows a blob to send, so a run cut midway still says the store
    #: is no longer what verify last found.
    changed: bool = False
    error: str | None = None
    #: Whether running the command again may get past ``error`` (a store down, a
    #: transfer cut) rather than only a fix (a bucket, a credential).
    transient: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ReplicateResult:
    """The outcome of replicating one version to every store asked for."""

    name: str
    version: int
    stores: list[StoreOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stores)

    @property
    def uploaded_bytes(self) -> int:
        return sum(s.uploaded_bytes for s in self.stores)


def local_manifest(name: str, version: int, directory: Path, cache: Cache) -> Manifest:
    """The manifest of a local artifact directory (hashes remembered by the cache)."""
    return Manifest(name, version, tuple(cache.local_files(directory)))


def upload_version(
    targets: Sequence[StoreSpec],
    manifest: Manifest,
    source: Callable[[FileEntry], Path],
    *,
    progress: Progress | None = None,
    planned: Callable[[int], None] | None = None,
) -> list[StoreOutcome]:
    """Send ``manifest``'s blobs to every store concurrently, then each store's manifest.

    ``source(entry)`` is the local file holding a blob; ``planned(n)`` learns the bytes
    each store still needs once listed, ``progress(n)`` each chunk sent.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = [
            pool.submit(_one_store, Store(t.url), manifest, source, progress, planned)
            for t in targets
        ]
        return [f.result() for f in futures]


def _one_store(
    store: Store,
    manifest: Manifest,
    source: Callable[[FileEntry], Path],
    progress: Progress | None,
    planned: Callable[[int], None] | None,
) -> StoreOutcome:
    outcome = StoreOutcome(store.url)
    try:
        present = store.sizes(BLOBS)
        entries = {f.sha256: f for f in manifest.files}
        needed = [e for sha, e in entries.items() if present.get(sha) != e.size]
        outcome.skipped_blobs = len(entries) - len(needed)
        outcome.skipped_bytes = sum(
            e.size for sha, e in entries.items() if present.get(sha) == e.size
        )
        if planned is not None:
            planned(sum(e.size for e in needed))
        outcome.changed = bool(needed)
        send_all(
            store, [(source(e), e.sha256) for e in sorted(needed, key=lambda e: -e.size)], progress
        )
        outcome.uploaded_blobs = len(needed)
        outcome.uploaded_bytes = sum(e.size for e in needed)
        # Nothing sent: the listing just taken already shows every blob whole.
        wrote = commit(store, manifest, None if needed else present)
        outcome.manifest_written = True
        outcome.changed = outcome.changed or wrote
    except CloudError as exc:
        outcome.error = str(exc)
        outcome.transient = not isinstance(exc, UsageError) and getattr(exc, "transient", True)
    return outcome


def send_all(store: Store, files: Sequence[tuple[Path, str]], progress: Progress | None) -> None:
    """Upload (local file, sha256) pairs as blobs, a few at a time; stop at the first error."""
    with ThreadPoolExecutor(max_workers=UPLOADS_PER_STORE) as pool:
        sends = [
            pool.submit(store.put_file, p, blob_key(sha), _callback(progress)) for p, sha in files
        ]
        try:
            for send in sends:
                send.result()
        except BaseException:
            for send in sends:  # a store that is down fails every upload: do not wait for each
                send.cancel()
            raise


def commit(store: Store, manifest: Manifest, present: dict[str, int] | None = None) -> bool:
    """Write the manifest once every blob it names is in the store with the right size;
    return whether it was written (False when the store already held the same one).

    ``present`` is a listing of the store's blobs taken after the last upload; without
    one the store is listed here.
    """
    if present is None:
        present = store.sizes(BLOBS)
    absent = [sha for sha, size in manifest.blobs.items() if present.get(sha) != size]
    if absent:
        raise IntegrityError(
            f"Store {store.url}: {len(absent)} blob(s) did not arrive whole "
            f"(first: {blob_key(absent[0])}); the manifest was not written. Run the "
            "command again to resume."
        )
    key = manifest_key(manifest.name, manifest.version)
    try:
        existing = store.read(key)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        try:
            if parse_manifest(existing, f"{store.url}/{key}").same_content(manifest):
                return False
        except IntegrityError:
            pass  # a damaged manifest is rewritten below
    store.write(key, manifest.to_bytes())
    return True


def _callback(progress: Progress | None) -> Any:
    """An fsspec callback for one transfer that reports each increment to ``progress``."""
    if progress is None:
        return None
    from fsspec.callbacks import Callback

    report: Progress = progress

    class _Report(Callback):  # type: ignore[misc]
        # The libraries report relative or absolute progress; pass on the difference.
        sent = 0

        def absolute_update(self, value: int) -> None:
            step, self.sent = int(value) - self.sent, int(value)
            if step > 0:
                report(step)

        def relative_update(self, inc: int = 1) -> None:
            self.absolute_update(self.sent + int(inc))

        def call(self, *args: Any, **kwargs: Any) -> None:
            return None

    return _Report(value=0)
