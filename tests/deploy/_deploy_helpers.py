"""Shared parts of the deploy tests: the three test regions and their replicated model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from _serve_helpers import Trained, trained_registry

#: region name -> (cloud, residency) of the three test regions.
REGIONS = {"eu-west": ("aws", "eu"), "eu-central": ("gcp", "eu"), "us-east": ("azure", "us")}


@dataclass(frozen=True)
class Replicated:
    """penguins:1 registered and replicated (verified ok) to one file:// store per region."""

    trained: Trained
    registry: Path
    stores: dict[str, str]  # region -> store URL


def replicate_to_regions(base: Path) -> Replicated:
    """Train penguins into ``base``; versions 1 and 2 to one verified store per region."""
    from polyclass.cloud import replicate, spec, verify

    trained = trained_registry(base)
    stores = {name: f"file://{base / 'stores' / name}" for name in REGIONS}
    for name in REGIONS:
        (base / "stores" / name).mkdir(parents=True, exist_ok=True)
    specs = [
        spec(url, cloud=REGIONS[name][0], region=name, residency=REGIONS[name][1])
        for name, url in stores.items()
    ]
    registry, cache = str(trained.registry), base / "cache"
    for version in ("penguins:1", "penguins:2"):  # 2: what deploy rollout moves to
        result = replicate(version, specs, registry=registry, cache=cache)
        assert result.ok, result
        assert all(c.ok for c in verify(version, registry=registry, cache=cache))
    return Replicated(trained, trained.registry, stores)


def own_replica(base: Path, replicated: Replicated, region: str) -> tuple[Path, str]:
    """A copy of the shared registry in ``base`` that also records a verified replica of
    penguins:1 in a fresh store of ``region``: damaging that store touches no other test."""
    import shutil

    from polyclass.cloud import replicate, spec, verify

    registry = base / "registry"
    shutil.copytree(replicated.registry, registry)
    store = base / f"store-{region}"
    store.mkdir()
    url = f"file://{store}"
    cloud, residency = REGIONS[region]
    target = spec(url, cloud=cloud, region=region, residency=residency)
    assert replicate("penguins:1", [target], registry=str(registry)).ok
    assert all(c.ok for c in verify("penguins:1", registry=str(registry)))
    return registry, url


def topology_text(
    replicated: Replicated, *, port: int, admin: int, replicas: int = 2, regions: int = 3
) -> str:
    """A round-robin topology of the first ``regions`` test regions on loopback ports."""
    lines = [
        f'model = "penguins@production"\nregistry = "{replicated.registry}"\n'
        f'policy = "round-robin"\n[router]\nlisten = "127.0.0.1:{port}"\n'
        f'admin = "127.0.0.1:{admin}"\n'
    ]
    for name, (cloud, residency) in list(REGIONS.items())[:regions]:
        lines.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\n'
            f'store = "{replicated.stores[name]}"\nresidency = "{residency}"\n'
            f"replicas = {replicas}\n"
        )
    return "\n".join(lines)
