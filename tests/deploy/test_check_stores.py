"""`deploy check` looks at each region's store, not only at the registry's last verify: the
manifest must still be there (cheap), and `--verify` re-hashes every replica."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _deploy_helpers import REGIONS, Replicated, own_replica

from polyclass.deploy import TopologyError, check_topology, load_topology


@pytest.fixture
def own_store(tmp_path: Path, replicated: Replicated) -> tuple[Path, Path]:
    """A topology whose eu-west store is a fresh verified replica of its own."""
    registry, url = own_replica(tmp_path, replicated, "eu-west")
    lines = [f'model = "penguins@production"\nregistry = "{registry}"']
    for name, (cloud, residency) in REGIONS.items():
        where = url if name == "eu-west" else replicated.stores[name]
        lines.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\nstore = "{where}"\n'
            f'residency = "{residency}"'
        )
    path = tmp_path / "topology.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, Path(url.removeprefix("file://"))


def deploy_check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", "check", str(path), *extra],
        capture_output=True,
        text=True,
    )


def test_check_finds_a_replica_deleted_since_its_last_verify(
    own_store: tuple[Path, Path],
) -> None:
    path, store = own_store
    assert check_topology(load_topology(path)).ref == "penguins:1"
    (store / "models" / "penguins" / "1" / "manifest.json").unlink()
    # the registry still records it verified: only reading the store finds it gone
    assert check_topology(load_topology(path), stores="record").ref == "penguins:1"
    with pytest.raises(TopologyError) as info:
        check_topology(load_topology(path))
    (problem,) = info.value.problems
    assert f"region 'eu-west': the store file://{store} no longer holds penguins:1" in problem
    assert "`polyclass cloud repair penguins:1` then `polyclass cloud verify penguins:1`" in problem
    out = deploy_check(path)
    assert out.returncode == 2 and out.stderr.startswith("error: "), out.stderr
    assert "no longer holds penguins:1" in out.stderr and "Traceback" not in out.stderr


def test_check_verify_rehashes_and_names_a_damaged_blob(own_store: tuple[Path, Path]) -> None:
    path, store = own_store
    blob = next((store / "blobs").iterdir())
    blob.write_bytes(blob.read_bytes() + b"damage")  # the manifest is intact: only a hash tells
    assert deploy_check(path).returncode == 0
    out = deploy_check(path, "--verify")
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"region 'eu-west': the replica of penguins:1 in file://{store} is corrupt" in out.stderr
    assert "polyclass cloud repair penguins:1" in out.stderr
    # the re-hash was recorded: a plain check now refuses it too
    assert "is corrupt" in deploy_check(path).stderr


def test_check_names_a_store_that_is_gone(own_store: tuple[Path, Path]) -> None:
    path, store = own_store
    shutil.rmtree(store)
    with pytest.raises(TopologyError) as info:
        check_topology(load_topology(path))
    (problem,) = info.value.problems
    assert problem.startswith(f"region 'eu-west': Store file://{store}: the directory does not")
    assert f"mkdir -p {store}" in problem


def test_check_reports_every_regions_problem_in_one_run(
    own_store: tuple[Path, Path], replicated: Replicated
) -> None:
    from polyclass.registry import Registry

    path, store = own_store
    with Registry(str(path.parent / "registry")) as registry:  # own_store's copy
        registry.record_replica(
            "penguins", 1, url=replicated.stores["us-east"], cloud="azure", status="corrupt"
        )
    (store / "models" / "penguins" / "1" / "manifest.json").unlink()
    with pytest.raises(TopologyError) as info:
        check_topology(load_topology(path))
    # eu-west's gone manifest is named though us-east's recorded status is already bad
    eu_west, us_east = info.value.problems
    assert eu_west.startswith("region 'eu-west'") and "no longer holds penguins:1" in eu_west
    assert us_east.startswith("region 'us-east'") and "is corrupt" in us_east
    assert str(info.value).startswith(f"{path}: 2 problems: ")
