"""Which rows a model was fitted on: 64-bit row hashes, to tell an evaluation on
training rows from one on new rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray


def row_hashes(frame: Any, kinds: Mapping[str, str]) -> NDArray[np.uint64]:
    """One 64-bit hash per row of the columns in ``kinds``, by value.

    Numeric columns hash as float64 (``3750`` and ``3750.0`` agree; unparsable text is
    missing), date/time columns as parsed instants, every other column as text with
    missing values alike, so the same file
    read before or after the data checks hashes the same.
    """
    import pandas as pd

    canonical: dict[str, Any] = {}
    for name, kind in kinds.items():
        column = pd.Series(frame[name]).reset_index(drop=True)
        if kind == "numeric":
            canonical[name] = pd.to_numeric(column, errors="coerce").astype(np.float64)
        elif kind == "datetime":  # ISO text or parsed timestamps: the same instant
            canonical[name] = pd.to_datetime(column, errors="coerce", format="mixed").astype(str)
        else:
            text = column.astype(object)
            canonical[name] = text.where(text.notna(), "").astype(str)
    table = pd.DataFrame(canonical)
    return np.asarray(pd.util.hash_pandas_object(table, index=False), dtype=np.uint64)


def rows_seen(hashes: NDArray[np.uint64], seen: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """Which of ``hashes`` are in ``seen`` (a sorted array of unique row hashes)."""
    return np.isin(hashes, seen, assume_unique=False)
