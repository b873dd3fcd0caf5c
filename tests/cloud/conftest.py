"""Fixtures for the cloud tests: real S3, GCS and Azure Blob emulators, started and stopped here.

moto's server (S3), gcp-storage-emulator (GCS) and Azurite (Azure Blob, from npm) run
on free ports of 127.0.0.1 for the whole session. A missing emulator skips locally and
fails under CI=true, where `make test` must have installed it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _cloud_emulators import (
    SCHEME,
    Emulator,
    make_bucket,
    missing_emulators,
    missing_tool,
    running_emulators,
)


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, Emulator]]:
    """All three emulators, with the environment each cloud library reads pointed at them."""
    missing = missing_emulators()
    if missing is not None:
        missing_tool(missing)
    with running_emulators() as started:
        yield started


@pytest.fixture(scope="session")
def buckets(emulators: dict[str, Emulator]) -> dict[str, str]:
    """One bucket (container) per cloud for the session: cloud -> bucket name."""
    names = {cloud: f"pc-{cloud}-{uuid.uuid4().hex[:8]}" for cloud in SCHEME}
    for cloud, bucket in names.items():
        make_bucket(cloud, bucket)
    return names


@pytest.fixture
def new_store(buckets: dict[str, str], tmp_path: Path) -> Callable[[str], str]:
    """A factory of fresh, empty store URLs: new_store('s3'|'gcs'|'azure'|'file')."""

    def make(cloud: str) -> str:
        prefix = uuid.uuid4().hex[:10]
        if cloud == "file":
            (tmp_path / prefix).mkdir()
            return f"file://{tmp_path / prefix}"
        return f"{SCHEME[cloud]}://{buckets[cloud]}/{prefix}"

    return make


@pytest.fixture(scope="session")
def penguins_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with penguins v1 and v2, trained once per session."""
    from _serve_helpers import trained_registry

    return trained_registry(tmp_path_factory.mktemp("penguins")).registry


@pytest.fixture
def registry(penguins_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of the penguins registry, and a private cache, for one test."""
    copy = tmp_path / "registry"
    shutil.copytree(penguins_registry, copy)
    monkeypatch.setenv("POLYCLASS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("POLYCLASS_REGISTRY", raising=False)
    return str(copy)
