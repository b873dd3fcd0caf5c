"""The model registry on real SQLite files and real artifact folders."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

import polyclass.registry as registry_module
from polyclass.artifact import ArtifactError, read_artifact, save_artifact
from polyclass.registry import (
    AliasInUseError,
    ArchiveError,
    IntegrityError,
    InvalidNameError,
    ModelVersion,
    Registry,
    RegistryError,
    RollbackError,
    UnknownAliasError,
    UnknownModelError,
    UnknownVersionError,
    parse_ref,
)


@pytest.fixture
def art(tmp_path: Path) -> Path:
    return save_artifact(
        tmp_path / "art",
        {"data_fingerprint": "f" * 64, "classes": ["a", "b"]},
        {"coef": np.arange(6.0).reshape(2, 3)},
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"


@pytest.fixture
def reg(url: str) -> Iterator[Registry]:
    with Registry(url) as registry:
        yield registry


def _store_dirs(registry: Registry, name: str) -> list[Path]:
    folder = registry.root / name
    return sorted(folder.iterdir()) if folder.exists() else []


def _staging(registry: Registry) -> list[Path]:
    folder = registry.root / ".staging"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_public_names_sorted() -> None:
    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert registry_module.__all__ == sorted(registry_module.__all__, key=order)
    for name in registry_module.__all__:
        assert hasattr(registry_module, name)


# ------------------------------------------------------------------ location


def test_default_location_is_dot_polyclass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYCLASS_REGISTRY", raising=False)
    with Registry() as registry:
        assert registry.url == f"sqlite:///{tmp_path / '.polyclass' / 'registry.db'}"
        assert registry.root == tmp_path / ".polyclass" / "artifacts"
    assert (tmp_path / ".polyclass" / "registry.db").is_file()


def test_environment_variable_and_directory_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, art: Path
) -> None:
    monkeypatch.setenv("POLYCLASS_REGISTRY", str(tmp_path / "team"))
    with Registry() as registry:
        registry.register("m", art)
        assert registry.root == tmp_path / "team" / "artifacts"
    with Registry(f"sqlite:///{tmp_path / 'team' / 'registry.db'}") as same:
        assert same.resolve("m").version == 1
    with Registry(str(tmp_path / "other.db"), root=tmp_path / "elsewhere") as explicit:
        assert explicit.root == tmp_path / "elsewhere"


def test_bad_url(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="Invalid registry URL"):
        Registry("not a url://x")
    with pytest.raises(RegistryError, match="No database driver"):
        Registry("nosuchdialect+nodriver://host/db", root=tmp_path)
    with pytest.raises(RegistryError, match=r"No database driver.*psycopg") as info:
        Registry("postgresql+nosuchdriver://user:secret@host/db", root=tmp_path)
    assert "secret" not in str(info.value)
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(RegistryError, match="Cannot open the registry database"):
        Registry(f"sqlite:///{tmp_path / 'dir.db'}", root=tmp_path)


def test_newer_schema_refused(url: str, tmp_path: Path) -> None:
    Registry(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE polyclass_registry_info SET value = '99'"))
    engine.dispose()
    with pytest.raises(RegistryError, match=r"schema version 99.*Upgrade polyclass"):
        Registry(url)


# ------------------------------------------------------------------ register


def test_register_numbers_versions_and_records_lineage(reg: Registry, art: Path) -> None:
    lineage = {"parameters": {"C": np.float64(0.5)}, "metrics": {"macro_f1": 0.91}}
    first = reg.register("penguins", art, lineage=lineage)
    second = reg.register("penguins", art)
    other = reg.register("wine", art)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.lineage["parameters"] == {"C": 0.5}
    assert first.lineage["metrics"] == {"macro_f1": 0.91}
    assert first.lineage["data_fingerprint"] == "f" * 64  # from the artifact metadata
    assert first.lineage["user"] == first.user
    assert first.lineage["created_at"] == first.created_at
    assert first.created_at.endswith("Z")
    assert first.lineage["polyclass_version"]
    assert first.path.is_relative_to(reg.root) and first.path != second.path
    assert read_artifact(first.path).metadata["classes"] == ["a", "b"]
    assert reg.get_version("penguins", 1) == first
    assert _staging(reg) == []


def test_registered_copy_is_independent(reg: Registry, art: Path) -> None:
    version = reg.register("m", art)
    save_artifact(art, {"changed": True}, {}, overwrite=True)
    assert "changed" not in read_artifact(version.path).metadata
    reg.verify("m:1")


def test_register_refuses_damaged_artifact(reg: Registry, art: Path) -> None:
    (art / "coef.npy").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match=r"coef\.npy"):
        reg.register("m", art)
    assert reg.list_models() == []
    assert _staging(reg) == []


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "x y", "a:b", "a@b", "é"])
def test_register_refuses_bad_names(reg: Registry, art: Path, name: str) -> None:
    with pytest.raises(InvalidNameError, match="Invalid model name"):
        reg.register(name, art)


def test_register_refuses_unstorable_lineage(reg: Registry, art: Path) -> None:
    with pytest.raises(RegistryError, match="lineage cannot be stored as JSON"):
        reg.register("m", art, lineage={"metrics": {"auc": float("nan")}})
    with pytest.raises(RegistryError, match=r"lineage\['metrics'\] must be a dict"):
        reg.register("m", art, lineage={"metrics": [1, 2]})
    assert reg.list_models() == []


def test_interrupted_registration_leaves_no_version(
    reg: Registry, art: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polyclass.registry._store as store

    def interrupted(path: Path) -> None:  # fault injection right after the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "fsync_dir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reg.register("m", art)
    monkeypatch.undo()
    assert reg.list_models() == []
    assert _store_dirs(reg, "m") == []
    assert _staging(reg) == []
    assert reg.register("m", art).version == 1


def test_killed_registration_leaves_no_version(url: str, art: Path) -> None:
    """A process killed after moving the files but before committing registers nothing."""
    code = textwrap.dedent(
        f"""
        import os
        import polyclass.registry._store as store
        store.fsync_dir = lambda path: os._exit(9)
        store.Registry({url!r}).register("m", {str(art)!r})
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    with Registry(url) as registry:
        assert registry.list_models() == []
        assert registry.register("m", art).version == 1
        assert [v.version for v in registry.versions("m")] == [1]


