"""The topology file: what it means, and an error naming the key and the fix for each mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _deploy_helpers import REGIONS, Replicated

from polyclass.deploy import TopologyError, check_topology, load_topology, parse_topology

GOOD = """
model = "penguins@production"
policy = "latency"
[router]
listen = "127.0.0.1:9000"
[[regions]]
name = "eu-west"
cloud = "aws"
store = "s3://models-eu/polyclass"
residency = "eu"
priority = 0
cost_per_hour = 0.12
replicas = 2
endpoints = []
[[regions]]
name = "us-east"
cloud = "gcp"
store = "gs://models-us/polyclass/"
residency = "us"
priority = 1
endpoints = ["http://10.0.0.5:8080"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_topology(write(tmp_path, text))
    assert str(tmp_path / "topology.toml") in str(info.value)
    return info.value.problems


def test_a_good_file_reads_as_written(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, GOOD))
    assert topology.model == "penguins@production"
    assert topology.policy == "latency"
    assert (topology.router.host, topology.router.port) == ("127.0.0.1", 9000)
    assert topology.router.admin_port == 9001  # the listen port + 1 by default
    eu, us = topology.regions
    assert (eu.name, eu.cloud, eu.store, eu.residency) == (
        "eu-west",
        "aws",
        "s3://models-eu/polyclass",
        "eu",
    )
    assert (eu.priority, eu.cost_per_hour, eu.replicas, eu.endpoints) == (0, 0.12, 2, ())
    assert us.store == "gs://models-us/polyclass"  # one spelling per store
    assert us.endpoints == ("http://10.0.0.5:8080",)
    assert topology.residencies == ("eu", "us")
    assert topology.regions_with("eu") == (eu,)
    assert topology.router.health_interval < 1  # sub-second by default


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("priority = 0", "priorty = 0"), ["unknown key 'priorty'", "did you mean 'priority'"]),
        (('listen = "127', 'lsten = "127'), ["unknown key 'lsten' in [router]"]),
        (('name = "us-east"', 'name = "eu-west"'), ["duplicate region 'eu-west'", "#1 and #2"]),
        (('cloud = "gcp"', 'cloud = "gpc"'), ["unknown cloud 'gpc'", "did you mean 'gcp'"]),
        (('store = "s3://models-eu/polyclass"\n', ""), ["region without a store", "store ="]),
        (('policy = "latency"', 'policy = "fastest"'), ['"policy" must be one of latency']),
        (('model = "penguins@production"', 'model = "penguins@"'), ['"model"', "alias"]),
        (("replicas = 2", "replicas = -1"), ["'replicas' must be a whole number from 0 to 64"]),
        (("replicas = 2", 'replicas = "2"'), ["'replicas' must be"]),
        (('cloud = "gcp"', 'cloud = "azure"'), ["gs:// store cannot be in cloud 'azure'"]),
        (
            ('"http://10.0.0.5:8080"', '"10.0.0.5"'),
            ["endpoint '10.0.0.5' must be http://HOST:PORT"],
        ),
        (('listen = "127.0.0.1:9000"', 'listen = "127.0.0.1:99999"'), ["[router] 'listen'"]),
        (('residency = "us"', 'residency = "US West"'), ["'residency' must be a lower-case tag"]),
    ],
)
def test_each_mistake_names_its_key_and_the_fix(
    tmp_path: Path, edit: tuple[str, str], expected: list[str]
) -> None:
    assert edit[0] in GOOD
    found = problems(tmp_path, GOOD.replace(edit[0], edit[1], 1))
    assert len(found) == 1, found
    for text in expected:
        assert text in found[0]


def test_a_residency_with_no_region_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, 'residencies = ["eu", "us", "ap"]\n' + GOOD)
    assert found == [
        "residency 'ap' has no region: add residency = \"ap\" to a [[regions]] table, or "
        'remove it from "residencies"'
    ]
    found = problems(tmp_path, 'residencies = ["eu"]\n' + GOOD)
    assert "residency 'us'" in found[0] and '"residencies" omits it' in found[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('cloud = "aws"', 'cloud = "aws2"').replace("replicas = 2", "replica = 2")
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert any("unknown cloud 'aws2'" in p for p in found)
    assert any("unknown key 'replica'" in p and "'replicas'" in p for p in found)


def test_no_regions_no_model_and_bad_toml(tmp_path: Path) -> None:
    found = problems(tmp_path, 'policy = "cost"\n')
    assert any('"model" is missing' in p for p in found)
    assert any("no [[regions]]" in p for p in found)
    assert "not valid TOML" in problems(tmp_path, "model = \n")[0]
    with pytest.raises(TopologyError, match="cannot read the file"):
        load_topology(tmp_path / "missing.toml")


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    text = GOOD.replace("s3://models-eu/polyclass", "file://stores/eu").replace(
        'cloud = "aws"', 'cloud = "onprem"'
    )
    topology = load_topology(write(tmp_path, 'registry = "reg"\n' + text))
    assert topology.regions[0].store == f"file://{tmp_path / 'stores/eu'}"
    assert topology.registry == str(tmp_path / "reg")
    assert topology.state_dir == tmp_path / ".polyclass-deploy" / "topology"


def test_parse_topology_takes_a_document() -> None:
    topology = parse_topology(
        {
            "model": "m",
            "regions": [
                {"name": "a", "cloud": "onprem", "endpoints": ["http://h:1"], "replicas": 0}
            ],
        }
    )
    assert topology.regions[0].store is None  # endpoints only: no store to load from


def local_topology(replicated: Replicated, **stores: str) -> str:
    lines = [f'model = "penguins@production"\nregistry = "{replicated.registry}"']
    for name, (cloud, residency) in REGIONS.items():
        store = stores.get(name.replace("-", "_"), replicated.stores[name])
        lines.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\nstore = "{store}"\n'
            f'residency = "{residency}"'
        )
    return "\n".join(lines) + "\n"


def test_check_finds_the_verified_replica_of_every_store(
    tmp_path: Path, replicated: Replicated
) -> None:
    checked = check_topology(load_topology(write(tmp_path, local_topology(replicated))))
    assert checked.ref == "penguins:1"


def test_check_refuses_a_store_without_a_verified_replica(
    tmp_path: Path, replicated: Replicated
) -> None:
    empty = f"file://{tmp_path / 'empty-store'}"
    topology = load_topology(write(tmp_path, local_topology(replicated, us_east=empty)))
    with pytest.raises(TopologyError) as info:
        check_topology(topology)
    (problem,) = info.value.problems
    assert f"region 'us-east': the store {empty} has no recorded replica of penguins:1" in problem
    assert f"polyclass cloud replicate penguins:1 --to {empty}" in problem


def test_check_refuses_a_model_the_registry_lacks(tmp_path: Path, replicated: Replicated) -> None:
    text = local_topology(replicated).replace("penguins@production", "walruses@production")
    with pytest.raises(TopologyError, match="walruses"):
        check_topology(load_topology(write(tmp_path, text)))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", *args], capture_output=True, text=True
    )


def test_deploy_check_command(tmp_path: Path, replicated: Replicated) -> None:
    good = write(tmp_path, local_topology(replicated))
    out = run_cli("check", str(good), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["version"] == "penguins:1"
    assert summary["regions"] == list(REGIONS)
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('cloud = "gcp"', 'cloud = "gpc"'), encoding="utf-8")
    out = run_cli("check", str(bad), "--offline")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unknown cloud 'gpc'" in lines[0]
