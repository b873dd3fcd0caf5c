"""Verify replicas by re-hashing every blob, and repair them from any good copy."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from polyclass.cloud._cache import Cache
from polyclass.cloud._errors import CloudError, IntegrityError, StoreError
from polyclass.cloud._layout import FileEntry, Manifest, blob_key, manifest_key, parse_manifest
from polyclass.cloud._replicate import commit, send_all
from polyclass.cloud._stores import Store

#: Blobs read at once from one store (the cloud libraries overlap them on one event loop).
READS_PER_STORE = 4
#: Threads hashing what was read, so a reader starts its next blob at once.
HASH_THREADS = 2
_T = TypeVar("_T")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a replica: which store, which file, what."""

    store: str
    file: str
    problem: str


@dataclass
class ReplicaCheck:
    """What verifying one replica found.

    ``status`` is ``ok``, ``missing`` (a file or the manifest is absent), ``corrupt``
    (something does not hash to its record) or ``unverified`` (the store could not be read).
    """

    name: str
    version: int
    url: str
    status: str = "ok"
    problems: list[Problem] = field(default_factory=list)
    bytes_read: int = 0
    manifest: Manifest | None = None
    good: set[str] = field(default_factory=set, repr=False)
    bad: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_replica(store: Store, name: str, version: int, expected: Manifest | None) -> ReplicaCheck:
    """Read the replica's manifest and re-hash every blob it (or ``expected``) names."""
    check = ReplicaCheck(name, version, store.url)
    key = manifest_key(name, version)
    try:
        manifest = _read_manifest(store, key, check)
        reference = expected or manifest
        if manifest is not None and expected is not None and not manifest.same_content(expected):
            check.problems.append(
                Problem(store.url, key, "manifest differs from the registry's files")
            )
        check.manifest = manifest
        if reference is not None:
            _check_blobs(store, reference, check)
    except StoreError as exc:
        check.status = "unverified"
        check.problems.append(Problem(store.url, "-", f"store unreachable: {exc}"))
        return check
    kinds = {p.problem.split(" ", 1)[0] for p in check.problems}
    if check.problems:
        check.status = "missing" if kinds <= {"missing"} else "corrupt"
    return check


def read_manifest(store: str, name: str, version: int) -> Manifest:
    """The manifest of ``name:version`` in ``store``, read without hashing any blob.

    A cheap sign that the replica is still there; :func:`verify` re-hashes it.

    Raises
    ------
    FileNotFoundError
        The store holds no manifest of that version.
    StoreError
        The store cannot be read.
    IntegrityError
        The manifest is not valid or names another version.
    """
    where = Store(store)
    key = manifest_key(name, version)
    try:
        data = where.read(key)
    except FileNotFoundError as exc:
        where._raise_if_no_bucket(exc)  # a missing bucket or folder is the store's problem
        raise FileNotFoundError(f"{where.url} holds no manifest of {name}:{version}") from None
    manifest = parse_manifest(data, f"{where.url}/{key}")
    if (manifest.name, manifest.version) != (name, version):
        raise IntegrityError(
            f"{where.url}/{key} names {manifest.name}:{manifest.version}, not {name}:{version}"
        )
    return manifest


def _read_manifest(store: Store, key: str, check: ReplicaCheck) -> Manifest | None:
    try:
        data = store.read(key)
    except FileNotFoundError:
        check.problems.append(Problem(store.url, key, "missing (no manifest)"))
        return None
    try:
        manifest = parse_manifest(data, f"{store.url}/{key}")
    except IntegrityError as exc:
        check.problems.append(Problem(store.url, key, f"corrupt: {exc}"))
        return None
    if (manifest.name, manifest.version) != (check.name, check.version):
        check.problems.append(
            Problem(store.url, key, f"corrupt: names {manifest.name}:{manifest.version}")
        )
        return None
    return manifest


def _check_blobs(store: Store, manifest: Manifest, check: ReplicaCheck) -> None:
    names = {f.sha256: f.path for f in manifest.files}
    room = threading.BoundedSemaphore(READS_PER_STORE + HASH_THREADS)  # blobs held in memory

    def one(sha: str, size: int, hashers: Executor) -> Future[tuple[str, str | None, int]]:
        def judge(actual: str, read: int) -> tuple[str, str | None, int]:
            room.release()
            if actual != sha or read != size:
                expected = f"expected {sha[:12]}…, {size} bytes"
                return sha, f"corrupt: sha256 {actual[:12]}…, {read} bytes; {expected}", read
            return sha, None, read

        room.acquire()
        try:
            return _hash_chunks(store.chunks(blob_key(sha), size), hashers, judge)
        except FileNotFoundError:
            room.release()
            return _resolved((sha, "missing", 0))
        except BaseException:
            room.release()
            raise

    with (
        ThreadPoolExecutor(max_workers=HASH_THREADS) as hashers,
        ThreadPoolExecutor(max_workers=READS_PER_STORE) as readers,
    ):
        items = sorted(manifest.blobs.items())
        hashed = list(readers.map(lambda item: one(item[0], item[1], hashers), items))
        results = [h.result() for h in hashed]
    for sha, problem, read in results:
        check.bytes_read += read
        if problem is None:
            check.good.add(sha)
        else:
            check.bad.add(sha)
            check.problems.append(Problem(store.url, f"{names[sha]} ({blob_key(sha)})", problem))