def test_clean_removes_only_old_leftovers(url: str, art: Path) -> None:
    code = textwrap.dedent(
        f"""
        import os
        import polyclass.registry._store as store
        store.fsync_dir = lambda path: os._exit(9)
        store.Registry({url!r}).register("m", {str(art)!r})
        """
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    with Registry(url) as registry:
        kept = registry.register("m", art)
        (registry.root / ".staging" / "stale").mkdir(parents=True)
        orphans = [p for p in _store_dirs(registry, "m") if p != kept.path]
        assert len(orphans) == 1
        assert registry.clean() == []  # too young: could be a registration in flight
        removed = registry.clean(min_age_seconds=-1)
        assert sorted(removed) == sorted([*orphans, registry.root / ".staging" / "stale"])
        assert _store_dirs(registry, "m") == [kept.path]
        registry.verify("m:1")


def test_two_processes_register_at_once(url: str, art: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = textwrap.dedent(
        f"""
        import json, pathlib, sys, time
        from polyclass.registry import Registry
        with Registry({url!r}) as registry:
            print("ready", flush=True)
            while not pathlib.Path({str(go)!r}).exists():  # start together
                time.sleep(0.002)
            got = [registry.register("shared", {str(art)!r}).version for _ in range(6)]
        print(json.dumps(got))
        """
    )
    Registry(url).close()  # create the schema first, as a real first `train` would
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCLASS")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    go.touch()
    outputs: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.extend(json.loads(out))
    assert sorted(outputs) == list(range(1, 13))
    with Registry(url) as registry:
        found = registry.versions("shared")
        assert [v.version for v in found] == list(range(1, 13))
        assert len({v.path for v in found}) == 12
        for version in found:
            registry.verify(version.ref)
        assert _staging(registry) == []


# ------------------------------------------------------------------ resolve


def test_resolve_every_form(reg: Registry, art: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        reg.register("m", art)
    reg.promote("m", 2)
    assert reg.resolve("m").version == 3
    assert reg.resolve("m:latest").version == 3
    assert reg.resolve("m:1").version == 1
    assert reg.resolve("m@production").version == 2
    assert reg.resolve("m@production").aliases == ("production",)
    by_path = reg.resolve(art)
    assert by_path.version is None and not by_path.registered and by_path.path == art
    assert reg.resolve(str(art)).path == art
    monkeypatch.chdir(art.parent)
    assert reg.resolve("./art").path == art
    assert reg.resolve("art").path == art  # an existing artifact directory, not a model
    reg.register("art", art)
    with pytest.raises(InvalidNameError, match=r"both a directory here and a registered model"):
        reg.resolve("art")
    assert reg.resolve("art:latest").version == 1


def test_resolve_errors_list_what_exists(reg: Registry, art: Path) -> None:
    reg.register("m", art)
    reg.register("m", art)
    reg.set_alias("m", "staging", 1)
    with pytest.raises(UnknownModelError, match=r"No model named 'x'.*Known models: m\.") as info:
        reg.resolve("x")
    assert info.value.known == ["m"]
    with pytest.raises(UnknownVersionError, match=r"no version 7\. Its versions: 1, 2"):
        reg.resolve("m:7")
    with pytest.raises(UnknownAliasError, match=r"no alias 'production'.*staging -> 1"):
        reg.resolve("m@production")
    with pytest.raises(InvalidNameError, match="whole numbers"):
        reg.resolve("m:one")
    with pytest.raises(ArtifactError, match="does not exist"):
        reg.resolve("./missing")
    with pytest.raises(UnknownModelError, match="none yet"):
        Registry(f"sqlite:///{art.parent / 'empty.db'}").resolve("m")


def test_parse_ref() -> None:
    assert str(parse_ref("a.b-c_d:12")) == "a.b-c_d:12"
    assert parse_ref("m@staging").alias == "staging"
    for bad in ["m@1", "m@latest", "m:", "m:-1", ":1", "@a", "m:1:2"]:
        with pytest.raises(InvalidNameError):
            parse_ref(bad)


# ------------------------------------------------------------------ aliases


def test_promote_and_rollback_walk_the_history(reg: Registry, art: Path) -> None:
    for _ in range(4):
        reg.register("m", art)
    with pytest.raises(UnknownAliasError):
        reg.rollback("m")
    reg.promote("m", 1)
    with pytest.raises(RollbackError, match="no earlier version"):
        reg.rollback("m")
    reg.promote("m", 2)
    reg.promote("m", 2)  # no-op: not a history entry
    reg.promote("m", 3)
    assert reg.rollback("m").version == 2
    assert reg.rollback("m").version == 1
    reg.promote("m", 4)
    assert reg.rollback("m").version == 1
    assert reg.aliases("m") == {"production": 1}
    with pytest.raises(RollbackError) as info:  # it did point elsewhere: say so, and the way back
        reg.rollback("m")
    assert "has pointed only" not in str(info.value)
    assert "already back at version 1" in str(info.value)
    assert "polyclass registry alias m production 4" in str(info.value)
    actions = [(h["action"], h["version"]) for h in reg.alias_history("m", "production")]
    assert actions == [
        ("set", 1), ("set", 2), ("set", 3), ("rollback", 2), ("rollback", 1), ("set", 4),
        ("rollback", 1),
    ]  # fmt: skip
    # aliases are independent
    reg.set_alias("m", "staging", 4)
    assert reg.resolve("m@staging").version == 4
    assert reg.resolve("m@production").version == 1


def test_rollback_to_deleted_version_is_explained(reg: Registry, art: Path) -> None:
    for _ in range(2):
        reg.register("m", art)
    reg.promote("m", 1)
    reg.promote("m", 2)
    reg.delete("m", 1)
    with pytest.raises(RollbackError, match="version 1 was deleted"):
        reg.rollback("m")


def test_alias_errors(reg: Registry, art: Path) -> None:
    reg.register("m", art)
    with pytest.raises(UnknownVersionError):
        reg.set_alias("m", "staging", 5)
    with pytest.raises(UnknownModelError):
        reg.promote("zzz", 1)
    with pytest.raises(InvalidNameError, match="may not be a number"):
        reg.set_alias("m", "2", 1)


# ------------------------------------------------------------------ delete


def test_delete_refuses_aliased_version_unless_forced(reg: Registry, art: Path) -> None:
    first = reg.register("m", art)
    reg.register("m", art)
    reg.promote("m", 1)
    with pytest.raises(AliasInUseError, match=r"m@production.*--force"):
        reg.delete("m", 1)
    assert first.path.is_dir()
    reg.delete("m", 1, force=True)
    assert not first.path.exists()
    assert reg.aliases("m") == {}
    assert [v.version for v in reg.versions("m")] == [2]
    with pytest.raises(UnknownVersionError, match="Its versions: 2"):
        reg.get_version("m", 1)


def test_version_numbers_are_never_reused(reg: Registry, art: Path) -> None:
    reg.register("m", art)
    reg.register("m", art)
    reg.delete("m", 2)
    assert reg.register("m", art).version == 3
    reg.delete("m", 1)
    reg.delete("m", 3)
    (summary,) = reg.list_models()
    assert (summary.latest_version, summary.version_count) == (None, 0)
    with pytest.raises(UnknownVersionError, match="no versions left"):
        reg.resolve("m")
    assert reg.register("m", art).version == 4


def test_list_models(reg: Registry, art: Path) -> None:
    assert reg.list_models() == []
    reg.register("b", art)
    reg.register("a", art)
    reg.register("a", art)
    reg.promote("a", 2)
    models = reg.list_models()
    assert [(m.name, m.latest_version, m.version_count) for m in models] == [
        ("a", 2, 2),
        ("b", 1, 1),
    ]
    assert models[0].aliases == {"production": 2}


def test_verify_detects_edited_store(reg: Registry, art: Path) -> None:
    version = reg.register("m", art)
    manifest = version.path / "model.json"
    document = json.loads(manifest.read_text())
    document["metadata"]["classes"] = ["x", "y"]
    manifest.write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match="differs from the one registered"):
        reg.verify("m:1")


# ------------------------------------------------------------------ export / import


def test_export_import_round_trip(reg: Registry, art: Path, tmp_path: Path) -> None:
    reg.register("m", art, lineage={"metrics": {"f1": 0.8}})
    reg.promote("m", 1)
    archive = reg.export("m@production", tmp_path)
    assert archive == tmp_path / "m-1.tar.gz"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names == ["artifact/coef.npy", "artifact/model.json", "polyclass-export.json"]
    with pytest.raises(ArchiveError, match="already exists"):
        reg.export("m:1", archive)
    with pytest.raises(ArchiveError, match=r"must end in \.tar\.gz"):
        reg.export("m:1", tmp_path / "out.zip")
    with Registry(f"sqlite:///{tmp_path / 'other' / 'r.db'}") as other:
        other.register("m", art)
        imported = other.import_(archive)
        assert imported.version == 2
        assert imported.lineage["metrics"] == {"f1": 0.8}
        assert imported.lineage["imported_from"]["version"] == 1
        assert imported.artifact_sha256 == reg.get_version("m", 1).artifact_sha256
        renamed = other.import_(archive, name="copy")
        assert renamed.ref == "copy:1"
        np.testing.assert_array_equal(
            read_artifact(renamed.path).arrays["coef"], np.arange(6.0).reshape(2, 3)
        )
        assert _staging(other) == []


def _rewrite(archive: Path, dest: Path, edit: dict[str, bytes | None]) -> Path:
    """Copy an archive, replacing (or with None dropping) some members."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name in edit:
                replaced = edit[member.name]
                if replaced is None:
                    continue
                data = replaced
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        for name, data in edit.items():
            if name not in src.getnames() and data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    return dest


def test_import_refuses_altered_archives(reg: Registry, art: Path, tmp_path: Path) -> None:
    reg.register("m", art)
    archive = reg.export("m:1", tmp_path / "m.tar.gz")
    cases = {
        "tampered.tar.gz": ({"artifact/coef.npy": b"\x93NUMPY garbage"}, "has sha256"),
        "extra.tar.gz": ({"../evil.sh": b"rm -rf /"}, "unexpected entry '../evil.sh'"),
        "missing.tar.gz": ({"artifact/coef.npy": None}, r"lacks coef\.npy"),
        "nomanifest.tar.gz": ({"polyclass-export.json": None}, "has no polyclass-export.json"),
    }
    for file_name, (edit, match) in cases.items():
        bad = _rewrite(archive, tmp_path / file_name, edit)
        with pytest.raises(ArchiveError, match=match):
            reg.import_(bad)
    (tmp_path / "plain.tar.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ArchiveError, match="not a readable"):
        reg.import_(tmp_path / "plain.tar.gz")
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(ArchiveError):
        reg.import_(truncated)
    with pytest.raises(ArchiveError, match="No archive"):
        reg.import_(tmp_path / "nope.tar.gz")
    assert [v.version for v in reg.versions("m")] == [1]
    assert _staging(reg) == []


def test_schema_compiles_for_other_databases() -> None:
    """The tables are portable Core: their DDL compiles for PostgreSQL and MySQL too."""
    from sqlalchemy.dialects import mysql, postgresql
    from sqlalchemy.schema import CreateTable

    from polyclass.registry._schema import metadata

    for dialect in (postgresql.dialect(), mysql.dialect()):
        for table in metadata.sorted_tables:
            assert "CREATE TABLE polyclass_" in str(CreateTable(table).compile(dialect=dialect))


def test_model_version_is_plain_data(reg: Registry, art: Path) -> None:
    version = reg.register("m", art)
    assert isinstance(version, ModelVersion)
    assert version.ref == "m:1" and version.registered
    assert "m" in repr(version)


@pytest.mark.parametrize("module", ["_store", "_replicas"])
def test_docstring_examples_run(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYCLASS_REGISTRY", raising=False)
    found = importlib.import_module(f"polyclass.registry.{module}")
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
