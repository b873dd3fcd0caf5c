"""Read the prediction log and its feedback: segments written by ``polyclass serve``.

Layout (the contract shared with the server)::

    <root>/logs/<model_name>/predictions/part-<YYYYmmddTHHMMSSffffff>-<pid>-<seq>.parquet
    <root>/logs/<model_name>/feedback/part-...parquet

Only complete segments are read: ``part-*.parquet``, and ``part-*.arrows`` (a closed
segment not yet compacted into Parquet; the Parquet file wins when both exist for a
moment). An unfinished segment
(``.part-*.tmp``) that no running server holds was left by a killed one: it is reported
(the next ``polyclass serve`` on the log recovers it). A segment that cannot be read
(truncated, not Parquet, wrong log version, missing columns, malformed probabilities)
is *reported and skipped*: it lands in
:attr:`LogData.problems` with the reason, and everything else is still read. A gap in
a writer's sequence numbers (``-<pid>-<seq>``) is reported as possibly missing segments.
Segments whose ``ts`` statistics fall wholly outside ``[since, until)`` are not read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.predlog._format import ARROW_SUFFIX, PARQUET_SUFFIX, SEGMENT, to_micros
from polyclass.predlog._journal import leftovers
from polyclass.predlog._segments import feedback_segment, prediction_segment, segment_rows

_PRED_COLUMNS = ("request_id", "row", "ts", "model_version", "prediction")
#: Segments read side by side (Parquet decoding releases the GIL).
_READERS = min(4, os.cpu_count() or 1)


class LogError(ValueError):
    """The log cannot be read at all (no folder, no readable segment)."""


@dataclass(frozen=True)
class SegmentProblem:
    """A segment that was skipped (or a hint that some are missing), and why."""

    path: str
    kind: str  # 'predictions' | 'feedback'
    reason: str

    def to_dict(self) -> dict[str, str]:
        """JSON-able form."""
        return {"path": self.path, "kind": self.kind, "reason": self.reason}


@dataclass
class LogData:
    """Predicted rows and feedback read from a log, as NumPy arrays and Arrow columns.

    Predictions: ``request_id`` (Arrow strings), ``row`` (int32), ``ts`` (int64 µs since
    the epoch, UTC), ``model_version`` (int64), ``prediction`` (Arrow dictionary-encoded
    strings), ``proba`` ((n, n_classes) float64 in the order of ``classes``, or None
    when not read) and ``inputs`` (feature name -> Arrow column; text inputs
    dictionary-encoded). Feedback:
    ``fb_request_id`` (strings), ``fb_row``, ``fb_label`` (dictionary-encoded strings),
    ``fb_ts``.
    """

    log_dir: Path
    classes: tuple[str, ...]
    request_id: Any
    row: NDArray[np.int32]
    ts: NDArray[np.int64]
    model_version: NDArray[np.int64]
    prediction: Any
    proba: NDArray[np.float64] | None
    inputs: dict[str, Any]
    fb_request_id: Any
    fb_row: NDArray[np.int32]
    fb_label: Any
    fb_ts: NDArray[np.int64]
    problems: list[SegmentProblem] = field(default_factory=list)
    n_segments: int = 0
    n_feedback_segments: int = 0
    other_versions: dict[int, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Predicted rows read."""
        return int(self.ts.size)


def list_segments(folder: Path) -> list[Path]:
    """Complete segments of a folder in name (= time) order; temporary files excluded.

    A segment listed both closed and compacted (between compaction's rename and its
    delete) is listed once, as its Parquet file.
    """
    if not folder.is_dir():
        return []
    found: dict[str, Path] = {}
    for p in folder.iterdir():
        if p.name.startswith("part-") and p.suffix in (PARQUET_SUFFIX, ARROW_SUFFIX):
            if p.suffix == PARQUET_SUFFIX or p.stem not in found:
                found[p.stem] = p
    return [found[stem] for stem in sorted(found)]


