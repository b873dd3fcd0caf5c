"""Tests of polyclass.data: loading, schema, checks, exploration, split, bundled dataset."""

from __future__ import annotations

import doctest
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyclass.data as data
from polyclass.data import (
    DataError,
    Schema,
    check_data,
    explore,
    infer_schema,
    iter_table_chunks,
    load_table,
    min_class_size,
    stratified_split,
)
from polyclass.datasets import load_penguins, penguins_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return load_penguins()


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b", "c"], size=n),
            "y": np.repeat(["p", "q", "r"], n // 3),
        }
    )


# ---------------------------------------------------------------- dataset
def test_penguins_bundle(penguins: pd.DataFrame) -> None:
    assert penguins.shape == (344, 8)
    assert penguins["species"].value_counts().to_dict() == {
        "Adelie": 152,
        "Gentoo": 124,
        "Chinstrap": 68,
    }
    assert int(penguins["sex"].isna().sum()) == 11
    assert int(penguins["bill_length_mm"].isna().sum()) == 2
    licence = (penguins_path().parent / "LICENSE-penguins.txt").read_text()
    assert "CC0" in licence and "Gorman" in licence and "Horst" in licence
    assert (ROOT / "examples" / "penguins.csv").read_bytes() == penguins_path().read_bytes()


# ------------------------------------------------------------------- load
def test_load_csv_and_parquet_agree(tmp_path: Path, penguins: pd.DataFrame) -> None:
    pq_path = tmp_path / "p.parquet"
    penguins.to_parquet(pq_path)
    back = load_table(pq_path)
    pd.testing.assert_frame_equal(back, penguins, check_dtype=False)
    sub = load_table(pq_path, columns=["species", "year"])
    assert list(sub.columns) == ["species", "year"]
    tsv = tmp_path / "p.tsv"
    penguins.to_csv(tsv, sep="\t", index=False)
    pd.testing.assert_frame_equal(load_table(tsv), penguins)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_cover_table(tmp_path: Path, penguins: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    if suffix == ".csv":
        penguins.to_csv(path, index=False)
    else:
        penguins.to_parquet(path, row_group_size=100)
    chunks = list(iter_table_chunks(path, 150, columns=["species", "sex"]))
    assert all(len(c) <= 150 for c in chunks)
    whole = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(whole, penguins[["species", "sex"]], check_dtype=False)


def test_chunks_keep_training_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("zip,y\n02134,a\n02135,b\n,a\nX1,b\n")
    schema = infer_schema(load_table(path, dtype={"zip": "str"}), "y")
    first = next(iter_table_chunks(path, 2, dtype=schema.csv_dtypes()))
    assert first["zip"].tolist() == ["02134", "02135"]


def test_csv_read_in_chunks_keeps_types(tmp_path: Path) -> None:
    n = 25_000  # three chunks of 10,000 rows with two columns
    text = np.where(np.arange(n) < 12_000, None, "t").astype(object)
    df = pd.DataFrame({"text": text, "num": np.r_[np.arange(n - 1), 0.5]})
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    back = load_table(path)
    assert back["text"].dtype == "str" and back["text"].isna().sum() == 12_000
    assert back["num"].dtype == np.float64 and back["num"].iloc[-1] == 0.5
    assert back.index.equals(pd.RangeIndex(n))
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    assert list(load_table(header_only).columns) == ["a", "b"]


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"No such file: '.*nope\.csv'"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unknown file type '\.xlsx'.*\.csv.*\.parquet"):
        load_table(tmp_path / "t.xlsx")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"Could not read .*bad\.parquet' as PARQUET"):
        load_table(bad)
    with pytest.raises(DataError, match=r"Could not read .* as PARQUET"):
        list(iter_table_chunks(bad, 10))
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"a,b\n\xff\xfe\x00\x81,2\n")
    with pytest.raises(DataError, match=r"Could not read .*bin\.csv' as CSV"):
        load_table(binary)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"is empty"):
        load_table(empty)
    with pytest.raises(DataError, match=r"has no column\(s\) \['nope'\]. Available columns"):
        load_table(penguins_path(), columns=["species", "nope"])
    with pytest.raises(DataError, match=r"is a directory"):
        load_table(tmp_path / "dir.csv") if (tmp_path / "dir.csv").mkdir() is None else None
    with pytest.raises(DataError, match=r"chunksize must be a positive integer"):
        list(iter_table_chunks(penguins_path(), 0))


# ----------------------------------------------------------------- schema
def test_infer_schema_penguins(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins, "species")
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {
        "island": "categorical",
        "bill_length_mm": "numeric",
        "bill_depth_mm": "numeric",
        "flipper_length_mm": "numeric",
        "body_mass_g": "numeric",
        "sex": "categorical",
        "year": "numeric",
    }
    assert schema.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert schema.feature("sex").categories == ("female", "male")
    assert schema.feature("sex").allow_missing and not schema.feature("island").allow_missing
    again = Schema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema
    over = infer_schema(penguins, "species", overrides={"year": "categorical"}, drop=["sex"])
    assert over.feature("year").categories == (2007, 2008, 2009)
    assert over.dropped == {"sex": "user"} and "sex" not in over.feature_names


