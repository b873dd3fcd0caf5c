"""Crafted artifacts against the real reader, ``polyclass.load`` and ``polyclass serve``.

Anything that could hang (a FIFO) or exhaust memory (``/dev/zero``) runs in a child
process with a timeout and a memory cap, so a regression fails the test instead of
stalling or swapping the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import polyclass
from polyclass.artifact import (
    MANIFEST_NAME,
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    ArtifactError,
    read_artifact,
    save_artifact,
    verify_artifact,
)
from polyclass.cli import app
from polyclass.model import read_model_artifact

GOLDEN_MODEL = Path(__file__).parent / "golden" / "model_v1"
PASSWD = Path("/etc/passwd")
# generous: each child starts Python, NumPy and (for serve) the web stack, then must fail
TIMEOUT = 120


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_artifact(tmp_path / "art", {"k": 1}, {"coef": np.arange(6.0), "b": np.ones(2)})


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return Path(shutil.copytree(GOLDEN_MODEL, tmp_path / "model"))


def _edit_manifest(directory: Path, edit: dict[str, object]) -> None:
    document = json.loads((directory / MANIFEST_NAME).read_text())
    document["metadata"].update(edit)
    (directory / MANIFEST_NAME).write_text(json.dumps(document))


# the child caps its own address space first (preexec_fn is unsafe in a threaded parent)
_CAP = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args...`` with a timeout and a 4 GiB address-space cap."""
    return subprocess.run(
        [sys.executable, "-c", _CAP + code, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "COLUMNS": "300"},
    )


def _load_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys, polyclass\n"
        "from polyclass.artifact import ArtifactError\n"
        "try:\n    polyclass.load(sys.argv[1])\n"
        "except ArtifactError as exc:\n    print(exc); sys.exit(3)\n"
    )
    return _child(code, str(path))


def _serve_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = "import runpy\nrunpy.run_module('polyclass.cli', run_name='__main__')\n"
    return _child(code, "serve", str(path), "--port", str(port))


# ----------------------------------------------------------------- links and special files


def test_a_symlinked_npy_pointing_outside_is_refused(saved: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.npy"
    (saved / "coef.npy").rename(outside)
    (saved / "coef.npy").symlink_to(outside)  # same bytes, same sha256: only the link is wrong
    for reader in (read_artifact, verify_artifact):
        with pytest.raises(ArtifactError, match=r"coef\.npy is a symbolic link"):
            reader(saved)


def test_passwd_never_shows_in_an_error(saved: Path) -> None:
    secret = PASSWD.read_bytes()[:6].decode()
    (saved / "coef.npy").unlink()
    (saved / "coef.npy").symlink_to(PASSWD)
    with pytest.raises(ArtifactError) as linked:
        read_artifact(saved)
    assert "symbolic link" in str(linked.value) and secret not in str(linked.value)
    (saved / "coef.npy").unlink()
    shutil.copyfile(PASSWD, saved / "coef.npy")  # a regular file holding the same bytes
    with pytest.raises(ArtifactError) as copied:
        read_artifact(saved)
    assert "valid .npy header" in str(copied.value) and secret not in str(copied.value)


def test_a_symlinked_model_json_is_refused(saved: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    (saved / MANIFEST_NAME).rename(real)
    (saved / MANIFEST_NAME).symlink_to(real)
    with pytest.raises(ArtifactError, match=r"model\.json is a symbolic link"):
        read_artifact(saved)


def test_model_json_linked_to_dev_zero_fails_at_once(model: Path) -> None:
    (model / MANIFEST_NAME).unlink()
    (model / MANIFEST_NAME).symlink_to("/dev/zero")
    result = _load_in_child(model)
    assert result.returncode == 3, result.stderr
    assert "model.json is a symbolic link" in result.stdout


def test_an_oversized_model_json_is_refused_unread(saved: Path) -> None:
    with open(saved / MANIFEST_NAME, "r+b") as handle:
        handle.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: nothing is really written
    with pytest.raises(ArtifactError, match="over the 67,108,864-byte limit"):
        read_artifact(saved)


@pytest.mark.parametrize("victim", ["est.coef.npy", MANIFEST_NAME])
def test_a_fifo_fails_load_and_serve_fast(model: Path, victim: str) -> None:
    (model / victim).unlink()
    os.mkfifo(model / victim)
    loaded = _load_in_child(model)
    assert loaded.returncode == 3, loaded.stderr
    assert f"{victim} is a FIFO" in loaded.stdout
    served = _serve_in_child(model)
    assert served.returncode == 2, served.stderr
    assert "is a FIFO" in " ".join(served.stderr.split())


def test_a_directory_in_place_of_an_array_is_refused(saved: Path) -> None:
    (saved / "coef.npy").unlink()
    (saved / "coef.npy").mkdir()
    with pytest.raises(ArtifactError, match=r"coef\.npy is a directory"):
        read_artifact(saved)


# ----------------------------------------------------------------- shapes and bounds


def test_an_absurd_shape_is_refused_before_allocating(saved: Path) -> None:
    """Manifest and .npy header agree on [2**40] float64 (8 TiB) over 48 real bytes."""
    path = saved / "coef.npy"
    data = path.read_bytes()
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**40,)}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(data[-48:])
    document = json.loads((saved / MANIFEST_NAME).read_text())
    document["arrays"]["coef"]["shape"] = [2**40]
    document["arrays"]["coef"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (saved / MANIFEST_NAME).write_text(json.dumps(document))
    with pytest.raises(
        ArtifactError, match=r"needs 8,796,093,022,208 bytes of data, the file holds 48"
    ):
        read_artifact(saved)


def test_zero_size_items_cannot_claim_a_huge_count(saved: Path) -> None:
    document = json.loads((saved / MANIFEST_NAME).read_text())
    document["arrays"]["coef"].update(dtype="|V0", shape=[2**60])
    (saved / MANIFEST_NAME).write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="items have no size"):
        read_artifact(saved)


