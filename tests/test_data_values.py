"""Nothing dropped or mangled without a word: numbers in text, identifiers, rare
categories and dates, the same in training, prediction and serving."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import polyclass
from polyclass.data import DataWarning, check_data, explore, infer_schema, parse_datetimes
from polyclass.pipeline import evaluate_model, train
from polyclass.preprocess import InputPlan, Preprocessor, Table
from polyclass.serve import load_served

BAD_ROWS = [3, 50, 51, 120, 200, 299]
FAST = {
    "C": [1.0],
    "class_weight": ["none"],
    "cv": 3,
    "n_bootstrap": 100,
    "families": ["linear"],
}


def _oops_table(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = np.where(x + rng.normal(0, 0.3, n) > 0, "hi", "lo")
    text = x.round(4).astype(str).astype(object)
    text[BAD_ROWS] = "oops"
    return pd.DataFrame({"x": text, "y": y})


def test_mostly_numeric_text_is_numeric_with_a_warning_naming_rows() -> None:
    df = _oops_table()
    schema = infer_schema(df, "y")
    feature = schema.feature("x")
    assert (feature.kind, feature.text_numbers) == ("numeric", True)
    result = check_data(df, "y", schema)
    [warning] = [w for w in result.warnings if w.code == "not_numbers"]
    assert warning.message.startswith(
        "Column 'x' has 6 value(s) that are not numbers (rows 3, 50, 51, 120, 200 and 1 more; "
        "e.g. 'oops')"
    )
    x = result.apply(df)["x"].to_numpy()
    assert x.dtype == np.float64 and np.isnan(x[BAD_ROWS]).all()
    assert np.isfinite(np.delete(x, BAD_ROWS)).all()
    # the raw table explored as the model reads it (what `polyclass evaluate` does)
    assert explore(df, result.schema)["features"]["x"]["count"] == 294


def test_prediction_reads_bad_numbers_as_missing_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "oops.csv"
    _oops_table().to_csv(path, index=False)
    result = train(data=path, target="y", out=tmp_path / "out", register=False, **FAST)
    model = polyclass.load(result.artifact_path)
    rows = pd.DataFrame({"x": ["1.5", "oops", None]})
    with pytest.warns(DataWarning, match=r"Column 'x' has 1 value\(s\) that are not numbers"):
        proba = model.predict_proba(rows)
    # a bad value is a missing one: the same probabilities as None
    np.testing.assert_allclose(proba[1], proba[2])
    served = load_served(result.artifact_path)
    table = Table(3, {"x": ["1.5", "oops", None]})
    encoded = served.plan.encode(table)
    assert encoded.warnings and "rows 1;" in encoded.warnings[0]
    with pytest.warns(DataWarning):
        expected = model.preprocessor.transform(rows)
    np.testing.assert_allclose(encoded.X, expected)
    with pytest.warns(DataWarning, match="not numbers"):
        evaluated = evaluate_model(model, path, tmp_path / "evaluated")
    assert evaluated.report_path.is_file()


def test_near_unique_text_is_an_identifier_and_rare_categories_are_warned() -> None:
    rng = np.random.default_rng(1)
    n = 300
    names = [f"car {i}" for i in range(n)]
    names[7] = names[8]  # 299 distinct of 300
    df = pd.DataFrame(
        {
            "name": names,
            "model": [f"m{i}" for i in rng.integers(0, 120, n)],  # mostly 1-4 rows each
            "x": rng.normal(size=n),
            "y": rng.choice(["a", "b"], n),
        }
    )
    result = check_data(df, "y", infer_schema(df, "y"))
    assert result.dropped_columns["name"] == "id_like_column"
    ident = next(w for w in result.warnings if w.column == "name")
    assert "299 distinct values in 300 rows" in ident.message
    rare = next(w for w in result.warnings if w.code == "rare_categories")
    assert rare.column == "model" and "'__rare__'" in rare.message
    summary = explore(result.apply(df), result.schema)
    assert summary["dropped_columns"] == {
        "name": "identifier: a distinct value in (nearly) every row"
    }


def _seasons(n: int = 730, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2012-01-01", periods=n, freq="D")
    summer = np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 200) / 365.25)
    y = np.where(summer + rng.normal(0, 0.3, n) > 0, "sun", "rain")
    return pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "noise": rng.normal(size=n), "y": y})


def test_iso_dates_become_seasonal_features(tmp_path: Path) -> None:
    df = _seasons()
    schema = infer_schema(df, "y")
    assert schema.feature("date").kind == "datetime"
    dates = explore(df, schema)["features"]["date"]
    assert (dates["first"], dates["last"]) == ("2012-01-01T00:00:00", "2013-12-30T00:00:00")
    assert "date" not in check_data(df, "y", schema).dropped_columns
    path = tmp_path / "weather.csv"
    df.to_csv(path, index=False)
    result = train(data=path, target="y", out=tmp_path / "out", register=False, **FAST)
    assert result.test_metrics["metrics"]["accuracy"]["value"] > 0.75
    model = polyclass.load(result.artifact_path)
    names = model.preprocessor.get_feature_names_out().tolist()
    assert "date.day_of_year_sin" in names and "date.year" in names
    # the same rows as ISO text, pandas Timestamps, datetime64 and through the server's plan
    text_rows = [{"date": "2013-07-15", "noise": 0.0}, {"date": "2013-01-15", "noise": 0.0}]
    ts_rows = [{"date": pd.Timestamp(r["date"]), "noise": 0.0} for r in text_rows]
    want = model.predict_proba(text_rows)
    np.testing.assert_allclose(model.predict_proba(ts_rows), want)
    frame = pd.DataFrame({"date": pd.to_datetime(["2013-07-15", "2013-01-15"]), "noise": 0.0})
    np.testing.assert_allclose(model.predict_proba(frame), want)
    assert model.predict(text_rows).tolist() == ["sun", "rain"]
    served = load_served(result.artifact_path)
    table = Table(2, {"date": ["2013-07-15", "2013-01-15"], "noise": [0.0, 0.0]})
    prediction = served.predict(table)
    np.testing.assert_allclose(prediction.proba, want)
    assert prediction.encoded.categorical == [["2013-07-15T00:00:00", "2013-01-15T00:00:00"]]


def test_parquet_timestamps_with_times_get_an_hour(tmp_path: Path) -> None:
    times = pd.date_range("2024-03-01 00:30", periods=48, freq="h", tz="Europe/Oslo")
    df = pd.DataFrame({"at": times, "y": ["a", "b"] * 24})
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    back = pd.read_parquet(path)
    feature = infer_schema(back, "y").feature("at")
    assert feature.kind == "datetime" and feature.date_parts is not None
    assert "hour" in feature.date_parts
    pre = Preprocessor(infer_schema(back, "y")).fit(back)
    plan = InputPlan(pre)
    iso = [t.isoformat() for t in times[:3]]  # with the +01:00 offset: wall-clock time kept
    encoded = plan.encode(Table(3, {"at": iso}))
    np.testing.assert_allclose(encoded.X, pre.transform(back.head(3)))


def test_date_parser_reads_iso_variants_and_names_bad_values() -> None:
    values: list[Any] = ["2012-02-29", "2012-02-29T13:05:09Z", "2012-02-29 13:05", None, "soon"]
    times, bad = parse_datetimes(values)
    assert [str(t) for t in times.tolist()[:3]] == [
        "2012-02-29 00:00:00",
        "2012-02-29 13:05:09",
        "2012-02-29 13:05:00",
    ]
    assert bad.tolist() == [False, False, False, False, True]
    assert bool(parse_datetimes(["2012-02-30"])[1][0])


def test_cli_predict_names_a_bad_number_instead_of_a_csv_hint(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from polyclass.cli import app
    from polyclass.datasets import penguins_path

    result = train(
        data=penguins_path(), target="species", out=tmp_path / "out", register=False, **FAST
    )
    bad = pd.read_csv(penguins_path())
    bad["bill_length_mm"] = bad["bill_length_mm"].astype(object)
    bad.loc[17, "bill_length_mm"] = "oops"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = CliRunner().invoke(
        app, ["predict", str(result.artifact_path), str(path), "-o", str(tmp_path / "p.csv")]
    )
    assert out.exit_code == 2, out.output
    assert "Column 'bill_length_mm' expects numbers, but row 17 holds 'oops'" in out.output
    assert "UTF-8" not in out.output


def test_cli_predict_reads_bad_numbers_as_missing_where_training_did(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from polyclass.cli import app

    path = tmp_path / "oops.csv"
    _oops_table().to_csv(path, index=False)
    result = train(data=path, target="y", out=tmp_path / "out", register=False, **FAST)
    out = CliRunner().invoke(
        app, ["predict", str(result.artifact_path), str(path), "-o", str(tmp_path / "p.csv")]
    )
    assert out.exit_code == 0, out.output
    # the DataWarning as one clean line: no file:line, category or source line
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("warning: Column 'x' has 6 value(s) that are not numbers")
    assert len(pd.read_csv(tmp_path / "p.csv")) == 300


def test_server_takes_iso_dates_and_text_numbers_and_logs_them(tmp_path: Path) -> None:
    import sys

    from starlette.testclient import TestClient

    from polyclass.serve import ServeConfig, create_app

    sys.path.insert(0, str(Path(__file__).parent))
    from _serve_helpers import read_log

    df = _seasons(400)
    df["level"] = _oops_table(400)["x"]
    path = tmp_path / "weather.csv"
    df.to_csv(path, index=False)
    result = train(data=path, target="y", out=tmp_path / "out", register=False, **FAST)
    model = polyclass.load(result.artifact_path)
    rows = [
        {"date": "2013-07-15", "noise": 0.1, "level": "0.5"},
        {"date": "2013-01-15T08:00:00Z", "noise": -0.2, "level": "oops"},
    ]
    with pytest.warns(DataWarning):
        want = model.predict_proba(rows)
    config = ServeConfig(str(result.artifact_path), log_dir=str(tmp_path / "log"), poll_interval=0)
    client = TestClient(create_app(config, access_stream=io.StringIO()))
    client.__enter__()
    try:
        r = client.post("/invocations", json={"dataframe_records": rows})
        assert r.status_code == 200, r.text
        got = np.asarray([p for p in r.json()["predictions"]], dtype=object)
        assert len(got) == 2
        csv_body = "date,noise,level\n2013-07-15,0.1,0.5\n2013-01-15T08:00:00Z,-0.2,oops\n"
        r = client.post("/invocations", content=csv_body, headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
    finally:
        client.__exit__(None, None, None)  # shutdown flushes the log
    [folder] = (tmp_path / "log" / "logs").iterdir()
    table = read_log(folder / "predictions")
    assert table.column("in.date").to_pylist()[:2] == ["2013-07-15T00:00:00", "2013-01-15T08:00:00"]
    proba_cols = [c for c in table.column_names if c.startswith("proba")]
    [proba_col] = proba_cols
    logged = np.asarray(table.column(proba_col).to_pylist()[:2], dtype=np.float64)
    np.testing.assert_allclose(logged, want)


def test_cli_and_report_show_a_near_unique_identifier(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from polyclass.cli import app

    df = _oops_table()
    df["name"] = [f"car {i}" for i in range(len(df))]
    df.loc[7, "name"] = df.loc[8, "name"]  # 299 distinct of 300
    path = tmp_path / "cars.csv"
    df.to_csv(path, index=False)
    out = CliRunner().invoke(
        app,
        [
            *("train", str(path), "--target", "y", "--out", str(tmp_path / "out")),
            *("--no-register", "--C", "1", "--class-weight", "none", "--cv", "3"),
            *("--families", "linear"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "Column 'name' has almost one value per row" in " ".join(out.output.split())
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Columns left out" in report and "identifier: a distinct value" in report
