"""Batch prediction into Parquet, chunk by chunk: a kept column that pandas types by each
chunk's values is written as the input types it, or refused with the way out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polyclass.data import DataError, infer_schema
from polyclass.linear import LogisticRegression
from polyclass.model import Model
from polyclass.pipeline import predict_file


def _model_and_rows() -> tuple[Model, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"x": rng.normal(size=250), "z": rng.normal(size=250)})
    rows["label"] = np.where(rows["x"] + rows["z"] > 0, "yes", "no")
    schema = infer_schema(rows, "label")
    from polyclass.preprocess import Preprocessor

    pre = Preprocessor(schema).fit(rows)
    est = LogisticRegression().fit(pre.transform(rows), rows["label"])
    return Model(schema, pre, est, info={"target": "label"}), rows


def test_parquet_chunks_keep_the_input_types(tmp_path: Path) -> None:
    model, rows = _model_and_rows()
    source = pa.Table.from_pandas(rows, preserve_index=False)
    ids = pa.array([None if i >= 100 and i % 2 else i for i in range(250)], pa.int64())
    notes = pa.array([None] * 100 + ["x"] * 150, pa.string())
    source = source.append_column("id", ids).append_column("note", notes)
    pq.write_table(source, tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    n = predict_file(
        model, tmp_path / "in.parquet", out, chunksize=100, keep_columns=["id", "note"]
    )
    assert n == 250
    written = pq.read_table(out)
    assert written.column("id").equals(source.column("id"))
    assert written.column("note").equals(source.column("note"))
    np.testing.assert_array_equal(written.column("prediction").to_numpy(), model.predict(rows))


def test_a_csv_column_that_changes_type_is_refused_with_the_way_out(tmp_path: Path) -> None:
    model, rows = _model_and_rows()
    rows["note"] = [None] * 100 + ["x"] * 150  # the first chunk reads as all-missing numbers
    rows.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.parquet"
    with pytest.raises(DataError, match=r"changes type between chunks.*\.csv.*--chunksize"):
        predict_file(model, tmp_path / "in.csv", out, chunksize=100, keep_columns=["note"])
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))
    assert predict_file(model, tmp_path / "in.csv", out, chunksize=1000, keep_columns=["note"])
