"""Batch prediction on a cluster: every Parquet part scored on a worker in parallel and
written as one part of a partitioned Parquet output (local or in a store)."""

from __future__ import annotations

import uuid
from typing import Any

from polyclass.scale._blocks import _is_local, read_part
from polyclass.scale._errors import ScaleError
from polyclass.scale._parts import discover


def _output_fs(output: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(output, **storage_options)
    return fs, str(root).rstrip("/")


def _predict_part(
    model: Any,
    url: str,
    index: int,
    output: str,
    keep: list[str],
    storage_options: dict[str, Any],
    output_options: dict[str, Any],
) -> int:
    """Score one part and write ``part-NNNNN.parquet`` (a temp name, then a rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from polyclass.pipeline import prediction_frame

    columns = list(dict.fromkeys([*model.schema.feature_names, *keep]))
    frame = read_part(url, columns, storage_options)
    out = prediction_frame(model, frame, keep)
    fs, root = _output_fs(output, output_options)
    final = f"{root}/part-{index:05d}.parquet"
    tmp = f"{root}/.part-{index:05d}.parquet.tmp-{uuid.uuid4().hex[:8]}"
    table = pa.Table.from_pandas(out, preserve_index=False)
    try:
        if _is_local(fs):
            pq.write_table(table, tmp)
        else:
            with fs.open(tmp, "wb") as handle:
                pq.write_table(table, handle)
        fs.mv(tmp, final)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)
    return len(out)


def predict_parts(
    client: Any,
    model: Any,
    data: str,
    output: str,
    *,
    keep_columns: list[str] | None = None,
    overwrite: bool = False,
    storage_options: dict[str, Any] | None = None,
    output_options: dict[str, Any] | None = None,
) -> int:
    """Predict every row of ``data`` (Parquet file, directory or glob) into the folder
    ``output`` as ``part-NNNNN.parquet`` files, one per input file, in parallel on the
    cluster; returns the row count.

    Raises
    ------
    ScaleError
        ``output`` holds parts already (without ``overwrite``), or an input column is
        missing.
    """
    options = dict(storage_options or {})
    out_options = dict(output_options or {})
    parts = discover(client, data, options)
    keep = list(keep_columns or [])
    wanted = [*model.schema.feature_names, *keep]
    missing = [c for c in wanted if c not in parts.columns]
    if missing:
        raise ScaleError(
            f"Column(s) {missing} are not in {parts.files[0]!r} (the model needs its features "
            "and --keep names columns to copy)."
        )
    fs, root = _output_fs(output, out_options)
    existing = [p for p in fs.glob(f"{root}/part-*.parquet")] if fs.exists(root) else []
    if existing and not overwrite:
        raise ScaleError(
            f"{output!r} already holds {len(existing)} prediction parts. Choose another "
            "folder, or pass --overwrite to replace them."
        )
    fs.makedirs(root, exist_ok=True)
    for path in existing:
        fs.rm(path)
    shared = client.scatter(model, broadcast=True)
    futures = [
        client.submit(_predict_part, shared, url, i, output, keep, options, out_options, pure=False)
        for i, url in enumerate(parts.files)
    ]
    return int(sum(client.gather(futures)))


__all__ = ["predict_parts"]
