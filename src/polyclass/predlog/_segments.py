"""Read one segment of the prediction log (or of its feedback) into arrays.

A segment is a Parquet file or, until it is compacted, the Arrow IPC stream its writer
closed (``part-*.arrows``); both read back the same. Every function here raises on a
segment it cannot use (wrong log version, missing or mistyped columns, malformed
probabilities, truncated file); :func:`read_log` reports the reason and skips the
segment. Label columns come back dictionary-encoded, request ids as plain strings,
times as int64 µs since the epoch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.predlog._format import ARROW_SUFFIX, LOG_VERSION, PARQUET_SUFFIX, to_micros


def _ts_range(pf: Any) -> tuple[int, int] | None:
    """(min, max) of ``ts`` from row-group statistics, or None when unknown."""
    try:
        idx = pf.schema_arrow.get_field_index("ts")
        lo = hi = None
        for g in range(pf.metadata.num_row_groups):
            st = pf.metadata.row_group(g).column(idx).statistics
            if st is None or not st.has_min_max:
                return None
            mn, mx = to_micros(st.min), to_micros(st.max)
            if mn is None or mx is None:
                return None
            lo = mn if lo is None else min(lo, mn)
            hi = mx if hi is None else max(hi, mx)
        return None if lo is None or hi is None else (lo, hi)
    except Exception:  # statistics are an optimisation only
        return None


def _outside(pf: Any, since: int | None, until: int | None) -> bool:
    if since is None and until is None:
        return False
    rng = _ts_range(pf)
    if rng is None:
        return False
    return (since is not None and rng[1] < since) or (until is not None and rng[0] >= until)


def _micros(col: Any) -> NDArray[np.int64]:
    import pyarrow as pa

    t = col.type
    if not pa.types.is_timestamp(t):
        raise ValueError(f"column 'ts' has type {t}, expected timestamp[us, tz=UTC]")
    factor = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[t.unit]
    raw = col.cast(pa.int64())
    if raw.null_count:
        raise ValueError("column 'ts' holds null times")
    out = np.asarray(raw.to_numpy(), dtype=np.int64)
    if factor == 1:
        return out
    return out // 1000 if factor is None else out * factor


def _proba_matrix(col: Any, seg_classes: list[str], classes: tuple[str, ...]) -> NDArray[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    k = len(seg_classes)
    if col.null_count:
        raise ValueError("column 'proba' holds null lists")
    lengths = np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False))
    if lengths.size and (lengths != k).any():
        raise ValueError(f"'proba' lists must have {k} values (one per class in 'classes')")
    flat = np.asarray(pc.list_flatten(col).to_numpy(zero_copy_only=False), dtype=np.float64)
    mat = flat.reshape(-1, k) if k else np.zeros((len(col), 0))
    if tuple(seg_classes) == classes:
        return mat
    out = np.full((mat.shape[0], len(classes)), np.nan)
    for j, c in enumerate(seg_classes):
        if c in classes:
            out[:, classes.index(c)] = mat[:, j]
    return out


def _stream(path: Path) -> Any:
    """An Arrow IPC stream reader on a closed segment, memory-mapped (no copy)."""
    import pyarrow as pa

    return pa.ipc.open_stream(pa.memory_map(str(path)))


def segment_rows(path: Path) -> int:
    """Rows of a segment, from its footer (Parquet) or its batches' headers (Arrow)."""
    import pyarrow.parquet as pq

    if path.suffix == ARROW_SUFFIX:
        try:
            return sum(batch.num_rows for batch in _stream(path))
        except FileNotFoundError:  # compacted since the folder was listed
            path = path.with_suffix(PARQUET_SUFFIX)
    return int(pq.ParquetFile(path).metadata.num_rows)


def _classes(meta: dict[bytes, bytes]) -> list[str] | None:
    """The segment's ``classes`` (after checking its log version)."""
    version = meta.get(b"polyclass_log_version", b"").decode()
    if version != LOG_VERSION:
        raise ValueError(
            f"polyclass_log_version is {version or 'absent'!r}; this polyclass reads "
            f"version {LOG_VERSION!r}"
        )
    if b"classes" not in meta:
        return None
    return [str(c) for c in json.loads(meta[b"classes"].decode())]


def _present(schema: Any, columns: list[str]) -> list[str]:
    """The ``columns`` a segment holds (inputs may be absent; any other is an error)."""
    names = set(schema.names)
    missing = [c for c in columns if c not in names and not c.startswith("in.")]
    if missing:
        raise ValueError(f"columns {missing} are missing")
    return [c for c in columns if c in names]


def _read_arrow(
    path: Path, columns: list[str], dictionary: Sequence[str]
) -> tuple[Any, list[str] | None]:
    """(table, classes) of a closed segment not yet compacted, typed as Parquet reads it:
    dictionary columns come back as plain strings unless named in ``dictionary``."""
    import pyarrow as pa

    reader = _stream(path)
    classes = _classes(reader.schema.metadata or {})
    wanted = _present(reader.schema, columns)
    table = reader.read_all().select(wanted)
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type) and field.name not in dictionary:
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table, classes


