"""The prediction log's writer on its own: segment contents, row groups, memory, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polyclass.predlog import FeedbackLog, PredictionLog, _journal
from polyclass.predlog import _segmentlog as _predlog

KEY = (
    "m",
    ("a", "b", "c"),
    ("x1", "x2"),
    (("s", "categorical"), ("flag", "boolean"), ("yr", "categorical")),
    ("x1", "s", "x2", "flag", "yr"),
)


def _payloads(
    seed: int = 0, sizes: tuple[int, ...] = (1, 3, 1, 5, 2, 1, 4)
) -> list[tuple[Any, ...]]:
    """Requests of 1 to 5 rows with NaN/inf numbers, None, unicode and unseen values."""
    rng = np.random.default_rng(seed)
    out = []
    for r, n in enumerate(sizes):
        numeric = rng.normal(size=(n, 2))
        numeric[rng.random((n, 2)) < 0.2] = np.nan
        if n == 3:
            numeric[0, 1] = np.inf
        categorical = [
            [["p", "q", None, "ü"][i] for i in rng.integers(0, 4, n)],
            [[True, False, None][i] for i in rng.integers(0, 3, n)],
            [[2008, 2009, None][i] for i in rng.integers(0, 3, n)],
        ]
        proba = rng.random((n, 3))
        out.append(
            (
                f"req-{r}",
                7 if r % 2 else -1,
                proba.argmax(axis=1).astype(np.intp),
                proba,
                numeric,
                categorical,
            )
        )
    return out


def _expected(payloads: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """The contract's columns, built row by row from plain Python values."""
    cols: dict[str, list[Any]] = {
        name: []
        for name in (
            "request_id",
            "row",
            "model_name",
            "model_version",
            "prediction",
            "proba",
            "in.x1",
            "in.s",
            "in.x2",
            "in.flag",
            "in.yr",
        )
    }
    for rid, version, index, proba, numeric, (s, flag, yr) in payloads:
        for i in range(len(index)):
            cols["request_id"].append(rid)
            cols["row"].append(i)
            cols["model_name"].append("m")
            cols["model_version"].append(version)
            cols["prediction"].append("abc"[index[i]])
            cols["proba"].append(proba[i].tolist())
            for j, name in enumerate(("in.x1", "in.x2")):
                v = float(numeric[i, j])
                cols[name].append(v if np.isfinite(v) else None)
            cols["in.s"].append(s[i])
            cols["in.flag"].append(flag[i])
            cols["in.yr"].append(None if yr[i] is None else str(yr[i]))
    return cols


def _segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def test_segment_holds_the_contract_columns_in_several_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_predlog, "CHUNK_BYTES", 1500)  # a few requests per batch
    monkeypatch.setattr(_journal, "GROUP_BYTES", 1500)  # and per row group
    payloads = _payloads()
    log = PredictionLog(tmp_path)
    for rid, version, index, proba, numeric, categorical in payloads:
        log.record(rid, version, KEY, index, proba, numeric, categorical)
    log.close()
    [segment] = _segments(tmp_path / "predictions")
    assert pq.ParquetFile(segment).num_row_groups > 1
    table = pq.read_table(segment)
    assert table.column_names == [
        "request_id",
        "row",
        "ts",
        "model_name",
        "model_version",
        "prediction",
        "proba",
        "in.x1",
        "in.s",
        "in.x2",
        "in.flag",
        "in.yr",
    ]
    types = {f.name: str(f.type) for f in table.schema}
    assert types["row"] == "int32" and types["ts"] == "timestamp[us, tz=UTC]"
    assert types["model_version"] == "int64" and types["in.flag"] == "bool"
    assert types["in.s"] == types["prediction"] == types["request_id"] == "string"
    assert types["proba"].startswith("list<") and types["in.x1"] == "double"
    assert table.schema.metadata[b"polyclass_log_version"] == b"1"
    assert json.loads(table.schema.metadata[b"classes"]) == ["a", "b", "c"]
    for name, values in _expected(payloads).items():
        assert table[name].to_pylist() == values, name
    assert not list(tmp_path.rglob(".part-*"))


