"""Tests of polyclass.preprocess: sklearn parity, input forms, state round trip, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import polyclass.preprocess as preprocess
from polyclass.data import DataError, infer_schema
from polyclass.datasets import load_penguins
from polyclass.preprocess import Preprocessor


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return load_penguins()


@pytest.fixture(scope="module")
def fitted(penguins: pd.DataFrame) -> Preprocessor:
    return Preprocessor(infer_schema(penguins, "species")).fit(penguins)


def _reference(
    pre: Preprocessor, min_frequency: int | None = None, indicators: bool = True
) -> ColumnTransformer:
    """The sklearn ColumnTransformer our Preprocessor should equal."""
    num, cat = pre.numeric_columns, pre.categorical_columns
    parts: list[tuple[str, Any, list[str]]] = [
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num)
    ]
    if indicators:
        parts.append(("ind", MissingIndicator(), num))
    parts.append(
        (
            "cat",
            make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(
                    handle_unknown="ignore", sparse_output=False, min_frequency=min_frequency
                ),
            ),
            cat,
        )
    )
    return ColumnTransformer(parts, sparse_threshold=0.0)


def _random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "a": rng.normal(5, 3, n),
            "b": rng.integers(0, 1000, n).astype(np.float64),
            "c": rng.choice(
                ["red", "green", "blue", "cyan", "plum"], n, p=[0.4, 0.3, 0.2, 0.07, 0.03]
            ),
            "d": rng.choice(["x", "y"], n),
            "e": np.full(n, 2.5),  # zero variance
        }
    )
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df["c"] = df["c"].where(rng.random(n) > 0.15)
    df["y"] = rng.choice(["p", "q"], n)
    return df


# ----------------------------------------------------------- sklearn parity
def test_matches_sklearn_on_penguins(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins, "species", overrides={"year": "categorical"})
    pre = Preprocessor(schema, rare_min_frequency=0)
    ours = pre.fit_transform(penguins)
    ref = _reference(pre).fit(penguins)
    np.testing.assert_allclose(ours, ref.transform(penguins), rtol=0, atol=1e-12)
    names = ref.get_feature_names_out()
    assert len(names) == len(pre.get_feature_names_out())
    no_ind = Preprocessor(schema, rare_min_frequency=0, add_missing_indicators=False)
    np.testing.assert_allclose(
        no_ind.fit_transform(penguins),
        _reference(no_ind, indicators=False).fit_transform(penguins),
        atol=1e-12,
    )


@pytest.mark.parametrize("seed", range(6))
def test_matches_sklearn_on_random_frames(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, test = _random_frame(rng, 200 + 37 * seed), _random_frame(rng, 50)
    test.loc[0, "c"] = "never-seen"
    schema = infer_schema(train, "y")
    min_freq = [0, 5, 10][seed % 3]
    pre = Preprocessor(schema, rare_min_frequency=min_freq).fit(train)
    ref = _reference(pre, min_frequency=min_freq or None).fit(train)
    np.testing.assert_allclose(pre.transform(train), ref.transform(train), atol=1e-12)
    expected = ref.transform(test)
    np.testing.assert_allclose(pre.transform(test), expected, atol=1e-12)
    c_block = [i for i, n in enumerate(pre.get_feature_names_out()) if n.startswith("c=")]
    assert np.all(pre.transform(test)[0, c_block] == 0)  # unseen -> zeros in the 'c' block


def test_rare_categories_merge(penguins: pd.DataFrame) -> None:
    df = penguins.copy()
    df.loc[:2, "island"] = ["Atlantis", "Lemuria", "Atlantis"]
    pre = Preprocessor(infer_schema(df, "species"), rare_min_frequency=5).fit(df)
    names = pre.get_feature_names_out().tolist()
    assert [n for n in names if n.startswith("island=")] == [
        "island=Biscoe",
        "island=Dream",
        "island=Torgersen",
        "island=__rare__",
    ]
    X = pre.transform([{**df.iloc[0].to_dict(), "island": "Lemuria"}])
    assert X[0, names.index("island=__rare__")] == 1.0


# ------------------------------------------------------------- input forms
def test_input_forms_agree(fitted: Preprocessor, penguins: pd.DataFrame) -> None:
    expected = fitted.transform(penguins)
    rows = penguins.to_dict("records")
    np.testing.assert_array_equal(fitted.transform(rows), expected)
    columns = {name: penguins[name].tolist() for name in penguins.columns}
    np.testing.assert_array_equal(fitted.transform(columns), expected)
    arrays = {name: penguins[name].to_numpy() for name in penguins.columns}
    np.testing.assert_array_equal(fitted.transform(arrays), expected)
    typed = {
        "island": np.asarray(penguins["island"], dtype=str),
        **{n: penguins[n].to_numpy(dtype=float) for n in fitted.numeric_columns},
        "sex": penguins["sex"].tolist(),
    }
    np.testing.assert_array_equal(fitted.transform(typed), expected)
    # a key absent from some rows is a missing value there
    sparse_rows = [
        {k: v for k, v in row.items() if not (isinstance(v, float) and v != v)} for row in rows
    ]
    np.testing.assert_array_equal(fitted.transform(sparse_rows), expected)
    assert fitted.transform([]).shape == (0, fitted.n_features_out_)


def test_value_kinds_at_transform(penguins: pd.DataFrame) -> None:
    df = penguins.assign(tagged=penguins["sex"] == "male")
    schema = infer_schema(df, "species", overrides={"year": "categorical"})
    pre = Preprocessor(schema).fit(df)
    base = df.iloc[0].to_dict()
    ints = pre.transform([{**base, "year": 2007, "tagged": 1}])
    floats = pre.transform([{**base, "year": 2007.0, "tagged": True}])
    np.testing.assert_array_equal(ints, floats)
    frame = pre.transform(pd.DataFrame([{**base, "year": 2007.0, "tagged": 1}]))
    np.testing.assert_array_equal(frame, ints)
    with pytest.raises(
        DataError,
        match=r"Column 'year' expects whole numbers, but row 0 holds "
        r"'2007' \(str\)",
    ):
        pre.transform([{**base, "year": "2007"}])
    with pytest.raises(
        DataError,
        match=r"Column 'tagged' expects True/False values, but row 1 "
        r"holds 'yes' \(str\)",
    ):
        pre.transform([base, {**base, "tagged": "yes"}])


def test_infinite_is_missing(fitted: Preprocessor, penguins: pd.DataFrame) -> None:
    row = penguins.iloc[0].to_dict()
    a = fitted.transform([{**row, "body_mass_g": float("inf")}])
    b = fitted.transform([{**row, "body_mass_g": None}])
    np.testing.assert_array_equal(a, b)
    names = fitted.get_feature_names_out().tolist()
    assert a[0, names.index("body_mass_g__missing")] == 1.0


def test_zero_variance_and_float32() -> None:
    df = _random_frame(np.random.default_rng(1), 100)
    pre = Preprocessor(infer_schema(df, "y"), dtype="float32").fit(df)
    X = pre.transform(df)
    assert X.dtype == np.float32
    assert np.all(X[:, pre.numeric_columns.index("e")] == 0)
    assert np.isfinite(X).all()


def test_sparse_output(penguins: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "code": [f"k{i}" for i in rng.integers(0, 400, n)],
            "y": rng.choice(["a", "b"], n),
        }
    )
    df.loc[::7, "x"] = np.nan
    df.loc[::11, "code"] = None
    schema = infer_schema(df, "y")
    auto = Preprocessor(schema, rare_min_frequency=0).fit(df)
    X = auto.transform(df)
    assert scipy.sparse.issparse(X) and X.format == "csr"
    dense = Preprocessor(schema, rare_min_frequency=0, sparse=False).fit(df).transform(df)
    assert isinstance(dense, np.ndarray)
    np.testing.assert_array_equal(X.toarray(), dense)
    unseen = auto.transform([{"x": 1.0, "z": 0.0, "code": "new"}])
    assert unseen.nnz == 2
    small = Preprocessor(infer_schema(penguins, "species")).fit(penguins)
    assert isinstance(small.transform(penguins), np.ndarray)  # 'auto' stays dense here


# --------------------------------------------------------------- state
def test_state_round_trip_through_files(
    fitted: Preprocessor, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    meta, arrays = fitted.to_state()
    (tmp_path / "pre.json").write_text(json.dumps(meta, allow_nan=False))
    for key, arr in arrays.items():
        np.save(tmp_path / f"{key}.npy", arr, allow_pickle=False)
    meta2 = json.loads((tmp_path / "pre.json").read_text())
    arrays2 = {k: np.load(tmp_path / f"{k}.npy", allow_pickle=False) for k in arrays}
    restored = Preprocessor.from_state(meta2, arrays2)
    np.testing.assert_array_equal(restored.transform(penguins), fitted.transform(penguins))
    assert restored.get_feature_names_out().tolist() == fitted.get_feature_names_out().tolist()
    assert all(a.dtype == np.float64 for a in arrays.values())


def test_state_errors(fitted: Preprocessor) -> None:
    meta, arrays = fitted.to_state()
    with pytest.raises(
        DataError,
        match=r"expected type 'polyclass.preprocess.Preprocessor' "
        r"version 1, got type 'other'",
    ):
        Preprocessor.from_state({**meta, "type": "other"}, arrays)
    with pytest.raises(DataError, match=r"array 'mean' has shape \(3,\); expected \(5,\)"):
        Preprocessor.from_state(meta, {**arrays, "mean": np.zeros(3)})
    with pytest.raises(DataError, match=r"lacks the array 'scale'"):
        Preprocessor.from_state(meta, {"median": arrays["median"], "mean": arrays["mean"]})
    with pytest.raises(
        DataError,
        match=r"Malformed preprocessor state: missing or wrong entry "
        r"'onehot'",
    ):
        Preprocessor.from_state({k: v for k, v in meta.items() if k != "onehot"}, arrays)


def test_serving_path_needs_no_pandas(fitted: Preprocessor, tmp_path: Path) -> None:
    meta, arrays = fitted.to_state()
    (tmp_path / "pre.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "arrays.npz", **arrays)
    expected = fitted.transform(
        [
            {
                "island": "Dream",
                "bill_length_mm": 40.0,
                "bill_depth_mm": None,
                "flipper_length_mm": 190,
                "body_mass_g": 3700,
                "sex": "female",
                "year": 2008,
            }
        ]
    )
    np.save(tmp_path / "expected.npy", expected)
    code = f"""