def _hash_chunks(
    chunks: Iterable[bytes], hashers: Executor, finish: Callable[[str, int], _T]
) -> Future[_T]:
    """Hash ``chunks`` on ``hashers`` while the caller reads the next one (hashlib lets go
    of the GIL); ``finish(sha256, bytes)`` runs once the last chunk is hashed."""
    digest = hashlib.sha256()
    size = 0
    last: Future[None] | None = None
    for chunk in chunks:
        if last is not None:
            last.result()  # sha256 takes its chunks one at a time, in order
        last = hashers.submit(digest.update, chunk)
        size += len(chunk)
    previous = last

    def done() -> _T:
        if previous is not None:
            previous.result()  # submitted earlier, so already taken by a hasher: no deadlock
        return finish(digest.hexdigest(), size)

    return hashers.submit(done)


def _resolved(value: _T) -> Future[_T]:
    future: Future[_T] = Future()
    future.set_result(value)
    return future


def check_all(
    urls: Sequence[str], name: str, version: int, expected: Manifest | None
) -> list[ReplicaCheck]:
    """Verify every replica of one version, the stores in parallel."""
    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        return list(pool.map(lambda u: check_replica(Store(u), name, version, expected), urls))


def agreed_manifest(checks: Sequence[ReplicaCheck], local: Manifest | None) -> Manifest | None:
    """The version's true file list: the local artifact's, else a whole replica's."""
    if local is not None:
        return local
    for check in checks:
        if check.ok and check.manifest is not None:
            return check.manifest
    return None


def repair_replicas(
    checks: Sequence[ReplicaCheck],
    truth: Manifest,
    local: Callable[[FileEntry], Path | None],
    cache: Cache,
) -> list[ReplicaCheck]:
    """Heal every damaged replica from good copies; return each replica re-verified."""
    broken = [c for c in checks if c.status in {"missing", "corrupt"}]
    if not broken:
        return list(checks)
    need = {sha for c in broken for sha in (set(truth.blobs) - c.good)}
    sources = {sha: _source(sha, truth, checks, local, cache) for sha in sorted(need)}
    healed: dict[str, ReplicaCheck] = {}
    for check in broken:
        store = Store(check.url)
        try:
            todo = [e for e in _unique(truth) if e.sha256 not in check.good]
            missing_source = [e for e in todo if sources.get(e.sha256) is None]
            if missing_source:
                raise IntegrityError(
                    f"no good copy of {missing_source[0].path} in any replica or locally"
                )
            send_all(store, [(sources[e.sha256], e.sha256) for e in todo], None)  # type: ignore[misc]
            commit(store, truth)
        except CloudError as exc:
            check.problems.append(Problem(check.url, "-", f"repair failed: {exc}"))
            healed[check.url] = check
            continue
        healed[check.url] = check_replica(store, truth.name, truth.version, truth)
    return [healed.get(c.url, c) for c in checks]


def _unique(manifest: Manifest) -> list[FileEntry]:
    seen: dict[str, FileEntry] = {}
    for entry in manifest.files:
        seen.setdefault(entry.sha256, entry)
    return list(seen.values())


def _source(
    sha: str,
    truth: Manifest,
    checks: Sequence[ReplicaCheck],
    local: Callable[[FileEntry], Path | None],
    cache: Cache,
) -> Path | None:
    """A local file holding the good bytes of ``sha``: the artifact, the cache, a store."""
    entry = next(e for e in truth.files if e.sha256 == sha)
    path = local(entry)
    if path is not None:
        return path
    if cache.has_blob(sha, entry.size):
        return cache.blob(sha)
    for check in checks:
        if sha in check.good:
            store = Store(check.url)
            try:
                return cache.admit(
                    store.chunks(blob_key(sha), entry.size), sha, f"{check.url}/{blob_key(sha)}"
                )
            except (CloudError, FileNotFoundError):
                pass
    return None
