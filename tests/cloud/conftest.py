"""Fixtures for the cloud tests: real S3, GCS and Azure Blob emulators, started and stopped here.

moto's server (S3), gcp-storage-emulator (GCS) and Azurite (Azure Blob, from npm) run
on free ports of 127.0.0.1 for the whole session. A missing emulator skips locally and
fails under CI=true, where `make test` must have installed it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _cloud_emulators import (
    BIN,
    SCHEME,
    Emulator,
    azurite_command,
    emulator_environment,
    free_port,
    make_bucket,
    missing_tool,
)


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, Emulator]]:
    """All three emulators, with the environment each cloud library reads pointed at them."""
    azurite = azurite_command()
    if azurite is None:
        missing_tool("Azurite (npm install azurite)")
    for tool in ("moto_server", "gcp-storage-emulator"):
        if not (BIN / tool).exists():
            missing_tool(f"{tool} (pip install -e '.[dev]')")
    work = Path(tempfile.mkdtemp(prefix="polyclass-emulators-"))
    ports = {"s3": free_port(), "gcs": free_port(), "azure": free_port()}
    started: dict[str, Emulator] = {}
    saved = dict(os.environ)
    try:
        started["s3"] = Emulator(
            "moto",
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(ports["s3"])],
            ports["s3"],
            work,
            wait=False,
        )
        started["gcs"] = Emulator(
            "gcs",
            [
                str(BIN / "gcp-storage-emulator"),
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["gcs"]),
                "--in-memory",
            ],
            ports["gcs"],
            work,
            wait=False,
        )
        (work / "azurite").mkdir()
        started["azure"] = Emulator(
            "azurite",
            [
                azurite,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(ports["azure"]),
                "--location",
                str(work / "azurite"),
                "--skipApiVersionCheck",
                "--loose",
            ],
            ports["azure"],
            work,
            wait=False,
        )
        for emulator in started.values():  # the three start side by side
            emulator.wait()
        os.environ.update(emulator_environment(ports))
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)


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