import json, sys
import numpy as np
from polyclass.preprocess import Preprocessor
d = {str(tmp_path)!r}
arrays = dict(np.load(d + "/arrays.npz", allow_pickle=False))
pre = Preprocessor.from_state(json.load(open(d + "/pre.json")), arrays)
X = pre.transform([{{"island": "Dream", "bill_length_mm": 40.0, "bill_depth_mm": None,
                    "flipper_length_mm": 190, "body_mass_g": 3700, "sex": "female",
                    "year": 2008}}])
assert np.array_equal(X, np.load(d + "/expected.npy")), X
assert "pandas" not in sys.modules, "pandas was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True)


# -------------------------------------------------------------- errors
def test_transform_errors(fitted: Preprocessor, penguins: pd.DataFrame) -> None:
    row = penguins.iloc[0].to_dict()
    expected_cols = r"Expected columns: \['island', 'bill_length_mm'"
    with pytest.raises(
        DataError, match=r"Missing column\(s\) \['sex'\] in the input. " + expected_cols
    ):
        fitted.transform(penguins.drop(columns=["sex"]))
    with pytest.raises(DataError, match=r"Missing column\(s\) \['sex'\] in the input"):
        fitted.transform([{k: v for k, v in row.items() if k != "sex"}])
    with pytest.raises(DataError, match=r"Missing column\(s\) \['sex'\]"):
        fitted.transform({k: [v] for k, v in row.items() if k != "sex"})
    bad = penguins.astype({"bill_length_mm": object})
    bad.loc[17, "bill_length_mm"] = "long"
    with pytest.raises(
        DataError,
        match=r"Column 'bill_length_mm' expects numbers, but row 17 "
        r"holds 'long' \(str\)",
    ):
        fitted.transform(bad)
    with pytest.raises(
        DataError,
        match=r"Column 'bill_length_mm' expects numbers, but row 1 "
        r"holds '39.5' \(str\)",
    ):
        fitted.transform([row, {**row, "bill_length_mm": "39.5"}])
    with pytest.raises(
        DataError,
        match=r"Column 'island' expects text, but row 0 holds 3 "
        r"\(int\)",
    ):
        fitted.transform([{**row, "island": 3}])
    with pytest.raises(DataError, match=r"Column 'island' expects text, but row 0 holds 1"):
        fitted.transform(penguins.assign(island=1))
    with pytest.raises(DataError, match=r"Columns have different lengths"):
        fitted.transform({**{k: [v] for k, v in row.items()}, "sex": ["male", "female"]})
    with pytest.raises(DataError, match=r"Row 1 is a list; expected a dict"):
        fitted.transform([row, [1, 2]])
    with pytest.raises(DataError, match=r"Cannot read input of type str"):
        fitted.transform("island=Dream")
    with pytest.raises(DataError, match=r"For a single row pass a list with one dict"):
        fitted.transform(row)


