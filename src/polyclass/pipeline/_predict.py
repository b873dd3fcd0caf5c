"""Batch prediction of a file, streamed in chunks so files larger than memory work."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polyclass.data import DataError, iter_table_chunks
from polyclass.model import Model

OUTPUT_EXTENSIONS = (".csv", ".parquet")


def prediction_frame(model: Model, chunk: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """The predictions of ``chunk``'s rows: the ``keep`` columns, ``prediction`` and one
    ``proba_<class>`` column per class (the one layout of batch predictions)."""
    labels: Any
    if len(chunk):
        labels, proba = model.predict_with_proba(chunk)
        out = pd.DataFrame({c: chunk[c].to_numpy() for c in keep})
    else:
        # an empty file or Dask part: the estimator refuses zero rows, and every column
        # keeps its type (an empty array of text objects would be written as Parquet's
        # null type, which a reader of all the parts cannot merge with their strings)
        labels = pd.Series(list(model.classes_)).iloc[:0]
        proba = np.empty((0, len(model.classes_)))
        out = chunk[keep].reset_index(drop=True)
    out["prediction"] = labels
    for j, c in enumerate(model.classes_):
        out[f"proba_{c}"] = proba[:, j]
    return out


def prediction_schema(first: Any, source: Any, keep: list[str]) -> Any:
    """The Arrow schema a Parquet file of predictions is written in, chunk after chunk.

    A chunk's pandas round trip types a kept column by its values (integers with a null
    among them come back as floats, text that is all null as Arrow's null type), and a
    Parquet writer takes every chunk in one schema.

    Parameters
    ----------
    first : pyarrow.Schema
        The first chunk's predictions (:func:`prediction_frame`) as Arrow gives them.
    source : pyarrow.Schema or None
        The input file's schema when it is Parquet: the kept columns are typed as there.
    keep : list of str
        The input columns copied into the predictions.

    Returns
    -------
    pyarrow.Schema
        ``first``'s columns, the kept ones typed as in ``source``.
    """
    import pyarrow as pa

    fields = list(first)
    if source is not None:
        fields = [source.field(f.name) if f.name in keep else f for f in fields]
    return pa.schema(fields)


def predict_file(
    model: Model,
    data: str | Path,
    output: str | Path,
    *,
    chunksize: int = 100_000,
    keep_columns: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Predict every row of ``data`` into ``output`` (.csv or .parquet); return the row count.

    Rows are read and written ``chunksize`` at a time. The output is written under a
    temporary name and renamed at the end, so a failed run leaves no partial file.
    """
    out = Path(output)
    if out.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise DataError(
            f"output {out} must end in {' or '.join(OUTPUT_EXTENSIONS)}; "
            "the extension chooses the format."
        )
    keep = list(keep_columns or [])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    writer: Any = None
    rows = 0
    try:
        # Training dtypes, so a chunk whose text column looks numeric keeps its type.
        dtypes = model.schema.csv_dtypes()
        for chunk in iter_table_chunks(data, chunksize, dtype=dtypes):
            missing = [c for c in keep if c not in chunk.columns]
            if missing:
                raise DataError(f"--keep column(s) {missing} are not in {data}.")
            frame = prediction_frame(model, chunk, keep)
            if out.suffix.lower() == ".csv":
                frame.to_csv(tmp, mode="a", header=rows == 0, index=False)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    parquet_in = Path(data).suffix.lower() in (".parquet", ".pq")
                    source = pq.read_schema(data) if parquet_in else None
                    schema = prediction_schema(table.schema, source, keep)
                    writer = pq.ParquetWriter(tmp, schema)
                try:
                    table = table.cast(schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(
                        f"A --keep column of {data} changes type between chunks "
                        f"({_first_line(exc)}). Write the output as .csv, or pass a "
                        "--chunksize that holds the whole file."
                    ) from None
                writer.write_table(table)
            rows += len(frame)
            if progress is not None:
                progress(rows)
        if writer is not None:
            writer.close()
            writer = None
        if rows == 0:
            raise DataError(f"{data} has no rows to predict.")
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
