"""The artifact container: atomic save, verified pickle-free read, fingerprints, golden files."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import polyclass.artifact as artifact_module
from polyclass.artifact import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    ArtifactError,
    fingerprint_table,
    read_artifact,
    save_artifact,
    sha256_file,
    verify_artifact,
)

GOLDEN = Path(__file__).parent / "golden"


def _arrays() -> dict[str, Any]:
    return {
        "coef": np.arange(12, dtype=np.float64).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "labels": np.array(["Adelie", "Gentoo", "Chinstrap"]),
        "flags": np.array([True, False]),
        "when": np.array(["2024-01-01", "2024-06-30"], dtype="datetime64[D]"),
        "raw": np.array([b"ab", b"c"]),
        "scalar": np.float64(2.5),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "big_endian": np.arange(4, dtype=">i8"),
    }


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_artifact(tmp_path / "model", {"classes": ["a", "b"], "C": 1.0}, _arrays())


def test_public_names_sorted_and_complete() -> None:
    # isort-style order, as ruff's RUF022 keeps it: CONSTANTS, Classes, functions
    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert artifact_module.__all__ == sorted(artifact_module.__all__, key=order)
    for name in artifact_module.__all__:
        assert hasattr(artifact_module, name)
    assert not hasattr(artifact_module, "load")  # polyclass.load belongs to the pipeline


def test_round_trip_every_dtype(saved: Path) -> None:
    art = read_artifact(saved)
    assert art.format_version == FORMAT_VERSION
    assert art.metadata == {"classes": ["a", "b"], "C": 1.0}
    assert art.path == saved
    for name, expected in _arrays().items():
        got = art.arrays[name]
        expected = np.asarray(expected)
        assert got.dtype == expected.dtype, name
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected)
    assert art.arrays["fortran"].flags.f_contiguous
    assert art.written_by["polyclass"]
    assert art.created_at.endswith("Z")
    assert "coef[3, 4]" in repr(art)


def test_layout_and_manifest(saved: Path) -> None:
    names = sorted(p.name for p in saved.iterdir())
    assert names == sorted([MANIFEST_NAME, *(f"{k}.npy" for k in _arrays())])
    document = json.loads((saved / MANIFEST_NAME).read_text())
    assert document["format_version"] == 1
    entry = document["arrays"]["coef"]
    assert entry == {
        "file": "coef.npy",
        "dtype": "<f8",
        "shape": [3, 4],
        "sha256": sha256_file(saved / "coef.npy"),
    }
    # files are plain .npy readable by NumPy without pickle
    np.testing.assert_array_equal(
        np.load(saved / "coef.npy", allow_pickle=False), _arrays()["coef"]
    )
    assert not list(saved.parent.glob(".*partial"))


def test_metadata_numpy_scalars_become_json(tmp_path: Path) -> None:
    meta = {"n": np.int64(3), "x": np.float32(0.5), "ok": np.bool_(True), "t": (1, 2)}
    art = read_artifact(save_artifact(tmp_path / "m", meta, {}))
    assert art.metadata == {"n": 3, "x": 0.5, "ok": True, "t": [1, 2]}
    assert art.arrays == {}


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"auc": float("nan")}, r"metadata\['auc'\] is nan.*None"),
        ({"m": {1: "a"}}, "key 1 of type int"),
        ({"w": np.ones(2)}, "arrays go in the `arrays` argument"),
        ({"p": Path("x")}, "PosixPath|WindowsPath"),
    ],
)
def test_metadata_refused(tmp_path: Path, meta: dict[str, Any], match: str) -> None:
    with pytest.raises(ArtifactError, match=match):
        save_artifact(tmp_path / "m", meta, {})
    assert list(tmp_path.iterdir()) == []


def test_object_dtype_refused_with_fix(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"dtype object.*dtype=str"):
        save_artifact(tmp_path / "m", {}, {"labels": np.array(["a", 1], dtype=object)})
    with pytest.raises(ArtifactError, match="structured"):
        save_artifact(tmp_path / "m", {}, {"rec": np.zeros(2, dtype=[("a", "f8")])})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", "", "x y"])
def test_bad_array_names_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArtifactError, match="not allowed"):
        save_artifact(tmp_path / "m", {}, {name: np.ones(1)})


def test_case_collision_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="differ only by case"):
        save_artifact(tmp_path / "m", {}, {"W": np.ones(1), "w": np.ones(1)})


def test_existing_target_needs_overwrite(saved: Path) -> None:
    with pytest.raises(ArtifactError, match="overwrite=True"):
        save_artifact(saved, {"v": 2}, {})
    assert read_artifact(saved).metadata["C"] == 1.0
    save_artifact(saved, {"v": 2}, {"w": np.ones(1)}, overwrite=True)
    art = read_artifact(saved)
    assert art.metadata == {"v": 2}
    assert sorted(art.arrays) == ["w"]
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]


def test_empty_directory_is_fine_but_foreign_directory_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    save_artifact(tmp_path / "empty", {}, {})
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    with pytest.raises(ArtifactError, match="never replaces a directory that is not an artifact"):
        save_artifact(foreign, {}, {}, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtifactError, match="not a directory"):
        save_artifact(tmp_path / "file", {}, {})


def test_interrupted_save_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: the save dies while writing the manifest, after the arrays.
    import polyclass.artifact._write as write_module

    def die(path: Path, data: bytes) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write_module, "_write_bytes", die)
    with pytest.raises(KeyboardInterrupt):
        save_artifact(tmp_path / "m", {}, {"w": np.ones(3)})
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_old(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import polyclass.artifact._write as write_module

    def die(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write_module, "_write_bytes", die)
    with pytest.raises(OSError, match="No space"):
        save_artifact(saved, {"v": 2}, {}, overwrite=True)
    assert read_artifact(saved).metadata["C"] == 1.0
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]


# ------------------------------------------------------------------ refusing damage


def test_tampered_array_refused(saved: Path) -> None:
    data = bytearray((saved / "coef.npy").read_bytes())
    data[-1] ^= 0x01
    (saved / "coef.npy").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"coef\.npy.*sha256.*altered") as info:
        read_artifact(saved)
    assert info.value.path == saved / "coef.npy"
    assert "Restore the artifact" in str(info.value)
    with pytest.raises(ArtifactError, match=r"coef\.npy"):
        verify_artifact(saved)


def test_truncated_array_refused(saved: Path) -> None:
    data = (saved / "coef.npy").read_bytes()
    (saved / "coef.npy").write_bytes(data[:-10])
    with pytest.raises(ArtifactError, match=r"coef\.npy.*truncated"):
        read_artifact(saved)
    (saved / "coef.npy").write_bytes(data[:20])
    with pytest.raises(ArtifactError, match=r"coef\.npy.*header"):
        read_artifact(saved)


def test_swapped_header_refused(saved: Path) -> None:
    # A valid .npy with another shape: the header check catches it before the checksum.
    np.save(saved / "coef.npy", np.zeros((4, 3)))
    with pytest.raises(ArtifactError, match=r"shape \[4, 3\].*records.*shape \[3, 4\]"):
        read_artifact(saved)


def test_missing_and_extra_files_refused(saved: Path) -> None:
    (saved / "notes.txt").write_text("hi")
    with pytest.raises(ArtifactError, match=r"unexpected file notes\.txt"):
        read_artifact(saved)
    (saved / "notes.txt").unlink()
    (saved / "labels.npy").unlink()
    with pytest.raises(ArtifactError, match=r"missing labels\.npy"):
        read_artifact(saved)


def test_manifest_problems_refused(saved: Path) -> None:
    manifest = saved / MANIFEST_NAME
    original = manifest.read_text()
    manifest.write_text(original[: len(original) // 2])
    with pytest.raises(ArtifactError, match=r"model\.json is not valid JSON"):
        read_artifact(saved)
    manifest.unlink()
    with pytest.raises(ArtifactError, match=r"model\.json is missing"):
        read_artifact(saved)
    document = json.loads(original)
    document["arrays"]["coef"]["file"] = "../../etc/passwd"
    manifest.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=r"must name the file coef\.npy"):
        read_artifact(saved)
    document = json.loads(original)
    document["arrays"]["coef"]["dtype"] = "|O"
    manifest.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="plain NumPy dtype"):
        read_artifact(saved)
    manifest.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ArtifactError, match="not a polyclass artifact"):
        read_artifact(saved)


def test_newer_format_version_refused(saved: Path) -> None:
    manifest = saved / MANIFEST_NAME
    document = json.loads(manifest.read_text())
    document["format_version"] = FORMAT_VERSION + 1
    manifest.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=r"newer than this polyclass.*Upgrade polyclass"):
        read_artifact(saved)
    document["format_version"] = "1"
    manifest.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="positive integer"):
        read_artifact(saved)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        read_artifact(tmp_path / "nope")


def test_pickled_npy_never_loaded(saved: Path) -> None:
    # Even with a matching manifest entry, an object array needs pickle and is refused.
    np.save(saved / "labels.npy", np.array(["x", None], dtype=object), allow_pickle=True)
    manifest = saved / MANIFEST_NAME
    document = json.loads(manifest.read_text())
    document["arrays"]["labels"].update(
        dtype="|O", shape=[2], sha256=sha256_file(saved / "labels.npy")
    )
    manifest.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="plain NumPy dtype"):
        read_artifact(saved)


# ------------------------------------------------------------------ golden files


def test_golden_v1_loads() -> None:
    """A committed format-1 artifact must load forever; never regenerate it."""
    art = read_artifact(GOLDEN / "artifact_v1")
    assert art.format_version == 1
    assert art.metadata["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert art.metadata["estimator"] == {
        "type": "LogisticRegression",
        "params": {"C": 1.0, "l1_ratio": None},
    }
    np.testing.assert_array_equal(
        art.arrays["coef"], np.arange(12, dtype=np.float64).reshape(3, 4) / 8
    )
    np.testing.assert_array_equal(art.arrays["intercept"], [-0.5, 0.25, 0.25])
    assert art.arrays["counts"].dtype == np.int64
    assert art.arrays["mask"].tolist() == [True, False, True, True]
    assert art.arrays["columns"].tolist()[-1] == "island"


def test_golden_copy_with_damage_is_refused(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(GOLDEN / "artifact_v1", tmp_path / "g"))
    with open(copy / "intercept.npy", "r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\x00" * 8)
    with pytest.raises(ArtifactError, match=r"intercept\.npy"):
        read_artifact(copy)


# ------------------------------------------------------------------ fingerprints


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.5],
            "n": [1, 2, 3],
            "s": ["a", None, "c"],
            "c": pd.Categorical(["u", "v", "u"]),
            "b": [True, False, True],
        }
    )


def test_fingerprint_is_stable_and_content_based() -> None:
    frame = _frame()
    first = fingerprint_table(frame)
    assert len(first) == 64 and int(first, 16) >= 0
    assert fingerprint_table(frame.copy()) == first
    # same values through other containers and dtypes agree
    assert fingerprint_table({c: frame[c].to_numpy() for c in frame}) == first
    assert fingerprint_table(frame.astype({"s": object, "c": object})) == first
    assert fingerprint_table(frame.set_index(pd.Index([10, 11, 12]))) == first
    # any change of a value, a name, the order of rows or columns changes it
    changed = frame.copy()
    changed.loc[2, "x"] = 3.25
    assert fingerprint_table(changed) != first
    assert fingerprint_table(frame.rename(columns={"x": "y"})) != first
    assert fingerprint_table(frame.iloc[::-1]) != first
    assert fingerprint_table(frame[["n", "x", "s", "c", "b"]]) != first
    assert fingerprint_table(frame.astype({"n": "float64"})) != first


def test_fingerprint_known_value() -> None:
    """The algorithm is part of the lineage format: this value must not drift."""
    table = {"x": np.array([1.0, 2.0]), "label": np.array(["a", "b"])}
    assert fingerprint_table(table) == fingerprint_table(
        pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})
    )
    assert fingerprint_table(table) == KNOWN_FINGERPRINT


KNOWN_FINGERPRINT = "162bd3d9f305c48697263cd72ea746fa2f319029714c220e9b2ee5660811bc5e"


def test_fingerprint_arrays_and_nan_payloads() -> None:
    x = np.arange(6.0).reshape(3, 2)
    assert fingerprint_table(x) == fingerprint_table(pd.DataFrame(x))
    a = np.array([np.nan, 1.0])
    b = a.copy()
    b.view(np.uint64)[0] |= 1  # another NaN bit pattern
    assert fingerprint_table({"a": a}) == fingerprint_table({"a": b})


def test_fingerprint_bad_input() -> None:
    with pytest.raises(ArtifactError, match="different lengths"):
        fingerprint_table({"a": [1, 2], "b": [1]})
    with pytest.raises(ArtifactError, match="expected a pandas DataFrame"):
        fingerprint_table([1, 2, 3])
    with pytest.raises(ArtifactError, match="2 dimensions"):
        fingerprint_table({"a": np.ones((2, 2))})


@pytest.mark.parametrize(
    "module",
    [
        "polyclass.artifact._checksum",
        "polyclass.artifact._fingerprint",
        "polyclass.artifact._json",
        "polyclass.artifact._read",
        "polyclass.artifact._write",
        "polyclass.registry._refs",
        "polyclass.registry._store",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