def test_feedback_segment(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path)
    log.record([("r1", -1, "a"), ("r2", 3, "b")])
    log.record([("r3", 0, "ü"), ("r4", 1, "a")])
    log.close()
    [segment] = _segments(tmp_path / "feedback")
    table = pq.read_table(segment)
    assert table["request_id"].to_pylist() == ["r1", "r2", "r3", "r4"]
    assert table["row"].to_pylist() == [-1, 3, 0, 1]
    assert table["label"].to_pylist() == ["a", "b", "ü", "a"]
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert table.schema.metadata[b"polyclass_log_version"] == b"1"


def test_writing_a_segment_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow.array() imports pandas (tens of MB per server); the writer never calls it."""
    script = f"""
import sys, numpy as np
from polyclass.predlog import FeedbackLog, PredictionLog
key = {KEY!r}
log = PredictionLog({str(tmp_path)!r}, system_allocator=True)
log.record("r", 1, key, np.array([0, 2]), np.full((2, 3), 1 / 3), np.ones((2, 2)),
           [["p", None], [True, None], [2008, None]])
log.close()
fb = FeedbackLog({str(tmp_path)!r})
fb.record([("r", -1, "a")])
fb.close()
print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert len(sorted(tmp_path.rglob("part-*.parquet"))) == 2


def test_a_failing_writer_keeps_rows_and_does_not_stall_requests(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, rotate_bytes=1, rotate_seconds=3600)
    folder = tmp_path / "predictions"
    folder.rmdir()
    folder.write_text("not a folder")  # every write now fails
    payloads = _payloads()
    for rid, version, index, proba, numeric, categorical in payloads:
        log.record(rid, version, KEY, index, proba, numeric, categorical)
    log.flush()
    with log._write_lock:  # not while the writer thread has taken the rows for a retry
        assert log.errors >= 1 and log.pending_rows == 17 and log.backlogged
    anyio.run(log.await_room, 0.05)  # gives up waiting: the server keeps answering
    folder.unlink()
    folder.mkdir()
    log.flush()
    assert not log.backlogged and log.pending_rows == 0
    log.close()
    table = pa.concat_tables([pq.read_table(p) for p in _segments(folder)])
    assert table["request_id"].to_pylist() == _expected(payloads)["request_id"]


