"""The prediction log: every answered row and every feedback label, as Parquet segments.

One package owns the format (version, folders, segment names, columns), the writer that
``polyclass serve`` feeds (:class:`PredictionLog`, :class:`FeedbackLog`) and the reader
that ``polyclass monitor`` calls (:func:`read_log`).

Examples
--------
>>> from polyclass.predlog import log_folder
>>> log_folder("/srv/polyclass", "penguins").as_posix()
'/srv/polyclass/logs/penguins'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from polyclass.predlog._format import LOG_VERSION, LogKey, log_folder, to_micros

if TYPE_CHECKING:
    from polyclass.predlog._reader import (
        LogData,
        LogError,
        SegmentProblem,
        list_segments,
        read_log,
        read_prediction_segment,
        recent_rows_start,
    )
    from polyclass.predlog._segmentlog import (
        ROTATE_BYTES,
        ROTATE_SECONDS,
        SYNC_SECONDS,
        SegmentLog,
    )
    from polyclass.predlog._writers import FeedbackLog, PredictionLog

__all__ = [
    "LOG_VERSION",
    "ROTATE_BYTES",
    "ROTATE_SECONDS",
    "SYNC_SECONDS",
    "FeedbackLog",
    "LogData",
    "LogError",
    "LogKey",
    "PredictionLog",
    "SegmentLog",
    "SegmentProblem",
    "list_segments",
    "log_folder",
    "read_log",
    "read_prediction_segment",
    "recent_rows_start",
    "to_micros",
]

_LAZY: dict[str, str] = {
    "LogData": "_reader",
    "LogError": "_reader",
    "SegmentProblem": "_reader",
    "list_segments": "_reader",
    "read_log": "_reader",
    "read_prediction_segment": "_reader",
    "recent_rows_start": "_reader",
    "ROTATE_BYTES": "_segmentlog",
    "ROTATE_SECONDS": "_segmentlog",
    "SYNC_SECONDS": "_segmentlog",
    "SegmentLog": "_segmentlog",
    "FeedbackLog": "_writers",
    "PredictionLog": "_writers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyclass.predlog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"polyclass.predlog.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
