"""``polyclass predict|evaluate --dask`` against a real cluster, checked against the
single-node commands and scikit-learn on the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from typer.testing import CliRunner

from polyclass.cli import app
from polyclass.data import infer_schema
from polyclass.linear import LogisticRegression
from polyclass.model import Model
from polyclass.preprocess import Preprocessor

runner = CliRunner()
FEATURES = ["a", "b", "c", "d", "flat", "colour"]


@pytest.fixture(scope="module")
def model_dir(table: tuple[pd.DataFrame, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    df, _ = table
    schema = infer_schema(df[[*FEATURES, "label"]], "label")
    pre = Preprocessor(schema).fit(df)
    est = LogisticRegression().fit(pre.transform(df), df["label"])
    model = Model(schema, pre, est, info={"target": "label"})
    return model.save(tmp_path_factory.mktemp("scale-model") / "model")


def test_predict_dask_writes_the_single_node_predictions(
    client: Any, table: tuple[pd.DataFrame, Path], model_dir: Path, tmp_path: Path
) -> None:
    df, folder = table
    out = tmp_path / "pred"
    address = client.scheduler.address
    args = ["predict", str(model_dir), str(folder), "-o", str(out), "--keep", "w"]
    result = runner.invoke(app, [*args, "--dask", address])
    assert result.exit_code == 0, result.output
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 5 and not list(out.glob(".*"))  # no temp files left
    got = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    single = tmp_path / "single.parquet"
    df.to_parquet(tmp_path / "all.parquet", index=False)
    assert (
        runner.invoke(
            app,
            [
                "predict",
                str(model_dir),
                str(tmp_path / "all.parquet"),
                "-o",
                str(single),
                "--keep",
                "w",
            ],
        ).exit_code
        == 0
    )
    pd.testing.assert_frame_equal(got, pd.read_parquet(single))
    again = runner.invoke(app, [*args, "--dask", address])
    assert again.exit_code == 2 and "already holds 5 prediction parts" in again.output


def test_evaluate_dask_equals_one_pass(
    client: Any, table: tuple[pd.DataFrame, Path], model_dir: Path, tmp_path: Path
) -> None:
    df, folder = table
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(model_dir),
            str(folder),
            "-o",
            str(out),
            "--dask",
            client.scheduler.address,
        ],
    )
    assert result.exit_code == 0, result.output
    got = json.loads((out / "metrics.json").read_text())["metrics"]
    model = Model.load(model_dir)
    pred, proba = model.predict_with_proba(df)
    y = df["label"].to_numpy()
    assert got["rows"] == len(df)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred), abs=1e-12)
    assert got["f1_macro"] == pytest.approx(sk.f1_score(y, pred, average="macro"), abs=1e-12)
    assert got["mcc"] == pytest.approx(sk.matthews_corrcoef(y, pred), abs=1e-12)
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, proba, labels=model.classes_), rel=1e-12)
    auc = sk.roc_auc_score(y, proba, multi_class="ovr", labels=model.classes_)
    assert got["roc_auc_ovr"] == pytest.approx(auc, abs=1e-12)
    np.testing.assert_array_equal(got["confusion_matrix"], sk.confusion_matrix(y, pred))


def test_parts_written_empty_are_predicted_evaluated_and_trained_around(
    client: Any, table: tuple[pd.DataFrame, Path], model_dir: Path, tmp_path: Path
) -> None:
    """Spark and Dask write an empty file for an empty partition; the first one here."""
    df, folder = table
    parts = tmp_path / "parts"
    parts.mkdir()
    # typed as Spark writes it (pandas writes an empty object column as Parquet's null)
    df.iloc[:0].astype({"colour": "str"}).to_parquet(parts / "part-000.parquet", index=False)
    for i, path in enumerate(sorted(folder.glob("*.parquet")), start=1):
        (parts / f"part-{i:03d}.parquet").write_bytes(path.read_bytes())
    address = client.scheduler.address
    out = tmp_path / "pred"
    args = ["predict", str(model_dir), str(parts), "-o", str(out), "--keep", "colour"]
    result = runner.invoke(app, [*args, "--dask", address])
    assert result.exit_code == 0, result.output
    # one output part per input part, readable together (types agree with the empty one)
    assert len(list(out.glob("part-*.parquet"))) == 6
    got = pd.read_parquet(out)
    model = Model.load(model_dir)
    pred, _ = model.predict_with_proba(df)
    np.testing.assert_array_equal(got["prediction"].to_numpy(), pred)
    assert got["colour"].fillna("-").tolist() == df["colour"].fillna("-").tolist()

    evaluated = tmp_path / "eval"
    args = ["evaluate", str(model_dir), str(parts), "-o", str(evaluated), "--dask", address]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((evaluated / "metrics.json").read_text())["metrics"]
    assert metrics["rows"] == len(df)
    assert metrics["accuracy"] == pytest.approx(sk.accuracy_score(df["label"], pred), abs=1e-12)

    flags = ["--strategies", "multinomial", "--C", "1", "--class-weight", "none", "--cv", "2"]
    args = ["train", str(parts), "--target", "label", *flags, "-o", str(tmp_path / "fit")]
    result = runner.invoke(app, [*args, "--no-register", "--dask", address])
    assert result.exit_code == 0, result.output
    fitted = json.loads((tmp_path / "fit" / "metrics.json").read_text())
    assert fitted["dask"]["parts"] == 5 and fitted["dask"]["converged"]


def test_a_kept_column_typed_differently_by_its_batches(
    table: tuple[pd.DataFrame, Path], model_dir: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """A part is scored batch by batch; a kept column whose values make pandas type one
    batch otherwise than the next (integers with a null, text all null) is written as the
    input file types it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from polyclass.scale import _predict

    df, _ = table
    rows = df.iloc[:250].reset_index(drop=True)
    source = pa.Table.from_pandas(rows, preserve_index=False)
    ids = pa.array([None if i >= 100 and i % 2 else i for i in range(250)], pa.int64())
    notes = pa.array([None] * 100 + ["x"] * 150, pa.string())
    source = source.append_column("id", ids).append_column("note", notes)
    pq.write_table(source, tmp_path / "in.parquet")
    monkeypatch.setattr(_predict, "BATCH_ROWS", 100)
    out = tmp_path / "out"
    out.mkdir()
    model = Model.load(model_dir)
    keep = ["id", "note"]
    n = _predict._predict_part(model, str(tmp_path / "in.parquet"), 0, str(out), keep, {}, {})
    assert n == 250
    written = pq.read_table(out / "part-00000.parquet")
    assert written.column("id").equals(source.column("id"))
    assert written.column("note").equals(source.column("note"))
    pred, _ = model.predict_with_proba(rows)
    np.testing.assert_array_equal(written.column("prediction").to_numpy(), pred)


def test_a_failed_predict_leaves_the_output_as_it_was(
    client: Any, table: tuple[pd.DataFrame, Path], model_dir: Path, tmp_path: Path
) -> None:
    _, folder = table
    out = tmp_path / "pred"
    address = client.scheduler.address
    args = ["predict", str(model_dir), str(folder), "-o", str(out), "--dask", address]
    assert runner.invoke(app, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # a part whose footer reads but whose data does not: found only while scoring it
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in sorted(folder.glob("*.parquet")):
        (broken / path.name).write_bytes(path.read_bytes())
    last = sorted(broken.glob("*.parquet"))[-1]
    data = bytearray(last.read_bytes())
    data[8:200] = bytes(192)
    last.write_bytes(bytes(data))
    args = ["predict", str(model_dir), str(broken), "-o", str(out), "--overwrite"]
    result = runner.invoke(app, [*args, "--dask", address])
    assert result.exit_code != 0
    # the earlier predictions whole, nothing of the failed run
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_dask_unreachable_is_one_error_line(model_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "predict",
            str(model_dir),
            str(tmp_path),
            "-o",
            str(tmp_path / "o"),
            "--dask",
            "tcp://127.0.0.1:9",
        ],
    )
    assert result.exit_code == 2
    assert "Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
