"""Fixtures of the deploy tests: a registry whose penguins model has verified replicas in
three file:// stores, one per region."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the shared helpers (_serve_helpers) live there

from _deploy_helpers import REGIONS, Replicated  # noqa: E402

from _serve_helpers import trained_registry  # noqa: E402


@pytest.fixture(scope="session")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Replicated:
    from polyclass.cloud import replicate, spec, verify

    # a registry of our own: the replicas recorded here must not show in other tests'
    trained = trained_registry(tmp_path_factory.getbasetemp() / "deploy-penguins")
    base = tmp_path_factory.mktemp("deploy-stores")
    stores = {name: f"file://{base / name}" for name in REGIONS}
    for name in REGIONS:
        (base / name).mkdir()
    specs = [
        spec(url, cloud=REGIONS[name][0], region=name, residency=REGIONS[name][1])
        for name, url in stores.items()
    ]
    result = replicate("penguins:1", specs, registry=str(trained.registry), cache=base / "cache")
    assert result.ok, result
    assert all(
        c.ok for c in verify("penguins:1", registry=str(trained.registry), cache=base / "cache")
    )
    return Replicated(trained, trained.registry, stores)
