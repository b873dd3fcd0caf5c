"""Batch prediction on a cluster: every Parquet part scored on a worker in parallel and
written as one part of a partitioned Parquet output (local or in a store)."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

from polyclass.scale._blocks import _is_local
from polyclass.scale._errors import ScaleError
from polyclass.scale._parts import _filesystem, _url, discover

#: Rows scored at a time within a part (as single-node ``predict``): a part of any size
#: needs memory for one batch, and the batches' arrays are reused by the allocator.
BATCH_ROWS = 100_000


def _predict_part(
    model: Any,
    url: str,
    index: int,
    output: str,
    keep: list[str],
    storage_options: dict[str, Any],
    output_options: dict[str, Any],
) -> int:
    """Score one part batch by batch into ``part-NNNNN.parquet`` (a temp name, then a
    rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from polyclass.pipeline import prediction_frame, prediction_schema

    columns = list(dict.fromkeys([*model.schema.feature_names, *keep]))
    in_fs, source = _filesystem(url, storage_options)
    fs, root = _filesystem(output, output_options)
    root = str(root).rstrip("/")
    final = f"{root}/part-{index:05d}.parquet"
    tmp = f"{root}/.part-{index:05d}.parquet.tmp-{uuid.uuid4().hex[:8]}"
    rows = 0
    try:
        with ExitStack() as stack:
            reader = pq.ParquetFile(
                source if _is_local(in_fs) else stack.enter_context(in_fs.open(source, "rb"))
            )
            sink = tmp if _is_local(fs) else stack.enter_context(fs.open(tmp, "wb"))
            writer: Any = None
            schema = None
            for batch in reader.iter_batches(BATCH_ROWS, columns=columns, use_threads=False):
                out = prediction_frame(model, batch.to_pandas(), keep)
                table = pa.Table.from_pandas(out, preserve_index=False)
                if schema is None:
                    schema = prediction_schema(table.schema, reader.schema_arrow, keep)
                    writer = stack.enter_context(pq.ParquetWriter(sink, schema))
                writer.write_table(table.cast(schema))
                rows += len(out)
            if writer is None:  # a part without rows still gets its (empty) output
                empty = reader.read(columns=columns, use_threads=False).to_pandas()
                out = prediction_frame(model, empty, keep)
                table = pa.Table.from_pandas(out, preserve_index=False)
                table = table.cast(prediction_schema(table.schema, reader.schema_arrow, keep))
                pq.write_table(table, sink)
        fs.mv(tmp, final)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)
    return rows


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
    fs, root = _filesystem(output, out_options)
    root = str(root).rstrip("/")
    existing = [p for p in fs.glob(f"{root}/part-*.parquet")] if fs.exists(root) else []
    if existing and not overwrite:
        raise ScaleError(
            f"{output!r} already holds {len(existing)} prediction parts. Choose another "
            "folder, or pass --overwrite to replace them."
        )
    # every part is written to a staging folder and moved in only once all are: a run
    # that fails leaves the folder as it was (with --overwrite, the old parts still there)
    stage = f"{root}/.run-{uuid.uuid4().hex[:8]}"
    fs.makedirs(stage, exist_ok=True)
    try:
        shared = client.scatter(model, broadcast=True)
        futures = [
            client.submit(
                _predict_part,
                shared,
                url,
                i,
                _url(fs, stage),
                keep,
                options,
                out_options,
                pure=False,
            )
            for i, url in enumerate(parts.files)
        ]
        rows = int(sum(client.gather(futures)))
        for path in existing:
            fs.rm(path)
        for path in sorted(fs.glob(f"{stage}/part-*.parquet")):
            fs.mv(path, f"{root}/{path.rsplit('/', 1)[-1]}")
    finally:
        if fs.exists(stage):
            fs.rm(stage, recursive=True)
    return rows


__all__ = ["predict_parts"]
