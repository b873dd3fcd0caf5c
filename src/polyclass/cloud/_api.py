"""The registry-level operations: replicate, verify and repair a model's versions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyclass.cloud._cache import Cache
from polyclass.cloud._config import StoreSpec, spec
from polyclass.cloud._errors import UsageError
from polyclass.cloud._layout import FileEntry, Manifest
from polyclass.cloud._replicate import (
    Progress,
    ReplicateResult,
    local_manifest,
    upload_version,
)
from polyclass.cloud._verify import (
    ReplicaCheck,
    agreed_manifest,
    check_all,
    repair_replicas,
)

if TYPE_CHECKING:
    from polyclass.registry import ModelVersion, Registry, Replica


def replicate(
    model: str,
    to: Sequence[str | StoreSpec],
    *,
    registry: str | None = None,
    cache: str | Path | None = None,
    progress: Progress | None = None,
    planned: Callable[[int], None] | None = None,
) -> ReplicateResult:
    """Copy a registered version to every store in ``to`` at once and record the replicas.

    Blobs already in a store with the right size are skipped, so a second run of an
    unchanged version uploads nothing and a run killed midway resumes. Each store's
    manifest is written only after all its blobs are there. A store this run changed is
    recorded as ``unverified`` (so is one recorded ``ok`` that it found lacking a blob,
    even when the run then failed there); one it left as it was keeps its recorded status.

    Parameters
    ----------
    model : str
        ``name``, ``name:N`` or ``name@alias``.
    to : sequence of str or StoreSpec
        Store URLs (or specs carrying cloud, region and residency).
    registry : str, optional
        The registry URL (default ``$POLYCLASS_REGISTRY`` or ``./.polyclass``).
    cache : str or Path, optional
        The local cache directory (remembers file hashes).
    progress, planned : callable, optional
        Told each chunk's bytes as sent, and each store's bytes still to send.

    Returns
    -------
    ReplicateResult
        Per store: bytes sent and skipped, or the error that stopped it.

    Raises
    ------
    polyclass.registry.ResidencyError
        A store's residency is outside the model's; nothing is uploaded anywhere.

    Examples
    --------
    >>> replicate("penguins:1", ["s3://models/pc", "gs://models/pc"])  # doctest: +SKIP
    """
    from polyclass.registry import Registry

    targets = [t if isinstance(t, StoreSpec) else spec(t) for t in to]
    if not targets:
        raise UsageError("Give at least one store to replicate to.")
    with Registry(registry) as reg:
        version = _resolve(reg, model)
        for target in targets:  # refuse before anything is uploaded
            reg.check_residency(version.name, target.residency, target.url)
        manifest = local_manifest(version.name, _number(version), version.path, Cache(cache))
        files = {e.sha256: version.path / e.path for e in manifest.files}
        outcomes = upload_version(
            targets, manifest, lambda e: files[e.sha256], progress=progress, planned=planned
        )
        recorded = {r.url: r for r in reg.replicas(version.name, _number(version))}
        for target, outcome in zip(targets, outcomes, strict=True):
            known = recorded.get(target.url)
            if outcome.ok:
                # A run that changed nothing keeps the record, and so what verify last found.
                stale = outcome.changed or not _recorded_as(known, target)
            else:
                # A run cut midway in a store it found lacking a blob: an `ok` record (which
                # deploy check trusts) is no longer true; what verify found wrong (missing,
                # corrupt) still is, and an unrecorded store stays so.
                stale = outcome.changed and known is not None and known.status == "ok"
            if stale:
                _record(reg, version, target, "unverified", None)
    return ReplicateResult(version.name, _number(version), outcomes)


@dataclass
class VersionCheck:
    """Every replica of one version, as verify (or repair) left it."""

    name: str
    version: int
    replicas: list[ReplicaCheck]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.replicas)


def verify(
    model: str | None = None,
    *,
    all_models: bool = False,
    registry: str | None = None,
    stores: Sequence[str] = (),
    cache: str | Path | None = None,
) -> list[VersionCheck]:
    """Re-hash every blob of every recorded replica (plus ``stores``) and record the status.

    Parameters
    ----------
    model : str, optional
        ``name`` (every version with replicas), ``name:N`` or ``name@alias``.
    all_models : bool
        Every model in the registry instead.
    """
    return _run(model, all_models, registry, stores, cache, repair=False)


def repair(
    model: str | None = None,
    *,
    all_models: bool = False,
    registry: str | None = None,
    stores: Sequence[str] = (),
    cache: str | Path | None = None,
) -> list[VersionCheck]:
    """Verify, then restore missing or corrupt blobs and manifests from any good copy
    (the registry's own artifact or another replica), then verify again."""
    return _run(model, all_models, registry, stores, cache, repair=True)


def _run(
    model: str | None,
    all_models: bool,
    registry: str | None,
    stores: Sequence[str],
    cache: str | Path | None,
    *,
    repair: bool,
) -> list[VersionCheck]:
    from polyclass.registry import Registry

    if (model is None) == (not all_models):
        raise UsageError("Name one MODEL, or pass --all for every model (not both).")
    local_cache = Cache(cache)
    results: list[VersionCheck] = []
    with Registry(registry) as reg:
        for version, recorded in _versions(reg, model, stores):
            truth_local = _local(version, local_cache, whole=repair)
            urls = list(dict.fromkeys([*recorded, *(spec(s).url for s in stores)]))
            checks = check_all(urls, version.name, _number(version), truth_local)
            if repair:
                truth = agreed_manifest(checks, truth_local)
                if truth is not None:
                    files = {e.path: version.path / e.path for e in truth.files}
                    source = partial(_good_local, files, local=truth_local)
                    checks = repair_replicas(checks, truth, source, local_cache)
            now = datetime.now(UTC)
            for check in checks:  # stores named only by --store are checked, not recorded
                if check.url in recorded:
                    when = None if check.status == "unverified" else now
                    _record(reg, version, recorded[check.url], check.status, when)
            results.append(VersionCheck(version.name, _number(version), checks))
    return results


def _versions(
    reg: Registry, model: str | None, stores: Sequence[str]
) -> list[tuple[ModelVersion, dict[str, StoreSpec]]]:
    """The versions to check and, for each, its recorded replicas by URL."""
    if model is None:
        names = [m.name for m in reg.list_models()]
        wanted = None
    else:
        from polyclass.registry import parse_ref

        ref = parse_ref(model)
        names = [ref.name]
        wanted = None if ref.kind == "latest" and ":" not in model else _number(reg.resolve(model))
    out: list[tuple[ModelVersion, dict[str, StoreSpec]]] = []
    for name in names:
        by_version: dict[int, dict[str, StoreSpec]] = {}
        for r in reg.replicas(name, wanted):
            by_version.setdefault(r.version, {})[r.url] = StoreSpec(
                r.url, r.cloud, r.region, r.residency
            )
        if wanted is not None:
            by_version.setdefault(wanted, {})
        if model is not None and not by_version and stores:
            by_version[_number(reg.resolve(name))] = {}
        for number, recorded in sorted(by_version.items()):
            if recorded or stores:
                out.append((reg.get_version(name, number), recorded))
    if model is not None and not out:
        raise UsageError(
            f"{model} has no recorded replicas. Run `polyclass cloud replicate {model} --to URL` "
            "first, or name stores with --store."
        )
    return out


def _local(version: ModelVersion, cache: Cache, *, whole: bool) -> Manifest | None:
    """The version's files from the registry's own artifact directory, when it is here.

    Verify compares replicas with the hashes remembered for it; repair, which copies
    from it, first checks every byte (``whole``).
    """
    from polyclass.artifact import ArtifactError, verify_artifact

    try:
        if whole:
            verify_artifact(version.path)
        elif not version.path.is_dir():
            return None
        return local_manifest(version.name, _number(version), version.path, cache)
    except (ArtifactError, OSError):
        return None  # damaged or absent here: the replicas decide what the version holds


def _good_local(files: dict[str, Path], entry: FileEntry, *, local: Manifest | None) -> Path | None:
    path = files.get(entry.path)
    if local is None or path is None or not path.is_file():
        return None
    return path if entry in local.files else None


def _resolve(reg: Registry, model: str) -> ModelVersion:
    version = reg.resolve(model)
    if version.version is None:
        raise UsageError(
            f"{model!r} is an artifact directory; register it first (polyclass registry "
            "register) so its replicas can be recorded."
        )
    return version


def _number(version: ModelVersion) -> int:
    if version.version is None:  # pragma: no cover - _resolve refuses these
        raise UsageError(f"{version.path} is not a registered version.")
    return version.version


def _recorded_as(replica: Replica | None, target: StoreSpec) -> bool:
    """Whether the registry already records ``target`` with its cloud, region and residency."""
    return replica is not None and (replica.cloud, replica.region, replica.residency) == (
        target.cloud,
        target.region,
        target.residency,
    )


def _record(
    reg: Registry, version: ModelVersion, target: StoreSpec, status: str, when: Any
) -> None:
    reg.record_replica(
        version.name,
        _number(version),
        url=target.url,
        cloud=target.cloud,
        region=target.region,
        residency=target.residency,
        status=status,
        verified_at=when,
    )