# ----------------------------------------------------------------- JSON nesting, finiteness


def _nest(directory: Path, depth: int) -> None:
    manifest = directory / MANIFEST_NAME
    text = manifest.read_text()
    deep = "[" * depth + "]" * depth
    manifest.write_text(text.replace('"metadata": {', f'"metadata": {{"deep": {deep}, ', 1))


def test_deeply_nested_model_json_is_a_clear_error(saved: Path) -> None:
    _nest(saved, 100_000)
    with pytest.raises(ArtifactError, match=f"nests more than {MAX_JSON_DEPTH} levels deep"):
        read_artifact(saved)


def test_nesting_at_the_limit_still_loads(saved: Path) -> None:
    _nest(saved, MAX_JSON_DEPTH - 2)  # the manifest object and "metadata" are two levels
    assert read_artifact(saved).metadata["k"] == 1


def test_nesting_one_past_the_limit_is_refused(saved: Path) -> None:
    _nest(saved, MAX_JSON_DEPTH - 1)  # parses without trouble, then is measured
    with pytest.raises(ArtifactError, match=f"nests more than {MAX_JSON_DEPTH} levels deep"):
        read_artifact(saved)


def test_brackets_inside_strings_do_not_count(saved: Path) -> None:
    _edit_manifest(saved, {"text": '[[[{{{"\\"' * 1000})
    assert read_artifact(saved).metadata["text"].startswith("[[[{{{")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_reports_a_nested_model_json_with_exit_2(model: Path, command: str) -> None:
    _nest(model, 100_000)
    args = [command, str(model), str(model / "none.csv")] + (
        ["--output", str(model / "out.csv")] if command == "predict" else []
    )
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.exception
    assert "nests more than 100 levels deep" in " ".join(result.output.split())


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_non_finite_metadata_is_refused(saved: Path, number: str) -> None:
    manifest = saved / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace('"k": 1', f'"k": {number}'))
    with pytest.raises(ArtifactError, match=r"is not valid JSON.*(overflows|non-finite)"):
        read_artifact(saved)