def test_infer_schema_kinds() -> None:
    df = pd.DataFrame(
        {
            "b": [True, False, True, False],
            "bo": pd.Series([True, None, False, True], dtype=object),
            "flag": [0, 1, 1, 0],
            "when": pd.date_range("2020-01-01", periods=4),
            "cat": pd.Series(["u", "v", "u", "v"], dtype="category"),
            "y": ["a", "b", "a", "b"],
        }
    )
    schema = infer_schema(df, "y", overrides={"flag": "boolean"})
    kinds = {f.name: (f.kind, f.value_type) for f in schema.features}
    assert kinds == {
        "b": ("boolean", "bool"),
        "bo": ("boolean", "bool"),
        "flag": ("boolean", "bool"),
        "when": ("datetime", "str"),
        "cat": ("categorical", "str"),
    }
    assert schema.dropped == {}
    assert schema.csv_dtypes() == {"when": "str", "cat": "str"}


def test_infer_schema_errors(penguins: pd.DataFrame) -> None:
    with pytest.raises(
        DataError,
        match=r"Target column 'Species' is not in the table. Did you "
        r"mean 'species'\? Columns: \['species', 'island'",
    ):
        infer_schema(penguins, "Species")
    with pytest.raises(DataError, match=r"Column 'yeer' is not in the table. Did you mean 'year'"):
        infer_schema(penguins, "species", overrides={"yeer": "categorical"})
    with pytest.raises(
        DataError,
        match=r"must be one of \['numeric', 'categorical', 'boolean', 'datetime'\]. "
        r"Got 'text' instead",
    ):
        infer_schema(penguins, "species", overrides={"sex": "text"})
    with pytest.raises(DataError, match=r"'island' holds text and cannot be treated as numeric"):
        infer_schema(penguins, "species", overrides={"island": "numeric"})
    with pytest.raises(DataError, match=r"'year' cannot be treated as boolean"):
        infer_schema(penguins, "species", overrides={"year": "boolean"})
    with pytest.raises(DataError, match=r"'species' is the target column"):
        infer_schema(penguins, "species", drop=["species"])
    mixed = pd.DataFrame({"m": pd.Series([1, "a", 2.5], dtype=object), "y": [0, 1, 0]})
    with pytest.raises(DataError, match=r"Column 'm' mixes value types .*row 0: 1, row 1: 'a'"):
        infer_schema(mixed, "y")
    with pytest.raises(DataError, match=r"Malformed schema"):
        Schema.from_dict({"features": []})
    with pytest.raises(DataError, match=r"kind must be one of"):
        Schema.from_dict(
            {
                "target": "y",
                "features": [{"name": "x", "kind": "text", "dtype": "str", "value_type": "str"}],
            }
        )


# ----------------------------------------------------------------- checks
def test_check_penguins_clean(penguins: pd.DataFrame) -> None:
    result = check_data(penguins, "species", infer_schema(penguins, "species"))
    assert {w.code for w in result.warnings} == {"missing_values"}
    assert result.keep_rows is None and result.n_rows == 344
    assert result.missing_by_column["sex"] == 11
    sex = next(w for w in result.warnings if w.column == "sex")
    assert sex.message.startswith("Column 'sex' has 11 missing value(s) (3.2%; rows 3, 8, 9")
    json.dumps(result.to_dict(), allow_nan=False)