def sequence_gaps(paths: Sequence[Path], kind: str) -> list[SegmentProblem]:
    """Possibly missing segments: holes in a writer's (pid) run of sequence numbers."""
    runs: dict[str, list[int]] = {}
    for p in paths:
        m = SEGMENT.match(p.name)
        if m:
            runs.setdefault(m.group(2), []).append(int(m.group(3)))
    problems = []
    for pid, seqs in sorted(runs.items()):
        have = set(seqs)
        holes = [s for s in range(min(seqs), max(seqs) + 1) if s not in have]
        if holes:
            shown = ", ".join(map(str, holes[:10])) + (" ..." if len(holes) > 10 else "")
            problems.append(
                SegmentProblem(
                    str(paths[0].parent),
                    kind,
                    f"writer {pid}: segment number(s) {shown} absent between {min(seqs)} and "
                    f"{max(seqs)}; those rows are missing from this report (deleted or lost?).",
                )
            )
    return problems


def unfinished(folder: Path, kind: str) -> list[SegmentProblem]:
    """Journals no live writer holds (a killed server's) and journals found unreadable."""
    problems = [
        SegmentProblem(
            str(item.path),
            kind,
            "an unfinished segment left by a server that was killed; its rows are not "
            "read until `polyclass serve` starts on this log again and recovers it.",
        )
        for item in leftovers(folder)
    ]
    if folder.is_dir():
        problems += [
            SegmentProblem(
                str(path),
                kind,
                "a torn segment kept aside: rows past its last complete batch are "
                "missing from this report (its complete batches, if any, are read).",
            )
            for path in sorted(folder.glob(".part-*.lost"))
        ]
    return problems


def _each(jobs: Sequence[Callable[[], Any]]) -> Iterator[tuple[Any, Any]]:
    """``(job(), None)`` or ``(None, exception)`` per job, in order.

    Jobs run on a few threads (Parquet decoding and NumPy release the GIL); results are
    handed over as they are consumed, so a segment's buffers are freed once copied.
    """

    def one(job: Callable[[], Any]) -> tuple[Any, Any]:
        try:
            return job(), None
        except Exception as exc:  # corrupt / truncated / foreign: report and go on
            return None, exc

    workers = min(len(jobs), _READERS)
    if workers <= 1:
        yield from (one(j) for j in jobs)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(one, jobs)


class _Column:
    """A NumPy column filled segment by segment into one buffer (no final concatenation).

    The buffer is sized from the segments' row counts; pages past the rows written are
    never touched. With ``constant``, a column holding one value throughout (the model
    version, the row of single-row requests) is kept as that value and returned as a
    read-only broadcast view: no memory at all.
    """

    def __init__(
        self, dtype: Any, capacity: int, width: int | None = None, *, constant: bool = False
    ) -> None:
        self.dtype, self.capacity, self.width = dtype, capacity, width
        self.data: NDArray[Any] | None = None
        self.value: Any = None
        self.constant = constant
        self.n = 0

    def _buffer(self, need: int) -> NDArray[Any]:
        if self.data is None:
            shape = (max(self.capacity, need),) + (() if self.width is None else (self.width,))
            self.data = np.empty(shape, dtype=self.dtype)
            if self.n:  # leave the constant form
                self.data[: self.n] = self.value
        elif need > len(self.data):  # a segment grew since its size was read
            bigger = np.empty(
                (max(2 * len(self.data), need), *self.data.shape[1:]), dtype=self.dtype
            )
            bigger[: self.n] = self.data[: self.n]
            self.data = bigger
        return self.data

    def append(self, values: NDArray[Any]) -> None:
        k = len(values)
        if self.constant and self.data is None and k:
            first = values[0]
            if (self.n == 0 or first == self.value) and bool((values == first).all()):
                self.value = first
                self.n += k
                return
        data = self._buffer(self.n + k)
        data[self.n : self.n + k] = values
        self.n += k

    def array(self) -> NDArray[Any]:
        if self.data is None:
            if self.n and self.width is None:
                return np.broadcast_to(np.asarray(self.value, dtype=self.dtype), (self.n,))
            self._buffer(self.n)
        data = self.data if self.data is not None else np.empty(0, dtype=self.dtype)
        out = data[: self.n]
        return out.copy() if self.n < len(data) // 2 else out


