"""``registry import`` checks an archive's headers against limits before writing anything.

The hostile archives are built cheaply: a huge member is a header that declares its
size (no data follows), and the member-count attacks use a lowered limit.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from polyclass.artifact import MAX_JSON_DEPTH, save_artifact
from polyclass.registry import ArchiveError, ImportLimits, Registry
from polyclass.registry._cli import registry_app

MANIFEST = "polyclass-export.json"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reg' / 'registry.db'}"


@pytest.fixture
def archive(url: str, tmp_path: Path) -> Path:
    """A genuine export archive of a one-array model."""
    art = save_artifact(tmp_path / "art", {"k": 1}, {"coef": np.arange(6.0)})
    with Registry(url) as registry:
        registry.register("m", art)
        return registry.export("m:1", tmp_path / "m.tar.gz")


def _import(url: str, archive: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        registry_app, ["import", str(archive), "--registry", url, *options], env={"COLUMNS": "300"}
    )
    assert not isinstance(result.exception, BaseException) or isinstance(
        result.exception, SystemExit
    ), result.exception  # a traceback is a failure, whatever the exit code
    return result.exit_code, " ".join(result.output.split())


def _nothing_written(url: str, root: Path) -> None:
    with Registry(url) as registry:
        assert [v.version for v in registry.versions("m")] == [1]
    assert list((root / ".staging").glob("*")) == []


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def _write(dest: Path, members: list[tuple[str, bytes | int]]) -> Path:
    """A .tar.gz of (name, data) members; an int instead of data is a declared size only."""
    with tarfile.open(dest, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if isinstance(data, int):
                info.size = data
                tar.addfile(info)  # the header alone: no data follows it
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return dest


def _manifest(archive: Path, **edit: object) -> dict[str, object]:
    document = json.loads(dict((m.name, d) for m, d in _members(archive))[MANIFEST])
    document.update(edit)
    return document


def test_a_member_declaring_3_gib_is_refused_from_its_header(
    url: str, archive: Path, tmp_path: Path
) -> None:
    files = {m.name: d for m, d in _members(archive)}
    sums = _manifest(archive)["files"]
    assert isinstance(sums, dict)
    sums["huge.npy"] = hashlib.sha256(b"").hexdigest()
    hostile = _write(
        tmp_path / "huge.tar.gz",
        [
            (MANIFEST, json.dumps(_manifest(archive, files=sums)).encode()),
            ("artifact/coef.npy", files["artifact/coef.npy"]),
            ("artifact/huge.npy", 3 << 30),
        ],
    )
    code, out = _import(url, hostile)
    assert code == 2
    assert "over the import limit of 2,147,483,648 bytes" in out and "--max-bytes" in out
    _nothing_written(url, tmp_path / "reg" / "artifacts")


def test_max_bytes_refuses_real_data_and_can_be_raised(
    url: str, archive: Path, tmp_path: Path
) -> None:
    code, out = _import(url, archive, "--max-bytes", "100")
    assert code == 2 and "over the import limit of 100 bytes" in out
    _nothing_written(url, tmp_path / "reg" / "artifacts")
    code, out = _import(url, archive, "--max-bytes", str(1 << 20))
    assert code == 0 and "Imported m:2" in out


def test_too_many_members_stop_at_the_first_excess(url: str, archive: Path, tmp_path: Path) -> None:
    names = [f"e{i}.npy" for i in range(300)]
    empty = hashlib.sha256(b"").hexdigest()
    document = _manifest(archive, files=dict.fromkeys(names, empty))
    hostile = _write(
        tmp_path / "many.tar.gz",
        [(MANIFEST, json.dumps(document).encode())] + [(f"artifact/{n}", b"") for n in names],
    )
    code, out = _import(url, hostile, "--max-files", "50")
    assert code == 2 and "lists 300 files, over the import limit of 50" in out
    assert "--max-files" in out
    _nothing_written(url, tmp_path / "reg" / "artifacts")
    with (
        Registry(url) as registry,
        pytest.raises(ArchiveError, match="over the import limit of 50;"),
    ):
        registry.import_(hostile, limits=ImportLimits(max_files=50))


def test_a_member_listed_twice_is_refused(url: str, archive: Path, tmp_path: Path) -> None:
    members = [(m.name, d) for m, d in _members(archive)]
    twice = _write(tmp_path / "twice.tar.gz", [*members, members[-1]])
    code, out = _import(url, twice)
    assert code == 2 and "unexpected entry" in out and "each once" in out
    _nothing_written(url, tmp_path / "reg" / "artifacts")


def test_unlisted_members_stop_at_the_first(url: str, archive: Path, tmp_path: Path) -> None:
    members = [(m.name, d) for m, d in _members(archive)]
    extra: list[tuple[str, bytes | int]] = [(f"artifact/e{i}.npy", b"") for i in range(300)]
    code, out = _import(url, _write(tmp_path / "extra.tar.gz", members + extra))
    assert code == 2 and "unexpected entry 'artifact/e0.npy'" in out
    _nothing_written(url, tmp_path / "reg" / "artifacts")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", f"more than {MAX_JSON_DEPTH} levels"),
        (b'{"format": "polyclass-registry-export", "x": 1e999}', "overflows"),
        (b'{"format": "polyclass-registry-export", "x": NaN}', "non-finite constant NaN"),
    ],
    ids=["nested", "overflow", "nan"],
)
def test_a_hostile_export_manifest_is_a_clear_error(
    url: str, archive: Path, tmp_path: Path, payload: bytes, expected: str
) -> None:
    members = [(m.name, payload if m.name == MANIFEST else d) for m, d in _members(archive)]
    hostile = _write(tmp_path / "manifest.tar.gz", members)
    code, out = _import(url, hostile)
    assert code == 2 and expected in out
    _nothing_written(url, tmp_path / "reg" / "artifacts")


def test_an_oversized_export_manifest_is_refused_unread(
    url: str, archive: Path, tmp_path: Path
) -> None:
    big = (64 << 20) + 1
    members = [(m.name, big if m.name == MANIFEST else d) for m, d in _members(archive)]
    code, out = _import(url, _write(tmp_path / "big.tar.gz", members))
    assert code == 2 and "over the 67,108,864-byte limit" in out


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        ImportLimits(max_bytes=0)


def test_a_listed_name_that_climbs_out_is_refused(url: str, archive: Path, tmp_path: Path) -> None:
    members = _members(archive)
    sums = _manifest(archive)["files"]
    assert isinstance(sums, dict)
    sums["../escape.npy"] = hashlib.sha256(b"x").hexdigest()
    hostile = _write(
        tmp_path / "escape.tar.gz",
        [(MANIFEST, json.dumps(_manifest(archive, files=sums)).encode())]
        + [(m.name, d) for m, d in members if m.name != MANIFEST]
        + [("artifact/../escape.npy", b"x")],
    )
    code, out = _import(url, hostile)
    assert code == 2 and "no valid 'files' table" in out
    assert not (tmp_path / "reg" / "artifacts" / ".staging" / "escape.npy").exists()
    _nothing_written(url, tmp_path / "reg" / "artifacts")


def test_the_manifest_must_come_first(url: str, archive: Path, tmp_path: Path) -> None:
    members = [(m.name, d) for m, d in _members(archive)]
    code, out = _import(url, _write(tmp_path / "late.tar.gz", members[1:] + members[:1]))
    assert code == 2 and f"has no {MANIFEST} as its first member" in out


def test_export_of_a_deeply_nested_model_json_is_a_clear_error(url: str, tmp_path: Path) -> None:
    art = save_artifact(tmp_path / "art", {"k": 1}, {"coef": np.arange(6.0)})
    with Registry(url) as registry:
        manifest = registry.register("m", art).path / "model.json"
    deep = "[" * 50_000 + "]" * 50_000
    text = manifest.read_text().replace('"metadata": {', f'"metadata": {{"d": {deep}, ', 1)
    manifest.chmod(0o644)
    manifest.write_text(text)
    result = CliRunner().invoke(
        registry_app,
        ["export", "m:1", str(tmp_path / "m.tar.gz"), "--registry", url],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 2, result.exception  # was a RecursionError traceback, exit 1
    assert "nests more than 100 levels deep" in " ".join(result.output.split())
    assert not (tmp_path / "m.tar.gz").exists()