def test_check_drops_bad_columns(penguins: pd.DataFrame) -> None:
    df = penguins.copy()
    rng = np.random.default_rng(0)
    df["copy"] = df["species"].str.upper()
    df["code"] = df["species"].map({"Adelie": 0.0, "Gentoo": 1.0, "Chinstrap": 2.0}) + (
        rng.normal(0, 1e-3, len(df))
    )
    df["row_id"] = np.arange(1000, 1000 + len(df))
    df["name"] = [f"bird-{i}" for i in range(len(df))]
    df["const"] = "same"
    df["empty"] = np.nan
    df.loc[[5, 40], "species"] = None
    df.loc[7, "bill_length_mm"] = np.inf
    result = check_data(df, "species", infer_schema(df, "species"))
    assert result.dropped_columns == {
        "copy": "target_leakage",
        "code": "target_leakage",
        "row_id": "id_like_column",
        "name": "id_like_column",
        "const": "constant_column",
        "empty": "constant_column",
    }
    by = {(w.column, w.code): w.message for w in result.warnings}
    assert by[("species", "missing_target")] == (
        "2 row(s) have no value in target 'species' and were dropped (rows 5, 40)."
    )
    assert "leave-one-out accuracy 1.000 over 342 rows" in by[("copy", "target_leakage")]
    assert "looks like an identifier" in by[("name", "id_like_column")]
    assert "has a single value ('same')" in by[("const", "constant_column")]
    assert "is entirely missing" in by[("empty", "constant_column")]
    assert result.infinite_by_column == {"bill_length_mm": 1}
    assert "treated as missing" in by[("bill_length_mm", "infinite_values")]
    # row numbers are positions in the original table, also after dropping rows
    assert "rows 3, 8, 9, 10, 11" in by[("sex", "missing_values")]
    assert result.keep_rows is not None and int(result.keep_rows.sum()) == 342
    applied = result.apply(df)
    assert list(applied.columns) == [*result.schema.feature_names, "species"]
    assert len(applied) == 342
    kept = check_data(df, "species", infer_schema(df, "species"), keep=["row_id"])
    assert "row_id" in kept.schema.feature_names
    assert any("kept as asked" in w.message for w in kept.warnings)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_check_no_false_alarms(name: str) -> None:
    from sklearn import datasets

    df = getattr(datasets, f"load_{name}")(as_frame=True).frame
    result = check_data(df, "target", infer_schema(df, "target"))
    assert set(result.schema.dropped.values()) <= {"constant_column"}
    assert "target_leakage" not in {w.code for w in result.warnings}


def test_check_fatal_errors(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins, "species")
    with pytest.raises(
        DataError,
        match=r"Target column 'specis' is not in the table. Did you "
        r"mean 'species'\? Columns: \[",
    ):
        check_data(penguins, "specis", schema)
    one = penguins[penguins["species"] == "Adelie"]
    with pytest.raises(DataError, match=r"has a single class \('Adelie', 152 rows\)"):
        check_data(one, "species", schema)
    few = pd.concat(
        [
            penguins[penguins["species"] != "Chinstrap"],
            penguins[penguins["species"] == "Chinstrap"].head(4),
        ]
    )
    with pytest.raises(
        DataError,
        match=r"'Chinstrap' has 4\. The split \(test_size=0.2, "
        r"val_size=0.2\) and 5-fold cross-validation need at "
        r"least 7 rows per class",
    ):
        check_data(few, "species", schema)
    check_data(few, "species", schema, n_splits=2)  # 4 - 1 - 1 = 2 training rows suffice
    reg = pd.DataFrame({"x": np.arange(30.0), "y": np.linspace(0, 1, 30)})
    with pytest.raises(DataError, match=r"looks like a regression target"):
        check_data(reg, "y", infer_schema(reg, "y"))
    with pytest.raises(DataError, match=r"Feature column\(s\) \['gone'\] from the schema"):
        check_data(
            penguins.drop(columns=[]),
            "species",
            Schema(
                "species",
                [
                    *schema.features,
                    schema.features[0].__class__("gone", "numeric", "float64", "float"),
                ],
            ),
        )
    dup = pd.DataFrame([[1, 2, "a"]], columns=["a", "a", "y"])
    with pytest.raises(DataError, match=r"duplicate column names \['a'\]"):
        check_data(dup, "y", Schema("y", []))
    nothing = pd.DataFrame({"c": [1] * 20, "y": ["a", "b"] * 10})
    with pytest.raises(DataError, match=r"No usable feature columns left"):
        check_data(
            nothing, "y", infer_schema(nothing, "y"), test_size=0.1, val_size=0.1, n_splits=2
        )


# ---------------------------------------------------------------- explore
def test_explore_penguins(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins, "species")
    summary = explore(penguins, schema)
    json.dumps(summary, allow_nan=False)
    assert summary["sample"]["exact"] is True
    assert {c["class"]: c["count"] for c in summary["class_balance"]} == {
        "Adelie": 152,
        "Gentoo": 124,
        "Chinstrap": 68,
    }
    assert summary["missingness"]["sex"] == {"count": 11, "fraction": 11 / 344}
    mass = summary["features"]["body_mass_g"]
    assert mass["median"] == penguins["body_mass_g"].median()
    assert math.isclose(mass["std"], penguins["body_mass_g"].std(ddof=0))
    means = penguins.groupby("species")["body_mass_g"].mean()
    for row in summary["per_class"]["body_mass_g"]["by_class"]:
        assert math.isclose(row["mean"], means[row["class"]])
    mix = {r["class"]: r["mix"] for r in summary["per_class"]["island"]["by_class"]}
    assert mix["Gentoo"] == {"Biscoe": 1.0, "Dream": 0.0, "Torgersen": 0.0}
    assoc = {a["feature"]: a["value"] for a in summary["correlations"]["target_association"]}
    from scipy.stats.contingency import association

    table = pd.crosstab(penguins["island"], penguins["species"]).to_numpy()
    assert math.isclose(assoc["island"], association(table, method="cramer"))
    ok = penguins[["flipper_length_mm", "species"]].dropna()
    grand = ok["flipper_length_mm"].mean()
    between = (
        ok.groupby("species")["flipper_length_mm"]
        .agg(lambda v: len(v) * (v.mean() - grand) ** 2)
        .sum()
    )
    total = ((ok["flipper_length_mm"] - grand) ** 2).sum()
    assert math.isclose(assoc["flipper_length_mm"], math.sqrt(between / total))
    pair = summary["correlations"]["numeric_pairs"][0]
    assert (pair["a"], pair["b"]) == ("flipper_length_mm", "body_mass_g")
    assert math.isclose(
        pair["pearson"], penguins["flipper_length_mm"].corr(penguins["body_mass_g"])
    )