def test_unseen_and_missing_policies(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins, "species")
    row = penguins.iloc[0].to_dict()
    strict = Preprocessor(schema, handle_unknown="error", missing="error").fit(penguins)
    with pytest.raises(
        DataError,
        match=r"Column 'island' has the unseen category 'Atlantis' in "
        r"row 1. Known categories: \['Biscoe', 'Dream', "
        r"'Torgersen'\]",
    ):
        strict.transform([row, {**row, "island": "Atlantis"}])
    with pytest.raises(
        DataError,
        match=r"Column 'island' has a missing value in row 0, but the "
        r"schema allows none there",
    ):
        strict.transform([{**row, "island": None}])
    with pytest.raises(DataError, match=r"Column 'year' has a missing value in row 0"):
        strict.transform([{**row, "year": float("nan")}])
    strict.transform([{**row, "sex": None, "body_mass_g": None}])  # missing seen in training
    lenient = Preprocessor(schema).fit(penguins)
    X = lenient.transform([{**row, "island": "Atlantis"}])
    names = lenient.get_feature_names_out().tolist()
    island = [i for i, n in enumerate(names) if n.startswith("island=")]
    assert np.all(X[0, island] == 0)


def test_parameter_and_fit_errors(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins, "species")
    with pytest.raises(
        ValueError,
        match=r"The 'handle_unknown' parameter of Preprocessor must "
        r"be one of 'ignore', 'error'. Got 'skip' instead",
    ):
        Preprocessor(schema, handle_unknown="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'rare_min_frequency' .* integer >= 0. Got -1"):
        Preprocessor(schema, rare_min_frequency=-1)
    with pytest.raises(ValueError, match=r"'sparse' parameter .* Got 'yes' instead"):
        Preprocessor(schema, sparse="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"schema must be a polyclass.data.Schema"):
        Preprocessor({"target": "y"})  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"not fitted yet. Call fit\(df\) first"):
        Preprocessor(schema).transform(penguins)
    with pytest.raises(DataError, match=r"empty table"):
        Preprocessor(schema).fit(penguins.iloc[:0])
    empty = penguins.assign(bill_length_mm=np.nan)
    with pytest.raises(DataError, match=r"Column 'bill_length_mm' has no finite values"):
        Preprocessor(schema).fit(empty)


def _isort_key(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_public_api_sorted() -> None:
    assert preprocess.__all__ == sorted(preprocess.__all__, key=_isort_key)


def test_docstring_examples() -> None:
    import doctest

    from polyclass.preprocess import _preprocessor

    assert doctest.testmod(_preprocessor).failed == 0
