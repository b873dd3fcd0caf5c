"""Registry disaster recovery: back up, destroy, restore; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _postgres import postgres_database
from polyclass.artifact import save_artifact
from polyclass.registry import Registry, RegistryError


class Databases:
    """Fresh, empty registry databases of one backend, and their destruction."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend, self.folder = backend, folder
        self.made: dict[str, Iterator[str]] = {}

    def new(self) -> str:
        if self.backend == "sqlite":
            url = f"sqlite:///{self.folder / f'db{len(self.made)}' / 'registry.db'}"
            self.made[url] = iter(())
            return url
        database = postgres_database()
        url = next(database)
        self.made[url] = database
        return url

    def destroy(self, url: str) -> None:
        if self.backend == "sqlite":
            Path(url.removeprefix("sqlite:///")).unlink()
        next(self.made.pop(url), None)  # the PostgreSQL database is dropped

    def close(self) -> None:
        for database in self.made.values():
            next(database, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    made = Databases(request.param, tmp_path)
    yield made
    made.close()


def _populate(registry: Registry, tmp_path: Path) -> None:
    arts = [
        save_artifact(tmp_path / f"art{i}", {"classes": ["a", "b"]}, {"w": np.full(3, i)})
        for i in range(3)
    ]
    for i in range(4):
        registry.register(
            "penguins",
            arts[i % 3],
            lineage={"metrics": {"macro_f1": 0.5 + i / 10}, "parameters": {"C": [0.1, 1.0]}},
        )
    registry.register("wine", arts[0], lineage={"data_fingerprint": "ab" * 32})
    registry.register("wine", arts[1])
    for version in (1, 2, 3):
        registry.promote("penguins", version)
    registry.rollback("penguins")
    registry.set_alias("penguins", "staging", 4)
    registry.set_alias("wine", "production", 2)
    registry.delete("wine", 2, force=True)  # numbers stay issued; history records the remove
    registry.set_residencies("penguins", ["eu", "ch"])
    registry.record_replica(
        "penguins",
        2,
        url="s3://eu-models/team",
        cloud="aws",
        region="eu-west-1",
        residency="eu",
        status="ok",
        verified_at="2026-12-07T12:00:00Z",
    )
    registry.record_replica("penguins", 3, url="gs://ch-models/team", cloud="gcp", residency="ch")


def _state(registry: Registry) -> dict[str, Any]:
    """Everything a user can read back from the registry."""
    models = registry.list_models()
    return {
        "models": models,
        "versions": {m.name: registry.versions(m.name) for m in models},
        "aliases": {m.name: registry.aliases(m.name) for m in models},
        "history": {m.name: registry.alias_history(m.name) for m in models},
        "replicas": {m.name: registry.replicas(m.name) for m in models},
        "residencies": {m.name: registry.residencies(m.name) for m in models},
    }


def test_backup_destroy_restore_gives_everything_back(databases: Databases, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    old = databases.new()
    with Registry(old, root=root) as registry:
        _populate(registry, tmp_path)
        before = _state(registry)
        document = registry.backup_document()
    assert document["format"] == "polyclass-registry-backup"
    assert document["format_version"] == 1
    # it travels as JSON text: restore from what was written, not from the dict
    text = json.dumps(document)
    databases.destroy(old)
    with Registry(databases.new(), root=root) as restored:
        result = restored.restore_document(json.loads(text))
        assert result["missing_artifacts"] == []
        assert result["versions"] == 5 and result["alias_history"] == 7
        after = _state(restored)
        assert after == before
        again = restored.backup_document()
        for key in ("created_at", "created_by"):
            again.pop(key), document.pop(key)
        assert again == document
        for versions in after["versions"].values():
            for version in versions:
                restored.verify(version.ref)
        # the counters came back: numbers are never reused, even of a deleted version
        first = before["versions"]["penguins"][0].path
        assert restored.register("wine", first).version == 3
        assert restored.rollback("penguins").version == 1  # the history replays as before


def test_restore_refuses_a_registry_that_is_not_empty(databases: Databases, tmp_path: Path) -> None:
    with Registry(databases.new(), root=tmp_path / "artifacts") as registry:
        _populate(registry, tmp_path)
        document = registry.backup_document()
        before = _state(registry)
        with pytest.raises(RegistryError, match=r"already holds models \(penguins, wine\).*new"):
            registry.restore_document(document)
        assert _state(registry) == before


def test_restore_without_the_artifact_folder_lists_what_is_missing(
    databases: Databases, tmp_path: Path
) -> None:
    with Registry(databases.new(), root=tmp_path / "artifacts") as registry:
        _populate(registry, tmp_path)
        document = registry.backup_document()
    with Registry(databases.new(), root=tmp_path / "empty") as restored:
        result = restored.restore_document(document)
        assert result["missing_artifacts"] == [
            "penguins:1",
            "penguins:2",
            "penguins:3",
            "penguins:4",
            "wine:1",
        ]
        assert restored.resolve("penguins@production").version == 2
    shutil.copytree(tmp_path / "artifacts", tmp_path / "empty", dirs_exist_ok=True)
    with Registry(restored.url, root=tmp_path / "empty") as whole:
        whole.verify("penguins@production")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="something"), "not a polyclass-registry-backup"),
        (lambda d: d.update(format_version=99), "format version 99.*Upgrade polyclass"),
        (lambda d: d.pop("aliases"), "aliases is missing"),
        (lambda d: d["versions"][0].pop("lineage"), r"versions\[0\] must have exactly"),
        (lambda d: d["versions"][0].update(version="1"), r"versions\[0\].version must be a whole"),
        (lambda d: d["versions"][0].update(lineage=[]), "must be a JSON object"),
        (lambda d: d["models"][0].update(name="../x"), "Invalid model name"),
        (lambda d: d["replicas"][0].update(url="s" * 2000), "at most 1024"),
        (lambda d: d["models"].pop(0), "not consistent"),
    ],
)
def test_restore_refuses_a_malformed_document_and_writes_nothing(
    databases: Databases,
    tmp_path: Path,
    edit: Callable[[dict[str, Any]], object],
    message: str,
) -> None:
    with Registry(databases.new(), root=tmp_path / "artifacts") as registry:
        _populate(registry, tmp_path)
        document = registry.backup_document()
    edit(document)
    with Registry(databases.new(), root=tmp_path / "artifacts") as restored:
        with pytest.raises(RegistryError, match=message):
            restored.restore_document(document)
        assert restored.list_models() == []
