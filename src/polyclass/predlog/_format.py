"""The prediction log's format: its version, folders, segment names and times.

Layout (the contract between ``polyclass serve``, which writes, and ``polyclass
monitor``, which reads)::

    <root>/logs/<model_name>/predictions/part-<YYYYmmddTHHMMSSffffff>-<pid>-<seq>.parquet
    <root>/logs/<model_name>/feedback/part-...parquet

A segment being written is ``.part-<...>.tmp`` beside them (an Arrow IPC stream, see
:mod:`polyclass.predlog._journal`); closed, it is ``part-<...>.arrows`` until it is
compacted into its ``.parquet`` file (:mod:`polyclass.predlog._compact`). Both hold the
same columns and metadata.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "ARROW_SUFFIX",
    "LOG_VERSION",
    "PARQUET_SUFFIX",
    "SEGMENT",
    "LogKey",
    "log_folder",
    "segment_name",
    "to_micros",
]

#: Written in every segment's metadata (``polyclass_log_version``); readers refuse others.
LOG_VERSION = "1"

#: The fixed columns of a prediction segment (inputs follow as ``in.<feature>``).
PREDICTION_COLUMNS = (
    "request_id",
    "row",
    "ts",
    "model_name",
    "model_version",
    "prediction",
    "proba",
)

#: A closed segment as its writer left it: the journal's Arrow IPC stream, renamed.
ARROW_SUFFIX = ".arrows"
#: A closed segment once compacted.
PARQUET_SUFFIX = ".parquet"
#: A complete segment's file name: its time, its writer's pid and the writer's sequence number.
SEGMENT = re.compile(r"^part-(\d{8}T\d{12})-(\d+)-(\d+)\.(?:parquet|arrows)$")

#: (model name, class labels as text, numeric inputs, (categorical input, kind) pairs,
#: every input in the model's order): what rows must share to share a segment.
LogKey = tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]


def log_folder(root: str | Path, model_name: str) -> Path:
    """``<root>/logs/<model_name>``: where a model's predictions and feedback go."""
    return Path(root) / "logs" / model_name


def segment_name(seq: int) -> str:
    """``part-<now>-<pid>-<seq>``: a new segment's name without its suffix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"part-{stamp}-{os.getpid()}-{seq}"


def to_micros(when: datetime | str | None) -> int | None:
    """A time as µs since the epoch (naive datetimes and ISO strings without zone: UTC)."""
    if when is None:
        return None
    if isinstance(when, str):
        text = when.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{when!r} is not an ISO 8601 time; write e.g. 2026-01-31T14:00:00Z."
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1_000_000)