def test_an_outage_is_counted_reported_once_and_burns_no_segment_number(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every failed write is counted as it happens; stderr says when the outage starts
    and when it ends, once each; the log is ``full`` (the server refuses rows) while it
    fails at its memory bound; failed attempts leave no hole in the segment numbers."""
    log = PredictionLog(tmp_path, rotate_bytes=1, rotate_seconds=3600)
    counted: list[int] = []
    log.on_error = counted.append
    _record_all(log, _payloads(), "ok-")
    log.flush()  # segment 1, written
    folder = tmp_path / "predictions"
    aside = tmp_path / "aside"
    folder.rename(aside)
    folder.write_text("not a folder")  # every write now fails
    _record_all(log, _payloads(), "held-")
    for _ in range(3):
        log.flush()
    with log._write_lock:  # not while the writer thread has taken the rows for a retry
        assert log.errors >= 3 and counted == list(range(1, log.errors + 1))
        assert log.failure == f"Not a directory at {folder}" and log.full
    folder.unlink()
    aside.rename(folder)
    log.flush()
    assert log.failure is None and not log.full and log.pending_rows == 0
    log.close()
    err = capfd.readouterr().err
    assert err.count("cannot write the prediction log") == 1, err
    assert err.count("is written again after") == 1, err
    numbers = sorted(int(p.stem.rsplit("-", 1)[1]) for p in _segments(folder))
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 2
    table = pa.concat_tables([pq.read_table(p) for p in _segments(folder)])
    ids = _expected(_payloads())["request_id"]
    assert sorted(table["request_id"].to_pylist()) == sorted(
        [f"ok-{i}" for i in ids] + [f"held-{i}" for i in ids]
    )


def _record_all(log: PredictionLog, payloads: list[tuple[Any, ...]], prefix: str) -> None:
    for rid, version, index, proba, numeric, categorical in payloads:
        log.record(f"{prefix}{rid}", version, KEY, index, proba, numeric, categorical)


def test_streamed_row_groups_rotate_by_size_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_predlog, "CHUNK_BYTES", 1500)
    log = PredictionLog(tmp_path, rotate_bytes=6000, rotate_seconds=3600)
    payloads = _payloads()
    for rep in range(6):
        _record_all(log, payloads, f"{rep}-")
    log.close()
    segments = _segments(tmp_path / "predictions")
    assert len(segments) > 1  # closed by size while streaming
    table = pa.concat_tables([pq.read_table(p) for p in segments])
    expected = [f"{rep}-{rid}" for rep in range(6) for rid in _expected(payloads)["request_id"]]
    assert table["request_id"].to_pylist() == expected  # in order, each row once
    assert log.rows_written == len(expected) and log.pending_rows == 0


def test_a_failed_row_group_puts_the_segments_rows_back_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_predlog, "CHUNK_BYTES", 1500)
    log = PredictionLog(tmp_path, rotate_bytes=1 << 30, rotate_seconds=3600)
    build = log._build
    calls = {"n": 0}

    def flaky(key: Any, fields: list[list[Any]]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the third row group of the open segment fails
            raise OSError("disk full (simulated)")
        return build(key, fields)

    log._build = flaky
    payloads = _payloads()
    for rep in range(3):
        _record_all(log, payloads, f"{rep}-")
    log.flush()
    log.close()
    assert log.errors == 1
    table = pa.concat_tables([pq.read_table(p) for p in _segments(tmp_path / "predictions")])
    expected = [f"{rep}-{rid}" for rep in range(3) for rid in _expected(payloads)["request_id"]]
    assert sorted(table["request_id"].to_pylist()) == sorted(expected)
    assert not list(tmp_path.rglob(".part-*"))


def test_an_open_segment_is_closed_when_its_oldest_row_is_due(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, rotate_seconds=0.2)
    _record_all(log, _payloads()[:2], "a-")
    folder = tmp_path / "predictions"
    deadline = time.monotonic() + 10
    while not _segments(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pq.read_table(_segments(folder)[0]).num_rows == 4
    log.close()


@pytest.mark.parametrize("chunk", [1500, 1 << 21])
def test_requests_share_blocks_in_arrival_order_and_blocks_are_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Rows are copied into blocks of columns (a request larger than a block gets a block
    of its own); the segments hold every row once, in arrival order, also when blocks of
    closed segments are reused."""
    monkeypatch.setattr(_predlog, "CHUNK_BYTES", chunk)
    payloads = _payloads(1, (1, 2, 65, 3, 1, 200, 1, 64, 2))
    log = PredictionLog(tmp_path, rotate_bytes=chunk * 2, rotate_seconds=3600)
    for rep in range(3):
        _record_all(log, payloads, f"{rep}-")
        log.flush()  # every block is written and its segment closed
        assert log._spare  # blocks of the closed segments wait for reuse
    assert log.pending_rows == 0
    _record_all(log, payloads, "3-")
    log.close()
    table = pa.concat_tables([pq.read_table(p) for p in _segments(tmp_path / "predictions")])
    expected = _expected(payloads)
    for name, values in expected.items():
        got = table[name].to_pylist()
        if name == "request_id":
            assert got == [f"{rep}-{v}" for rep in range(4) for v in values]
        else:
            assert got == values * 4, name
    assert log.rows_written == table.num_rows


def test_alternating_keys_share_one_segment_each(tmp_path: Path) -> None:
    """A shadow whose inputs differ from the served version's logs rows of two keys in
    turn; each key's rows go to a segment of their own, not one segment per switch."""
    other = ("m", ("a", "b", "c"), ("x1", "x2"), (("s", "categorical"),), ("x1", "s", "x2"))
    payloads = _payloads(2, (1, 2, 1, 3) * 25)
    log = PredictionLog(tmp_path, rotate_seconds=3600, sync_seconds=3600)
    for rid, version, index, proba, numeric, categorical in payloads:
        log.record(rid, version, KEY, index, proba, numeric, categorical)
        log.record(f"s-{rid}", 2, other, index, proba, numeric, categorical[:1])
    log.close()
    segments = _segments(tmp_path / "predictions")
    assert len(segments) == 2
    tables = [pq.read_table(p) for p in segments]
    assert len({table.num_columns for table in tables}) == 2  # each key's own columns
    served = next(t for t in tables if not t["request_id"][0].as_py().startswith("s-"))
    assert served["request_id"].to_pylist() == _expected(payloads)["request_id"]
    assert sum(t.num_rows for t in tables) == 2 * sum(len(p[2]) for p in payloads)


def test_monitor_reads_segments_of_this_writer_beside_older_ones(tmp_path: Path) -> None:
    """Segments written with the Arrow schema (before the writer's dictionary columns) and
    the writer's own read back together through polyclass.monitor's reader."""
    from _monitor_log import T0, write_predictions
    from polyclass.predlog import read_log

    write_predictions(
        tmp_path,
        classes=["a", "b", "c"],
        proba=np.full((2, 3), 1 / 3),
        ts=np.array([T0, T0 + 1]),
        model_name="m",
        model_version=7,
        inputs={
            "x1": ("numeric", [1.0, 2.0]),
            "s": ("categorical", ["p", None]),
            "x2": ("numeric", [np.nan, 0.5]),
            "flag": ("boolean", [True, None]),
            "yr": ("categorical", ["2008", None]),
        },
        predictions=["a", "b"],
        request_ids=["old-0", "old-1"],
        rows=[0, 1],
    )
    payloads = _payloads()
    log = PredictionLog(tmp_path)
    _record_all(log, payloads, "new-")
    log.close()
    data = read_log(tmp_path, classes=["a", "b", "c"], features=["x1", "s", "x2", "flag", "yr"])
    expected = _expected(payloads)
    assert data.n_segments == 2 and not data.problems
    assert data.request_id.to_pylist() == ["old-0", "old-1"] + [
        f"new-{r}" for r in expected["request_id"]
    ]
    assert data.row.tolist() == [0, 1] + expected["row"]
    assert data.prediction.to_pylist() == ["a", "b"] + expected["prediction"]
    assert data.inputs["s"].to_pylist() == ["p", None] + expected["in.s"]
    assert data.inputs["x2"].to_pylist() == [None, 0.5] + expected["in.x2"]
    assert data.proba is not None
    np.testing.assert_allclose(data.proba[2:], np.concatenate([p[3] for p in payloads]))


def test_close_retries_a_failed_write_before_giving_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM's path: one failed write at close does not lose the buffered rows; a
    write that keeps failing is reported with the count of rows lost."""
    import polyclass.predlog._segmentlog as predlog

    payloads = _payloads()
    original = PredictionLog._write_group
    failures = {"left": 1}

    def flaky(self: Any, segment: Any, group: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(28, "No space left on device (transient)")
        original(self, segment, group)

    monkeypatch.setattr(PredictionLog, "_write_group", flaky)
    log = PredictionLog(tmp_path / "once", rotate_seconds=3600)
    _record_all(log, payloads, "")
    log.close()
    assert log.pending_rows == 0
    segments = _segments(tmp_path / "once" / "predictions")
    table = pa.concat_tables([pq.read_table(p) for p in segments])
    assert table.num_rows == sum(len(p[2]) for p in payloads)

    monkeypatch.setattr(predlog, "CLOSE_ATTEMPTS", 2)
    failures["left"] = 10**6
    log = PredictionLog(tmp_path / "never", rotate_seconds=3600)
    _record_all(log, payloads, "")
    log.close()
    assert log.pending_rows == sum(len(p[2]) for p in payloads)
    assert f"{log.pending_rows} logged rows could not be written" in capsys.readouterr().err


def _read_all(folder: Path) -> Any:
    from polyclass.predlog import read_log

    return read_log(folder, classes=["a", "b", "c"], features=["x1", "s", "x2", "flag", "yr"])


def test_closed_segments_read_the_same_before_and_after_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each row is written once (the journal, closed as part-*.arrows); the reader gives
    the same arrays from it as from its Parquet file, reads a segment found in both
    forms once, and the next writer compacts what a stopped one left."""
    from polyclass.predlog import _compact

    monkeypatch.setattr(_predlog, "CHUNK_BYTES", 1500)  # several segments of a few requests
    payloads = _payloads()
    with monkeypatch.context() as held_back:  # a writer stopped before it compacted
        held_back.setattr(_compact.Compactor, "step", lambda self: None)
        held_back.setattr(_compact.Compactor, "finish", lambda self, deadline: None)
        log = PredictionLog(tmp_path, rotate_bytes=2000, rotate_seconds=3600)
        for rep in range(2):  # ~9 kB: a segment closes after 2 kB plus at most one row group
            _record_all(log, payloads, f"{rep}-")
        log.close()
    folder = tmp_path / "predictions"
    closed = sorted(folder.glob("part-*.arrows"))
    assert len(closed) > 1 and not _segments(folder)
    before = _read_all(tmp_path)
    aside = tmp_path / "aside.arrows"
    aside.write_bytes(closed[0].read_bytes())

    PredictionLog(tmp_path).close()  # the next writer compacts them
    assert not list(folder.glob("*.arrows")) and len(_segments(folder)) == len(closed)
    aside.rename(closed[0])  # as between compaction's rename and its delete
    after = _read_all(tmp_path)

    expected = {name: values * 2 for name, values in _expected(payloads).items()}
    ids = [f"{rep}-{rid}" for rep in range(2) for rid in _expected(payloads)["request_id"]]
    assert before.request_id.to_pylist() == ids
    assert before.n_segments == after.n_segments == len(closed)
    assert not before.problems and not after.problems
    for name in ("request_id", "prediction"):
        assert getattr(before, name).to_pylist() == getattr(after, name).to_pylist()
        assert getattr(before, name).type == getattr(after, name).type
    for name in ("row", "ts", "model_version", "proba"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name))
    for f, column in before.inputs.items():
        assert column.type == after.inputs[f].type, f
        assert column.to_pylist() == after.inputs[f].to_pylist() == expected[f"in.{f}"]


def test_a_server_log_compacts_in_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With compact_process, closed segments become Parquet while the log is open (the
    writer thread itself only compacts at close)."""
    monkeypatch.setattr(_predlog, "CHUNK_BYTES", 1500)
    log = PredictionLog(tmp_path, rotate_bytes=3000, rotate_seconds=3600, compact_process=True)
    try:
        _record_all(log, _payloads(), "")
        folder = tmp_path / "predictions"
        deadline = time.monotonic() + 120  # a child's start on a loaded machine
        while time.monotonic() < deadline and (
            list(folder.glob("part-*.arrows")) or not _segments(folder)
        ):
            time.sleep(0.1)
        assert _segments(folder) and not list(folder.glob("part-*.arrows"))
        assert log._compactor._child is not None  # compacted there, not here
    finally:
        log.close()
    assert _read_all(tmp_path).request_id.to_pylist() == _expected(_payloads())["request_id"]
