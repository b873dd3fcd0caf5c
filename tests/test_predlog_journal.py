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


def _closed_segment(folder: Path, sizes: tuple[int, ...]) -> Path:
    """A closed segment (``part-*.arrows``) holding batches of ``sizes`` rows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-20261207T190000000000-4242-1.arrows"
    batches = [_batch(sum(sizes[:i]), n) for i, n in enumerate(sizes)]
    with pa.ipc.new_stream(str(path), batches[0].schema) as stream:
        for batch in batches:
            stream.write_batch(batch)
    return path


def test_a_torn_closed_segment_is_salvaged_and_the_rows_lost_counted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Its complete batches become its Parquet file; the torn batch's rows are counted
    from its header; the original is kept aside, out of the readers' way."""
    from polyclass.predlog._compact import Compactor

    folder = tmp_path / "feedback"
    path = _closed_segment(folder, (300, 300, 300))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 2000])  # a copy cut short in the last batch
    Compactor(folder, process=False).finish(time.monotonic() + 60)
    parquet = path.with_suffix(".parquet")
    assert pq.read_table(parquet)["request_id"].to_pylist() == [f"r{i}" for i in range(600)]
    assert not path.exists() and (folder / f".{path.stem}.lost").exists()
    err = capfd.readouterr().err
    assert "600 rows salvaged into" in err and "300 rows lost" in err, err
    assert err.count("\n") == 1


def test_a_segment_that_cannot_be_compacted_is_reported_once_and_tried_when_it_changes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A segment whose Parquet file cannot be written is left as it is (readers read it),
    reported once and not tried again until it changes; a compaction child tells its
    writer which failed, so the next child does not try them again either."""
    from polyclass.predlog._compact import Compactor, closed_segments

    folder = tmp_path / "feedback"
    path = _closed_segment(folder, (5,))
    (folder / f".{path.stem}.convert").mkdir()  # the staging file cannot be written
    compactor = Compactor(folder, process=False)
    for _ in range(3):
        compactor.closed()
        compactor.step()
    assert closed_segments(folder) == [path] and not compactor.waiting
    assert capfd.readouterr().err.count("cannot compact") == 1

    child = Compactor(folder, process=True)  # a new writer: tries it once more, in a child
    child.step()
    deadline = time.monotonic() + 120  # a child's start on a loaded machine
    while path not in child.failed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path in child.failed
    running = child._child
    assert running is not None
    child._close_stdin(running)  # as its idle timeout would: it exits
    running.wait(60)
    assert not child._running() and not child.waiting
    child.step()
    assert child._child is None  # no child is started for it again
    assert capfd.readouterr().err.count("cannot compact") == 1

    (folder / f".{path.stem}.convert").rmdir()
    path.touch()  # changed: tried again, and it works now
    compactor.closed()
    compactor.step()
    assert not closed_segments(folder) and path.with_suffix(".parquet").exists()