def _read_segment(
    path: Path,
    columns: list[str],
    since: int | None,
    until: int | None,
    dictionary: Sequence[str] = (),
) -> tuple[Any, list[str] | None] | None:
    """(table, classes) of one segment, or None when it lies outside the time range.

    String columns named in ``dictionary`` are read dictionary-encoded (Parquet stores
    them so: no string is materialised for a column of a few distinct labels).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ARROW_SUFFIX:
        try:
            return _read_arrow(path, columns, dictionary)
        except FileNotFoundError:  # compacted since the folder was listed
            path = path.with_suffix(PARQUET_SUFFIX)
    pf = pq.ParquetFile(path)
    classes = _classes(pf.schema_arrow.metadata or {})
    wanted = _present(pf.schema_arrow, columns)
    if _outside(pf, since, until):
        return None
    schema = pf.schema_arrow
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    as_dict = [c for c in dictionary if c in strings]
    if as_dict:  # the dictionary option is given when the file is opened
        pf = pq.ParquetFile(path, read_dictionary=as_dict, pre_buffer=True)
    table = pf.read(columns=wanted, use_threads=True)
    return table, classes


_DICT = "dictionary<values=string, indices=int32, ordered=0>"


def _strings(col: Any, name: str) -> Any:
    """A string column as pyarrow strings (large strings cast), or a ValueError."""
    import pyarrow as pa

    if pa.types.is_string(col.type):
        return col
    if pa.types.is_large_string(col.type) or (
        pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type)
    ):
        return col.cast(pa.string())
    raise ValueError(f"column {name!r} has type {col.type}, expected string")


def _labels(col: Any, name: str) -> Any:
    """A label column as dictionary-encoded strings (int32 indices), or a ValueError."""
    import pyarrow as pa

    if str(col.type) == _DICT:
        return col
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return _strings(col, name).dictionary_encode()


@dataclass
class PredSegment:
    """The rows of one predictions segment kept by the time / version filters."""

    request_id: Any
    prediction: Any
    row: NDArray[np.int32]
    ts: NDArray[np.int64]
    version: NDArray[np.int64]
    proba: NDArray[np.float64] | None
    inputs: dict[str, Any]
    other_versions: dict[int, int]


def prediction_segment(
    path: Path,
    columns: list[str],
    features: Sequence[str],
    lo: int | None,
    hi: int | None,
    model_version: int | None,
    with_proba: bool,
    cls: tuple[str, ...],
) -> PredSegment | None:
    """Read a predictions segment (None when its times lie outside ``[lo, hi)``)."""
    import pyarrow as pa

    got = _read_segment(
        path, columns, lo, hi, dictionary=("prediction", *(f"in.{f}" for f in features))
    )
    if got is None:
        return None
    table, seg_classes = got
    ts = _micros(table.column("ts"))
    keep = None
    if lo is not None or hi is not None:
        keep = np.ones(ts.size, dtype=bool)
        if lo is not None:
            keep &= ts >= lo
        if hi is not None:
            keep &= ts < hi
    version = np.asarray(table.column("model_version").to_numpy(), dtype=np.int64)
    other_versions: dict[int, int] = {}
    if model_version is not None:
        keep = np.ones(ts.size, dtype=bool) if keep is None else keep
        other = keep & (version != model_version)
        for v, c in zip(*np.unique(version[other], return_counts=True), strict=True):
            other_versions[int(v)] = int(c)
        keep &= version == model_version
    proba = None
    if with_proba:
        if seg_classes is None:
            raise ValueError("file metadata key 'classes' is missing")
        proba = _proba_matrix(table.column("proba"), seg_classes, cls)
    if keep is not None and not keep.all():
        table = table.filter(pa.array(keep))
        ts, version = ts[keep], version[keep]
        proba = None if proba is None else proba[keep]
    inputs = {}
    for f in features:
        name = f"in.{f}"
        inputs[f] = (
            table.column(name)
            if name in table.column_names
            # an input the server did not log: every value missing
            else pa.chunked_array([pa.nulls(len(ts))])
        )
    return PredSegment(
        request_id=_strings(table.column("request_id"), "request_id"),
        prediction=_labels(table.column("prediction"), "prediction"),
        row=np.asarray(table.column("row").to_numpy(), dtype=np.int32),
        ts=ts,
        version=version,
        proba=proba,
        inputs=inputs,
        other_versions=other_versions,
    )


def feedback_segment(path: Path, lo: int | None) -> tuple[Any, ...] | None:
    """(request ids, rows, labels, µs times) of a feedback segment, or None."""
    got = _read_segment(path, ["request_id", "row", "label", "ts"], lo, None, dictionary=("label",))
    if got is None:
        return None
    table, _ = got
    return (
        _strings(table.column("request_id"), "request_id"),
        np.asarray(table.column("row").to_numpy(), dtype=np.int32),
        _labels(table.column("label"), "label"),
        _micros(table.column("ts")),
    )