def _num_rows(paths: Sequence[Path]) -> int:
    """Rows of the segments by their footers (unreadable ones count 0)."""
    total = 0
    for path in paths:
        try:
            total += segment_rows(path)
        except Exception:  # reported when the segment itself is read
            continue
    return total


def read_prediction_segment(
    path: str | Path,
    *,
    features: Sequence[str] = (),
    since: int | None = None,
    until: int | None = None,
    model_version: int | None = None,
) -> Any:
    """One predictions segment's rows and inputs as :func:`read_log` reads them, without
    probabilities (None when its times lie outside ``[since, until)``): for a reader that
    spreads the segments over workers. Raises what a segment :func:`read_log` skips raises."""
    columns = [*_PRED_COLUMNS, *(f"in.{f}" for f in features)]
    return prediction_segment(Path(path), columns, features, since, until, model_version, False, ())


def recent_rows_start(log_dir: str | Path, max_rows: int) -> datetime | None:
    """When the newest segments that together hold ``max_rows`` predictions began.

    Reads only segment names and footers (batch headers), newest first. Reading the log
    from the time returned keeps about ``max_rows`` rows (more when several writers'
    segments overlap in time); None when the whole log holds fewer.
    """
    total = 0
    for path in reversed(list_segments(Path(log_dir) / "predictions")):
        try:
            total += segment_rows(path)
        except Exception:  # reported when the segment itself is read
            continue
        match = SEGMENT.match(path.name)
        if total >= max_rows and match:
            return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    return None