# ----------------------------------------------------------------- one validation


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"format": "polyclass.linear.multiclass-v9"}, "format 'polyclass.linear.multiclass-v9'"),
        ({"version": 2}, "version 2"),
        ({"strategy": "ovr"}, "strategy 'ovr', expected 'ovo'"),
    ],
)
def test_load_and_serve_refuse_an_unknown_estimator_state_alike(
    model: Path, edit: dict[str, object], expected: str
) -> None:
    document = json.loads((model / MANIFEST_NAME).read_text())
    document["metadata"]["estimator"]["state"].update(edit)
    (model / MANIFEST_NAME).write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=expected) as loaded:
        polyclass.load(model)
    with pytest.raises(ArtifactError) as checked:
        read_model_artifact(model)
    assert str(checked.value) == str(loaded.value)
    served = _serve_in_child(model)  # before the fix this server started and kept running
    assert served.returncode == 2, served.stderr
    assert expected in " ".join(served.stderr.split())


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"kind": "polyclass.reference"}, "'polyclass.reference' artifact"),
        ({"model_version": "1"}, "model_version is '1'"),
        ({"model_version": 2}, "newer polyclass"),
        ({"estimator": {"type": "Perceptron", "state": {}}}, "'Perceptron' is not one"),
        ({"schema": None}, "'schema' is missing"),
        ({"decision": {"kind": "vote"}}, "decision kind 'vote'"),
        ({"decision": {"kind": "threshold", "threshold": "0.5"}}, "threshold is '0.5'"),
        ({"decision": {"kind": "cost", "cost_matrix": [[0, 1], [1, 0]]}}, "not 3 x 3"),
    ],
)
def test_model_metadata_problems_are_refused_by_the_one_check(
    model: Path, edit: dict[str, object], expected: str
) -> None:
    _edit_manifest(model, edit)
    with pytest.raises(ArtifactError, match=f"not a model this polyclass can use: .*{expected}"):
        polyclass.load(model)


def _state(edit: dict[str, object]) -> object:
    return lambda meta: meta["estimator"]["state"].update(edit)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda meta: meta.update(schema={}), "its schema cannot be read"),
        (_state({"n_features_in": "x"}), "n_features_in='x'"),
        (lambda meta: meta["estimator"]["state"].pop("estimator_params"), "'estimator_params'"),
        (_state({"n_features_in": 13}), "needs coef of shape (13, 3)"),
        (_state({"feature_names_in": ["a"]}), "feature_names_in is not 14 names"),
        (lambda meta: meta["preprocessor"].update(feature_names_out=["a"]), "feature_names_out"),
    ],
    ids=["schema", "n_features", "params", "coef_shape", "names_in", "names_out"],
)
def test_load_and_load_served_agree_on_malformed_models(
    model: Path, edit: Callable[[dict[str, Any]], object], expected: str
) -> None:
    """Each of these used to load on one side only (or end in a KeyError traceback)."""
    from polyclass.serve import load_served

    document = json.loads((model / MANIFEST_NAME).read_text())
    edit(document["metadata"])
    (model / MANIFEST_NAME).write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=re.escape(expected)) as loaded:
        polyclass.load(model)
    with pytest.raises(ArtifactError) as served:
        load_served(model)
    assert str(served.value) == str(loaded.value)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_non_finite_coefficient_is_refused_by_load_and_serve(
    tmp_path: Path, value: float
) -> None:
    """It used to load and answer a confident label with NaN probabilities."""
    from polyclass.serve import load_served

    golden = read_artifact(GOLDEN_MODEL)
    arrays = dict(golden.arrays)
    arrays["est.coef"] = arrays["est.coef"].copy()
    arrays["est.coef"][0, 0] = value
    damaged = save_artifact(tmp_path / "damaged", golden.metadata, arrays)
    expected = "coef array holds values that are not finite floats"
    with pytest.raises(ArtifactError, match=expected) as loaded:
        polyclass.load(damaged)
    with pytest.raises(ArtifactError) as served:
        load_served(damaged)
    assert str(served.value) == str(loaded.value)


def test_the_golden_model_passes_the_one_check() -> None:
    assert read_model_artifact(GOLDEN_MODEL).metadata["kind"] == "polyclass.model"


def test_saving_refuses_what_reading_would_refuse(tmp_path: Path) -> None:
    deep = _nested(MAX_JSON_DEPTH - 3)  # with the manifest and metadata: exactly the limit
    assert read_artifact(save_artifact(tmp_path / "ok", {"d": deep}, {})).metadata["d"] == deep
    with pytest.raises(ArtifactError, match="nests deeper than 100 levels"):
        save_artifact(tmp_path / "deep", {"d": [deep]}, {})
    with pytest.raises(ArtifactError, match="nests deeper than 100 levels"):
        save_artifact(tmp_path / "deeper", {"d": _nested(100_000)}, {})


def _nested(wraps: int) -> list[object]:
    """An empty list inside ``wraps`` more lists."""
    value: list[object] = []
    for _ in range(wraps):
        value = [value]
    return value
