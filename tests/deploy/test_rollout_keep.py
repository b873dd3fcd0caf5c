"""What a finished rollout leaves for the next `deploy up`: the topology's alias moved to
the new version (or, with --no-promote or a pinned version, the command that keeps it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyclass.artifact import save_artifact
from polyclass.deploy import CheckedTopology, load_topology
from polyclass.deploy._rollout import keep_rollout
from polyclass.registry import Registry

TOPOLOGY = """model = "{model}"
registry = "{registry}"
[router]
listen = "127.0.0.1:9000"
[[regions]]
name = "eu-west"
cloud = "aws"
store = "s3://models-eu/polyclass"
"""


@pytest.fixture()
def registry(tmp_path: Path) -> str:
    """A registry with penguins versions 1 and 2, production on 1."""
    root = str(tmp_path / "reg")
    with Registry(root) as reg:
        for number in (1, 2):
            reg.register("penguins", save_artifact(str(tmp_path / f"art{number}"), {}, {}))
        reg.set_alias("penguins", "production", 1)
    return root


def keep(tmp_path: Path, registry: str, model: str, promote: bool = True) -> str:
    path = tmp_path / "topology.toml"
    path.write_text(TOPOLOGY.format(model=model, registry=registry), encoding="utf-8")
    topology = load_topology(path)
    target = CheckedTopology(topology, "penguins", 2)
    return keep_rollout(topology, target, registry=None, promote=promote)


def production(registry: str) -> int:
    with Registry(registry) as reg:
        return reg.aliases("penguins")["production"]


def test_a_finished_rollout_moves_the_topology_alias(tmp_path: Path, registry: str) -> None:
    line = keep(tmp_path, registry, "penguins@production")
    assert line == "penguins@production now names penguins:2: a restarted `deploy up` serves it"
    assert production(registry) == 2


def test_no_promote_keeps_the_alias_and_says_how_to_move_it(tmp_path: Path, registry: str) -> None:
    line = keep(tmp_path, registry, "penguins@production", promote=False)
    assert production(registry) == 1
    assert "a restarted `deploy up` goes back to it" in line
    assert "`polyclass registry alias penguins production 2` keeps penguins:2" in line


def test_a_pinned_version_is_left_as_it_is_and_named(tmp_path: Path, registry: str) -> None:
    line = keep(tmp_path, registry, "penguins:1")
    assert production(registry) == 1
    assert "names penguins:1: a restarted `deploy up` goes back to it" in line
    assert "set its model to penguins:2" in line
