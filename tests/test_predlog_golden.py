"""A committed prediction log must still read the same: a Parquet segment written before
compaction existed (cb72f1e, Parquet streamed by the writer), a closed Arrow segment not
yet compacted and a feedback one (eb5b6e6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from polyclass.predlog import LogData, read_log
from polyclass.predlog._compact import compact_folder

GOLDEN = Path(__file__).parent / "golden" / "predlog_v1"
T0 = 1796671828086798  # the first row's time, µs since the epoch


def _read(folder: Path) -> LogData:
    return read_log(folder, classes=["a", "b", "c"], features=["x1", "s", "x2", "flag"])


def _check(data: LogData) -> None:
    assert not data.problems and data.n_segments == 2 and data.n_feedback_segments == 1
    assert data.request_id.to_pylist() == ["ar-0", "ar-0", "ar-1", "pq-0", "pq-0", "pq-1"]
    assert data.row.tolist() == [0, 1, 0, 0, 1, 0]
    assert (data.ts - T0).tolist() == [0, 0, 62, 39195102, 39195102, 39195159]
    assert data.model_version.tolist() == [3] * 6
    assert data.prediction.to_pylist() == ["a", "c", "b"] * 2
    assert data.proba is not None
    np.testing.assert_array_equal(
        data.proba, [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]] * 2
    )
    inputs = {name: column.to_pylist() for name, column in data.inputs.items()}
    assert inputs == {
        "x1": [1.5, -2.0, 0.0] * 2,
        "s": ["p", None, "ü"] * 2,
        "x2": [None, None, 7.25] * 2,  # NaN and inf were logged as missing
        "flag": [True, None, False] * 2,
    }
    assert data.fb_request_id.to_pylist() == ["pq-0", "ar-1"]
    assert data.fb_row.tolist() == [-1, 0] and data.fb_label.to_pylist() == ["a", "c"]


def test_a_committed_log_reads_as_it_did(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    shutil.copytree(GOLDEN, folder)
    _check(_read(folder))


def test_compacting_a_committed_log_changes_nothing_it_reads(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    shutil.copytree(GOLDEN, folder)
    for kind in ("predictions", "feedback"):
        assert compact_folder(folder / kind)
    assert not list(folder.rglob("*.arrows")) and len(list(folder.rglob("*.parquet"))) == 3
    _check(_read(folder))
