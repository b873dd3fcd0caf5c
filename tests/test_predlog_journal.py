"""The open segment's journal: fsynced within the bound, recovered after a kill, a torn
tail dropped, an unreadable leftover reported by the reader, a live one left alone."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polyclass.predlog import FeedbackLog, read_log
from polyclass.predlog._journal import Journal, leftovers, recover


def _batch(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch(
        {"request_id": [f"r{i}" for i in range(start, start + n)], "row": list(range(n))},
    ).replace_schema_metadata({"polyclass_log_version": "1"})


def test_rows_reach_the_journal_within_the_bound_without_closing_the_segment(
    tmp_path: Path,
) -> None:
    log = FeedbackLog(tmp_path, rotate_seconds=3600, sync_seconds=0.2)
    try:
        log.record([("r1", -1, "a"), ("r2", 0, "b")])
        folder = tmp_path / "feedback"
        for _ in range(200):  # the writer fsyncs within 0.2 s; allow a loaded machine
            journals = list(folder.glob(".part-*.tmp"))
            if journals and journals[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        assert not list(folder.glob("part-*.parquet"))  # the segment is still open
        assert leftovers(folder) == []  # held by a live writer: not a leftover
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / journals[0].name).write_bytes(journals[0].read_bytes())  # a kill's snapshot
        assert recover(copy) and pq.read_table(next(copy.glob("part-*.parquet"))).num_rows == 2
    finally:
        log.close()


def test_a_torn_last_write_is_dropped_and_the_rest_recovered(tmp_path: Path) -> None:
    journal = Journal(tmp_path / ".part-20260101T000000000000-1-1.tmp", _batch(0, 1).schema)
    journal.write(_batch(0, 3))
    journal.write(_batch(3, 4))
    journal.sync()
    journal.close()
    path = journal.path
    path.write_bytes(path.read_bytes()[:-40])  # the kill came in the middle of a write
    (messages,) = recover(tmp_path)
    assert "recovered 3 rows" in messages
    table = pq.read_table(tmp_path / "part-20260101T000000000000-1-1.parquet")
    assert table.column("request_id").to_pylist() == ["r0", "r1", "r2"]
    assert table.schema.metadata[b"polyclass_log_version"] == b"1"
    assert not path.exists()


@pytest.mark.parametrize("content", [b"", b"not arrow at all"])
def test_an_unreadable_leftover_is_kept_aside_and_reported(tmp_path: Path, content: bytes) -> None:
    folder = tmp_path / "predictions"
    folder.mkdir()
    leftover = folder / ".part-20260101T000000000000-1-1.tmp"
    leftover.write_bytes(content)
    problems = read_log(tmp_path).problems
    assert [p.path for p in problems] == [str(leftover)] and "killed" in problems[0].reason
    (message,) = recover(folder)
    assert "no complete row group" in message and not leftover.exists()
    (problem,) = read_log(tmp_path).problems
    assert problem.path.endswith(".lost")
