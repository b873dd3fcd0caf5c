"""``polyclass registry ...`` through Typer's CliRunner on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import polyclass.registry._cli as cli_module
from polyclass.artifact import save_artifact
from polyclass.registry import Registry
from polyclass.registry._cli import registry_app

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich fixes a console's width when it is made: another test may have imported the
    # CLI under an 80-column environment, which would fold the tables' URLs.
    monkeypatch.setattr(cli_module, "console", Console(width=200))


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"


@pytest.fixture
def populated(url: str, tmp_path: Path) -> str:
    art = save_artifact(tmp_path / "art", {}, {"w": np.ones(3)})
    with Registry(url) as registry:
        for metric in (0.8, 0.9):
            registry.register(
                "penguins",
                art,
                lineage={"data_fingerprint": "ab" * 32, "metrics": {"macro_f1": metric}},
            )
        registry.register("wine", art)
    return url


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(registry_app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_list_and_versions(populated: str) -> None:
    code, out, _ = run("list", "--registry", populated)
    assert code == 0
    assert "penguins" in out and "wine" in out
    code, out, _ = run("versions", "penguins", "--registry", populated)
    assert code == 0
    assert "macro_f1=0.8" in out and "macro_f1=0.9" in out
    assert "abababababab" in out


def test_empty_registry(url: str) -> None:
    code, out, _ = run("list", "--registry", url)
    assert code == 0 and "No models registered" in out


def test_promote_show_rollback(populated: str) -> None:
    code, out, _ = run("promote", "penguins", "1", "--registry", populated)
    assert code == 0 and "penguins@production → version 1" in out
    run("promote", "penguins", "2", "--registry", populated)
    code, out, _ = run("show", "penguins@production", "--registry", populated, "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["version"] == 2 and shown["aliases"] == ["production"]
    assert shown["lineage"]["metrics"] == {"macro_f1": 0.9}
    code, out, _ = run("show", "penguins:2", "--registry", populated)
    assert code == 0 and "production" in out and "macro_f1=0.9" in out
    code, out, _ = run("rollback", "penguins", "--registry", populated)
    assert code == 0 and "version 1" in out
    code, out, _ = run("alias", "penguins", "staging", "2", "--registry", populated)
    assert code == 0 and "penguins@staging → version 2" in out
    code, out, _ = run("promote", "penguins", "2", "--alias", "canary", "--registry", populated)
    assert code == 0 and "penguins@canary" in out


def test_errors_go_to_stderr_with_exit_code_2(populated: str) -> None:
    code, out, err = run("show", "nope", "--registry", populated)
    assert code == 2
    assert out == ""
    assert "No model named 'nope'" in err and "penguins" in err
    code, _, err = run("show", "penguins:9", "--registry", populated)
    assert code == 2 and "Its versions: 1, 2" in err
    code, _, err = run("rollback", "penguins", "--registry", populated)
    assert code == 2 and "no alias 'production'" in err
    code, _, err = run("alias", "penguins", "bad name", "1", "--registry", populated)
    assert code == 2 and "Invalid alias" in err


def test_delete(populated: str) -> None:
    run("promote", "penguins", "1", "--registry", populated)
    code, _, err = run("delete", "penguins", "--registry", populated)
    assert code == 2 and "explicit version" in err
    code, _, err = run("delete", "penguins:1", "--registry", populated)
    assert code == 2 and "--force" in err
    code, out, _ = run("delete", "penguins@production", "--force", "--registry", populated)
    assert code == 0 and "Deleted penguins:1" in out
    code, out, _ = run("delete", "penguins:2", "--registry", populated)
    assert code == 0
    with Registry(populated) as registry:
        assert registry.versions("penguins") == []


def test_export_import(populated: str, tmp_path: Path) -> None:
    archive = tmp_path / "p.tar.gz"
    code, out, _ = run("export", "penguins:2", str(archive), "--registry", populated)
    assert code == 0 and archive.is_file()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, out, _ = run("import", str(archive), "--registry", other)
    assert code == 0 and "Imported penguins:1" in out
    code, out, _ = run("import", str(archive), "--name", "copy", "--registry", other)
    assert code == 0 and "Imported copy:1" in out
    code, _, err = run("export", "penguins:2", str(archive), "--registry", populated)
    assert code == 2 and "already exists" in err
    code, out, _ = run("export", "penguins:2", str(archive), "--overwrite", "--registry", populated)
    assert code == 0
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    code, _, err = run("import", str(tmp_path / "junk.tar.gz"), "--registry", other)
    assert code == 2 and "not a readable" in err


def test_registry_from_environment(
    populated: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = runner.invoke(registry_app, ["list"], env={"POLYCLASS_REGISTRY": populated})
    assert result.exit_code == 0 and "penguins" in result.stdout
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYCLASS_REGISTRY", raising=False)
    result = runner.invoke(registry_app, ["list"])
    assert result.exit_code == 0 and "No models registered" in result.stdout
    assert (tmp_path / ".polyclass" / "registry.db").is_file()


def test_wired_into_the_main_cli(populated: str) -> None:
    from polyclass.cli import app

    result = runner.invoke(app, ["registry", "list", "--registry", populated])
    assert result.exit_code == 0, result.output
    assert "penguins" in result.stdout


def test_second_rollback_after_one_two_says_what_happened(populated: str) -> None:
    for version in ("1", "2"):
        run("promote", "penguins", version, "--registry", populated)
    code, out, _ = run("rollback", "penguins", "--registry", populated)
    assert code == 0 and "penguins@production → version 1" in out
    code, out, err = run("rollback", "penguins", "--registry", populated)
    assert code == 2 and out == ""
    message = " ".join(err.split())
    assert "already back at version 1" in message and "pointed only" not in message
    assert "polyclass registry alias penguins production 2" in message


def test_help_shows_defaults(url: str) -> None:
    result = runner.invoke(registry_app, ["list", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "directory of the registry ." not in text
    assert "[default: (./.polyclass)]" in text
    assert "[default: (artifacts/ beside a SQLite file)]" in text


def test_show_lists_replicas_and_residency(populated: str) -> None:
    with Registry(populated) as registry:
        registry.set_residencies("penguins", ["eu"])
        registry.record_replica(
            "penguins",
            2,
            url="s3://models/team",
            cloud="aws",
            region="eu-west-1",
            residency="eu",
            status="ok",
            verified_at="2026-12-07T13:00:00Z",
        )
    code, out, _ = run("show", "penguins:2", "--registry", populated)
    assert code == 0
    assert "Replicas" in out and "s3://models/team" in out and "eu-west-1" in out
    assert "2026-12-07T13:00:00" in out and "residencies" in out
    code, out, _ = run("show", "penguins:1", "--registry", populated)
    assert code == 0 and "No replicas recorded" in out
    code, out, _ = run("show", "penguins:2", "--json", "--registry", populated)
    shown = json.loads(out)
    assert shown["residencies"] == ["eu"]
    assert shown["replicas"] == [
        {
            "name": "penguins",
            "version": 2,
            "url": "s3://models/team",
            "cloud": "aws",
            "region": "eu-west-1",
            "residency": "eu",
            "status": "ok",
            "verified_at": "2026-12-07T13:00:00.000000Z",
            "recorded_at": shown["replicas"][0]["recorded_at"],
        }
    ]


def test_list_and_versions_as_json(populated: str) -> None:
    code, out, _ = run("list", "--json", "--registry", populated)
    assert code == 0
    assert [(m["name"], m["latest_version"], m["version_count"]) for m in json.loads(out)] == [
        ("penguins", 2, 2),
        ("wine", 1, 1),
    ]
    code, out, _ = run("versions", "penguins", "--json", "--registry", populated)
    assert code == 0
    listed = json.loads(out)
    assert [v["version"] for v in listed] == [1, 2]
    assert listed[1]["lineage"]["metrics"] == {"macro_f1": 0.9}


def test_backup_and_restore_through_a_store(populated: str, tmp_path: Path) -> None:
    with Registry(populated) as registry:
        registry.promote("penguins", 1)
        registry.promote("penguins", 2)
        registry.record_replica("penguins", 2, url="s3://models/team", cloud="aws", status="ok")
        before = (registry.versions("penguins"), registry.alias_history("penguins"))
        root = registry.root
    url = f"file://{tmp_path / 'backups' / 'registry.json'}"
    code, out, err = run("backup", url, "--registry", populated)
    assert code == 0, err
    assert "2 models, 3 versions and 1 replicas" in " ".join(out.split())
    code, _, err = run("backup", url, "--registry", populated)
    assert code == 2 and "--overwrite" in err
    assert run("backup", url, "--overwrite", "--registry", populated)[0] == 0
    code, _, err = run("restore", url, "--registry", populated)  # not empty: refused
    assert code == 2 and "already holds models" in " ".join(err.split())
    Path(populated.removeprefix("sqlite:///")).unlink()  # the disaster
    fresh = f"sqlite:///{tmp_path / 'new' / 'registry.db'}"
    code, out, err = run("restore", url, "--registry", fresh, "--root", str(root))
    assert code == 0, err
    assert "Restored 2 models, 3 versions" in " ".join(out.split())
    with Registry(fresh, root=root) as restored:
        assert (restored.versions("penguins"), restored.alias_history("penguins")) == before
        assert restored.resolve("penguins@production").version == 2
    code, out, _ = run("restore", url, "--registry", f"sqlite:///{tmp_path / 'x' / 'r.db'}")
    assert code == 0 and "no artifact files" in out and "penguins:1" in out


def test_backup_and_restore_errors(populated: str, tmp_path: Path) -> None:
    code, _, err = run("restore", f"file://{tmp_path / 'none.json'}", "--registry", populated)
    assert code == 2 and "No object at" in err
    (tmp_path / "bad.json").write_text("{not json")
    empty = f"sqlite:///{tmp_path / 'e' / 'r.db'}"
    code, _, err = run("restore", f"file://{tmp_path / 'bad.json'}", "--registry", empty)
    assert code == 2 and "not a JSON backup document" in err
    (tmp_path / "other.json").write_text('{"a": 1}')
    code, _, err = run("restore", f"file://{tmp_path / 'other.json'}", "--registry", empty)
    assert code == 2 and "not a polyclass-registry-backup" in " ".join(err.split())
    code, _, err = run("backup", "ftp://host/x.json", "--registry", populated)
    assert code == 2 and "ftp" in err


def test_residency_command(populated: str) -> None:
    code, out, _ = run("residency", "penguins", "--registry", populated)
    assert code == 0 and "penguins residencies: any (unrestricted)" in out
    code, out, _ = run("residency", "penguins", "EU", "ch", "--registry", populated)
    assert code == 0 and "penguins residencies: ch, eu" in out
    with Registry(populated) as registry:
        assert registry.residencies("penguins") == ["ch", "eu"]
    code, _, err = run("residency", "penguins", "e u", "--registry", populated)
    assert code == 2 and "residency tag" in err
    code, _, err = run("residency", "penguins", "eu", "--any", "--registry", populated)
    assert code == 2 and "not both" in err
    code, out, _ = run("residency", "penguins", "--any", "--registry", populated)
    assert code == 0 and "any (unrestricted)" in out
    code, _, err = run("residency", "nope", "--registry", populated)
    assert code == 2 and "No model named 'nope'" in err
