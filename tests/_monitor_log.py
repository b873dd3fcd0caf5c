"""Write prediction-log and feedback segments exactly as the log contract says (pyarrow)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HOUR = 3600 * 10**6
T0 = 1_767_225_600 * 10**6  # 2026-01-01T00:00:00Z in µs


def _name(pid: int, seq: int, ts_us: int) -> str:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(ts_us / 1e6, tz=UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"part-{stamp}-{pid}-{seq}.parquet"


def write_predictions(
    log_dir: Path,
    *,
    classes: Sequence[str],
    proba: np.ndarray,
    ts: np.ndarray,
    inputs: Mapping[str, tuple[str, Any]],
    predictions: Sequence[str] | None = None,
    request_ids: Sequence[str] | None = None,
    rows: Sequence[int] | None = None,
    model_name: str = "m",
    model_version: int = 1,
    pid: int = 4242,
    seq: int = 1,
) -> Path:
    """One predictions segment; ``inputs`` maps feature -> (kind, values)."""
    n = len(ts)
    proba = np.asarray(proba, dtype=np.float64)
    if predictions is None:
        predictions = [classes[i] for i in proba.argmax(axis=1)]
    if request_ids is None:
        request_ids = [f"r{seq}-{i}" for i in range(n)]
    if rows is None:
        rows = [0] * n
    k = len(classes)
    cols: dict[str, Any] = {
        "request_id": pa.array(list(request_ids), pa.string()),
        "row": pa.array(np.asarray(rows, dtype=np.int32), pa.int32()),
        "ts": pa.array(np.asarray(ts, dtype=np.int64), pa.timestamp("us", tz="UTC")),
        "model_name": pa.array([model_name] * n, pa.string()),
        "model_version": pa.array(np.full(n, model_version, dtype=np.int64), pa.int64()),
        "prediction": pa.array(list(predictions), pa.string()),
        "proba": pa.ListArray.from_arrays(
            pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)),
            pa.array(proba.reshape(-1), pa.float64()),
        ),
    }
    for name, (kind, values) in inputs.items():
        if kind == "numeric":
            v = np.asarray(values, dtype=np.float64)
            cols[f"in.{name}"] = pa.array(v, mask=~np.isfinite(v), type=pa.float64())
        elif kind == "boolean":
            cols[f"in.{name}"] = pa.array(list(values), pa.bool_())
        else:
            cols[f"in.{name}"] = pa.array(
                [
                    None if v is None or (isinstance(v, float) and v != v) else str(v)
                    for v in values
                ],
                pa.string(),
            )
    table = pa.table(cols).replace_schema_metadata(
        {"classes": json.dumps(list(classes)), "polyclass_log_version": "1"}
    )
    folder = Path(log_dir) / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _name(pid, seq, int(np.min(ts)) if n else T0)
    pq.write_table(table, path)
    return path


def write_feedback(
    log_dir: Path,
    *,
    request_ids: Sequence[str],
    labels: Sequence[str],
    ts: np.ndarray,
    rows: Sequence[int] | None = None,
    pid: int = 4242,
    seq: int = 1,
) -> Path:
    """One feedback segment (row -1 labels every row of the request)."""
    n = len(request_ids)
    table = pa.table(
        {
            "request_id": pa.array(list(request_ids), pa.string()),
            "row": pa.array(
                np.asarray(rows if rows is not None else [0] * n, dtype=np.int32), pa.int32()
            ),
            "label": pa.array(list(labels), pa.string()),
            "ts": pa.array(np.asarray(ts, dtype=np.int64), pa.timestamp("us", tz="UTC")),
        }
    ).replace_schema_metadata({"polyclass_log_version": "1"})
    folder = Path(log_dir) / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _name(pid, seq, int(np.min(ts)) if n else T0)
    pq.write_table(table, path)
    return path
