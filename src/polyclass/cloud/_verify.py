"""Verify replicas by re-hashing every blob, and repair them from any good copy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from polyclass.cloud._cache import Cache
from polyclass.cloud._errors import CloudError, IntegrityError, StoreError
from polyclass.cloud._layout import FileEntry, Manifest, blob_key, manifest_key, parse_manifest
from polyclass.cloud._replicate import commit, send_all
from polyclass.cloud._stores import Store

READS_PER_STORE = 4


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

    def one(sha: str, size: int) -> tuple[str, str | None, int]:
        try:
            actual, read = store.digest(blob_key(sha), size)
        except FileNotFoundError:
            return sha, "missing", 0
        if actual != sha or read != size:
            return (
                sha,
                f"corrupt: sha256 {actual[:12]}…, {read} bytes; expected {sha[:12]}…, {size} bytes",
                read,
            )
        return sha, None, read

    with ThreadPoolExecutor(max_workers=READS_PER_STORE) as pool:
        results = list(pool.map(lambda item: one(*item), sorted(manifest.blobs.items())))
    for sha, problem, read in results:
        check.bytes_read += read
        if problem is None:
            check.good.add(sha)
        else:
            check.bad.add(sha)
            check.problems.append(Problem(store.url, f"{names[sha]} ({blob_key(sha)})", problem))


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
            tmp = cache.temporary()
            try:
                Store(check.url).get_file(blob_key(sha), tmp)
                return cache.admit(tmp, sha, f"{check.url}/{blob_key(sha)}")
            except (CloudError, FileNotFoundError):
                tmp.unlink(missing_ok=True)
    return None
