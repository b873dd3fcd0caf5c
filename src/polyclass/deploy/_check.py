"""What a topology needs from the registry: the model resolves, every store holds it verified."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from polyclass.deploy._topology import Region, Topology, TopologyError

__all__ = ["STORE_CHECKS", "CheckedTopology", "check_topology", "unreachable_stores"]

#: How far ``check_topology`` looks at each region's store: ``record`` trusts the
#: registry's last verify, ``manifest`` also reads the replica's manifest from the store
#: (one small object), ``hash`` re-hashes every file first (``polyclass cloud verify``).
STORE_CHECKS = ("record", "manifest", "hash")


@dataclass(frozen=True)
class CheckedTopology:
    """A topology whose model resolved to one version that every region's store holds.

    Attributes
    ----------
    topology : Topology
        The topology checked.
    name : str
        The model name.
    version : int
        The version ``topology.model`` resolves to now.
    """

    topology: Topology
    name: str
    version: int

    @property
    def ref(self) -> str:
        """``name:version``, what every region serves."""
        return f"{self.name}:{self.version}"


def check_topology(
    topology: Topology, *, registry: str | None = None, stores: str = "manifest"
) -> CheckedTopology:
    """Check a topology against the registry that records the model and its replicas.

    Parameters
    ----------
    topology : Topology
        From :func:`load_topology`.
    registry : str, optional
        Registry URL or folder; default the topology's ``registry`` key, then
        ``$POLYCLASS_REGISTRY`` or ``./.polyclass``.
    stores : {"manifest", "record", "hash"}
        ``manifest`` (default): besides the registry's record of a verified replica,
        read each region's manifest from its store, so a replica deleted or a store
        unreachable since the last verify is caught; ``record``: the record only;
        ``hash``: re-hash every replica of the version first (as ``polyclass cloud
        verify`` does, recording the result).

    Returns
    -------
    CheckedTopology
        The version every region will serve.

    Raises
    ------
    TopologyError
        The model does not resolve, a region's store has no verified (``ok``) replica of
        that version (or, unless ``stores="record"``, no longer holds its manifest or
        cannot be reached), or a region's residency is one the model may not be stored in.
    """
    from polyclass.registry import Registry, RegistryError

    if stores not in STORE_CHECKS:
        raise ValueError(f"stores must be one of {', '.join(STORE_CHECKS)}; got {stores!r}")
    if stores == "hash":
        _rehash(topology, registry)
    try:
        with Registry(registry or topology.registry) as reg:
            version = reg.resolve(topology.model)
            if version.version is None:
                raise TopologyError(
                    topology.source,
                    [f'"model" {topology.model!r} is a folder: use a registered NAME@ALIAS'],
                )
            replicas = reg.replicas(version.name, version.version)
            allowed = reg.residencies(version.name)
    except RegistryError as exc:
        raise TopologyError(topology.source, [f'"model" {topology.model!r}: {exc}']) from None
    recorded = {_normal(r.url): r for r in replicas}
    checked = CheckedTopology(topology, version.name, version.version)
    # every region's problems in one run: the stores recorded ok are read too, not only
    # once the others are fixed
    found = {r.name: _region_problems(r, recorded, allowed, checked.ref) for r in topology.regions}
    if stores != "record":
        verified = [r.name for r in topology.regions if _recorded_ok(r, recorded)]
        for name, problem in unreachable_stores(checked, verified).items():
            found[name].append(problem)
    problems = [problem for region in topology.regions for problem in found[region.name]]
    if problems:
        raise TopologyError(topology.source, problems)
    return checked


def _rehash(topology: Topology, registry: str | None) -> None:
    """Re-hash every recorded replica of the topology's version, recording each status."""
    from polyclass.cloud import CloudError, verify

    try:
        verify(topology.model, registry=registry or topology.registry)
    except CloudError as exc:
        raise TopologyError(topology.source, [f'"model" {topology.model!r}: {exc}']) from None


def unreachable_stores(
    checked: CheckedTopology, regions: Collection[str] | None = None
) -> dict[str, str]:
    """Region -> problem for each region whose store no longer shows the version's manifest.

    Reads one small object per store (the manifest), no blob: a replica deleted or a
    store unreachable since the registry last verified it. ``regions`` limits the
    regions read (default all).
    """
    from polyclass.cloud import CloudError, read_manifest

    problems = {}
    for region in checked.topology.regions:
        if region.store is None or (regions is not None and region.name not in regions):
            continue
        try:
            read_manifest(region.store, checked.name, checked.version)
        except FileNotFoundError:
            problems[region.name] = (
                f"region {region.name!r}: the store {region.store} no longer holds "
                f"{checked.ref} (no manifest), though the registry recorded it verified: "
                f"run `polyclass cloud repair {checked.ref}` then `polyclass cloud verify "
                f"{checked.ref}`"
            )
        except CloudError as exc:
            problems[region.name] = f"region {region.name!r}: {exc}"
    return problems


def _region_problems(
    region: Region, recorded: Mapping[str, object], allowed: list[str] | None, ref: str
) -> list[str]:
    from polyclass.registry import Replica

    problems: list[str] = []
    if allowed is not None and region.residency not in allowed:
        problems.append(
            f"region {region.name!r}: residency {region.residency!r} is outside the "
            f"residencies {ref} is restricted to ({', '.join(allowed)}): give the region one "
            "of them or remove the region"
        )
    if region.store is None:
        return problems
    replica = recorded.get(_normal(region.store))
    fix = (
        f"run `polyclass cloud replicate {ref} --to {region.store}` then "
        f"`polyclass cloud verify {ref}`"
    )
    if not isinstance(replica, Replica):
        problems.append(
            f"region {region.name!r}: the store {region.store} has no recorded replica of "
            f"{ref}: {fix}"
        )
    elif replica.status == "unverified":  # replicated, not yet re-read from the store
        problems.append(
            f"region {region.name!r}: the replica of {ref} in {region.store} is unverified: "
            f"run `polyclass cloud verify {ref}`"
        )
    elif replica.status != "ok":
        problems.append(
            f"region {region.name!r}: the replica of {ref} in {region.store} is "
            f"{replica.status}, not verified ok: run `polyclass cloud repair {ref}` then "
            f"`polyclass cloud verify {ref}`"
        )
    elif region.residency and replica.residency and replica.residency != region.residency:
        problems.append(
            f"region {region.name!r}: residency {region.residency!r} but its store "
            f"{region.store} is recorded with residency {replica.residency!r}: use a store "
            "in the region's residency"
        )
    return problems


def _recorded_ok(region: Region, recorded: Mapping[str, object]) -> bool:
    """Whether the registry records the region's store as holding a verified replica."""
    from polyclass.registry import Replica

    replica = recorded.get(_normal(region.store)) if region.store else None
    return isinstance(replica, Replica) and replica.status == "ok"


def _normal(url: str) -> str:
    """One spelling per store (``file:///a/`` and ``file:///a`` are the same store)."""
    from polyclass.cloud import Store, UsageError

    try:
        return Store(url).url
    except UsageError:
        return url.rstrip("/")