def read_log(
    log_dir: str | Path,
    *,
    classes: Sequence[str] = (),
    features: Sequence[str] = (),
    since: datetime | str | int | None = None,
    until: datetime | str | int | None = None,
    model_version: int | None = None,
    with_proba: bool = True,
) -> LogData:
    """Read every readable segment of a model's log into arrays.

    Parameters
    ----------
    log_dir : str or Path
        ``<root>/logs/<model_name>``: the folder holding ``predictions/`` and ``feedback/``.
    classes : sequence of str
        The model's classes (as logged, ``str(label)``): probabilities are returned in
        this order whatever a segment's ``classes`` metadata says.
    features : sequence of str
        Input features to read (columns ``in.<feature>``; absent ones read as missing).
    since, until : datetime, ISO string or µs since the epoch, optional
        Keep predictions with ``since <= ts < until``.
    model_version : int, optional
        Keep only rows logged by this version (others are counted in ``other_versions``).
    with_proba : bool, default=True
        Read the probability lists (not needed for live metrics alone).

    Returns
    -------
    LogData

    Raises
    ------
    LogError
        When ``log_dir`` has no ``predictions`` folder.
    """
    import pyarrow as pa

    root = Path(log_dir)
    pred_dir, fb_dir = root / "predictions", root / "feedback"
    if not pred_dir.is_dir():
        # the folder given to `serve --log-dir` holds one log per model, under logs/
        inside = sorted(p.parent for p in root.glob("logs/*/predictions") if p.is_dir())
        hint = (
            f"; it is a `serve --log-dir` folder: pass its model's log, one of "
            f"{', '.join(str(p) for p in inside[:5])}"
            if inside
            else ". Serve the model with `polyclass serve` first, or pass --log with the log folder"
        )
        raise LogError(
            f"No prediction log at {root} (expected a 'predictions' folder there){hint}."
        )
    lo = since if isinstance(since, int) or since is None else to_micros(since)
    hi = until if isinstance(until, int) or until is None else to_micros(until)
    cls = tuple(str(c) for c in classes)
    problems: list[SegmentProblem] = []
    columns = [*_PRED_COLUMNS, *(["proba"] if with_proba else []), *(f"in.{f}" for f in features)]

    parts: dict[str, list[Any]] = {
        k: [] for k in ("request_id", "prediction", *(f"in.{f}" for f in features))
    }
    other_versions: dict[int, int] = {}
    segments = list_segments(pred_dir)
    problems.extend(sequence_gaps(segments, "predictions"))
    problems.extend(unfinished(pred_dir, "predictions") + unfinished(fb_dir, "feedback"))
    fb_segments = list_segments(fb_dir)
    # one pool reads the predictions, then the feedback, segment by segment
    results = _each(
        [
            *(
                partial(
                    prediction_segment,
                    path,
                    columns,
                    features,
                    lo,
                    hi,
                    model_version,
                    with_proba,
                    cls,
                )
                for path in segments
            ),
            *(partial(feedback_segment, path, lo) for path in fb_segments),
        ]
    )
    cap = _num_rows(segments)
    row, ts, version = (
        _Column(np.int32, cap, constant=True),
        _Column(np.int64, cap),
        _Column(np.int64, cap, constant=True),
    )
    proba = _Column(np.float64, cap if with_proba else 0, len(cls))
    n_read = 0
    for path, (seg, exc) in zip(segments, islice(results, len(segments)), strict=True):
        if exc is not None:
            problems.append(SegmentProblem(str(path), "predictions", _reason(exc)))
            continue
        if seg is None:
            continue
        for v, c in seg.other_versions.items():
            other_versions[v] = other_versions.get(v, 0) + c
        parts["request_id"].append(seg.request_id)
        parts["prediction"].append(seg.prediction)
        for f in features:
            parts[f"in.{f}"].append(seg.inputs[f])
        row.append(seg.row)
        ts.append(seg.ts)
        version.append(seg.version)
        if seg.proba is not None:
            proba.append(seg.proba)
        n_read += 1
        del seg

    fb: dict[str, list[Any]] = {"request_id": [], "label": []}
    problems.extend(sequence_gaps(fb_segments, "feedback"))
    fb_cap = _num_rows(fb_segments)
    fb_row, fb_ts = _Column(np.int32, fb_cap, constant=True), _Column(np.int64, fb_cap)
    n_fb = 0
    for path, (got, exc) in zip(fb_segments, results, strict=True):
        if exc is not None:
            problems.append(SegmentProblem(str(path), "feedback", _reason(exc)))
            continue
        if got is None:
            continue
        fb["request_id"].append(got[0])
        fb_row.append(got[1])
        fb["label"].append(got[2])
        fb_ts.append(got[3])
        n_fb += 1
        del got

    def chunked(chunks: list[Any], typ: Any) -> Any:
        pieces = [c for ch in chunks for c in ch.chunks]
        return pa.chunked_array(pieces, type=typ) if pieces else pa.chunked_array([], type=typ)

    inputs = {}
    for f in features:
        pieces = parts[f"in.{f}"]
        types = {str(c.type) for c in pieces if str(c.type) != "null"}
        typ = (
            pa.string()
            if not types
            else pieces[[str(c.type) for c in pieces].index(sorted(types)[0])].type
        )
        if len(types) > 1:
            problems.append(
                SegmentProblem(
                    str(pred_dir),
                    "predictions",
                    f"input 'in.{f}' has types {sorted(types)} in "
                    "different segments; read as missing where it "
                    "does not match " + str(typ),
                )
            )
        inputs[f] = chunked(
            [
                c if c.type == typ else pa.chunked_array([pa.nulls(len(c), type=typ)])
                for c in pieces
            ],
            typ,
        )
    return LogData(
        log_dir=root,
        classes=cls,
        request_id=chunked(parts["request_id"], pa.string()),
        row=row.array(),
        ts=ts.array(),
        model_version=version.array(),
        prediction=chunked(parts["prediction"], pa.dictionary(pa.int32(), pa.string())),
        proba=proba.array() if with_proba else None,
        inputs=inputs,
        fb_request_id=chunked(fb["request_id"], pa.string()),
        fb_row=fb_row.array(),
        fb_label=chunked(fb["label"], pa.dictionary(pa.int32(), pa.string())),
        fb_ts=fb_ts.array(),
        problems=problems,
        n_segments=n_read,
        n_feedback_segments=n_fb,
        other_versions=other_versions,
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