def test_explore_samples_large_tables(penguins: pd.DataFrame) -> None:
    summary = explore(penguins, infer_schema(penguins, "species"), sample_size=100)
    assert summary["sample"]["exact"] is False and summary["sample"]["n_rows_used"] == 100
    assert "random sample of 100 rows" in summary["sample"]["note"]
    assert sum(c["count"] for c in summary["class_balance"]) == 344  # exact part


# ------------------------------------------------------------------ split
def test_split_deterministic_and_stratified(penguins: pd.DataFrame) -> None:
    y = penguins["species"]
    a = stratified_split(y, test_size=0.2, val_size=0.2, seed=3)
    b = stratified_split(y.to_numpy(), test_size=0.2, val_size=0.2, seed=3)
    c = stratified_split(y, test_size=0.2, val_size=0.2, seed=4)
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)
    every = np.concatenate([a.train, a.val, a.test])
    assert np.array_equal(np.sort(every), np.arange(len(y)))
    counts = y.iloc[a.test].value_counts().to_dict()
    assert counts == {"Adelie": 30, "Gentoo": 25, "Chinstrap": 14}
    assert a.val.dtype == np.int64 and np.all(np.diff(a.val) > 0)
    none = stratified_split(y, test_size=0.25, val_size=0.0)
    assert len(none.val) == 0 and len(none.test) == 86


def test_split_errors() -> None:
    with pytest.raises(
        DataError,
        match=r"class\(es\) 'b' \(2 rows\) have too few rows; .* "
        r"needs at least 3 rows",
    ):
        stratified_split(["a"] * 10 + ["b"] * 2)
    with pytest.raises(
        DataError,
        match=r"test_size must be a fraction in \[0, 1\) of all rows. "
        r"Got 1.5 instead",
    ):
        stratified_split(["a", "b"], test_size=1.5)
    with pytest.raises(DataError, match=r"test_size \+ val_size must be below 1"):
        stratified_split(["a", "b"], test_size=0.5, val_size=0.5)
    with pytest.raises(DataError, match=r"y has missing values \(first at row 1\)"):
        stratified_split(np.array(["a", None, "b"], dtype=object))


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=2, max_size=4),
    test=st.sampled_from([0.1, 0.2, 0.3]),
    val=st.sampled_from([0.0, 0.15, 0.2]),
    folds=st.integers(1, 5),
)
def test_min_class_size_is_exact(counts: list[int], test: float, val: float, folds: int) -> None:
    need = min_class_size(test, val, folds)
    sizes = [need + c for c in counts]
    y = np.repeat(np.arange(len(sizes)), sizes)
    split = stratified_split(y, test_size=test, val_size=val, seed=1)
    assert np.bincount(y[split.train]).min() >= folds
    assert np.bincount(y[split.test]).min() >= 1
    if val > 0:
        assert np.bincount(y[split.val]).min() >= 1
    if need > max(folds, 1) + (val > 0) + 1:
        y_small = np.repeat(np.arange(2), [need - 1, need])
        split = stratified_split(y_small, test_size=test, val_size=val)
        assert np.bincount(y_small[split.train]).min() < folds


# --------------------------------------------------------------- package
def _isort_key(name: str) -> tuple[int, str]:
    # ruff RUF022 order: CONSTANTS, then Classes, then functions
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_public_api_sorted_and_complete() -> None:
    assert data.__all__ == sorted(data.__all__, key=_isort_key)
    for name in data.__all__:
        assert getattr(data, name) is not None


def test_import_without_pandas() -> None:
    code = (
        "import sys, polyclass.data; "
        "assert 'pandas' not in sys.modules, 'pandas imported'; "
        "polyclass.data.Schema.from_dict({'target': 'y', 'features': []})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module", ["_load", "_schema", "_checks", "_explore", "_split", "_errors"])
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"polyclass.data.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_dataset_docstring_examples() -> None:
    import polyclass.datasets

    assert doctest.testmod(polyclass.datasets).failed == 0
