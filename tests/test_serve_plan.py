"""The served model predicts exactly like polyclass.load: the plan against the
Preprocessor, and the NumPy scorer against the fitted estimators, for every estimator
kind and decision rule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyclass import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier
from polyclass.data import DataError, infer_schema
from polyclass.datasets import load_penguins
from polyclass.model import Decision, Model
from polyclass.preprocess import InputError, InputPlan, Preprocessor, Table
from polyclass.serve import load_served


@pytest.fixture(scope="module")
def penguins() -> Any:
    df = load_penguins()
    schema = infer_schema(df, "species")
    return df, schema


def _columns(df: Any, names: list[str]) -> dict[str, list[Any]]:
    out = {}
    for n in names:
        out[n] = [None if isinstance(v, float) and math.isnan(v) else v for v in df[n].tolist()]
    return out


_island = st.one_of(st.none(), st.sampled_from(["Biscoe", "Dream", "Torgersen", "Atlantis"]))
_sex = st.one_of(st.none(), st.sampled_from(["female", "male", "unknown"]))
_number = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000))
_row = st.fixed_dictionaries(
    {
        "island": _island,
        "bill_length_mm": _number,
        "bill_depth_mm": _number,
        "flipper_length_mm": _number,
        "body_mass_g": _number,
        "sex": _sex,
        "year": st.integers(2000, 2020),
    }
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=12))
def test_plan_equals_preprocessor(penguins: Any, rows: list[dict[str, Any]]) -> None:
    df, schema = penguins
    pre = Preprocessor(schema, add_missing_indicators=True, rare_min_frequency=60).fit(df)
    plan = InputPlan(pre)
    names = schema.feature_names
    table = Table(len(rows), {n: [r[n] for r in rows] for n in names})
    np.testing.assert_array_equal(plan.encode(table).X, pre.transform(rows))


def test_plan_matrix_path_equals_columns(penguins: Any) -> None:
    df, schema = penguins
    numeric = df[[f.name for f in schema.features if f.kind == "numeric"] + ["species"]]
    num_schema = infer_schema(numeric, "species")
    pre = Preprocessor(num_schema).fit(numeric)
    plan = InputPlan(pre)
    assert plan.all_numeric
    cols = _columns(numeric, num_schema.feature_names)
    matrix = np.array(
        [[np.nan if v is None else v for v in cols[n]] for n in num_schema.feature_names],
        dtype=np.float64,
    ).T
    by_matrix = plan.encode(Table(len(numeric), matrix=matrix)).X
    np.testing.assert_array_equal(by_matrix, plan.encode(Table(len(numeric), cols)).X)
    np.testing.assert_array_equal(by_matrix, pre.transform(numeric))


def test_plan_refuses_like_preprocessor(penguins: Any) -> None:
    df = penguins[0].dropna()
    schema = infer_schema(df, "species")  # no missing values seen: none allowed
    pre = Preprocessor(schema, handle_unknown="error", missing="error").fit(df)
    plan = InputPlan(pre)
    names = schema.feature_names
    good = _columns(df.head(1), names)
    cases = [
        ({"island": ["Atlantis"]}, "unseen category", "island"),
        ({"year": [None]}, "missing value", "year"),
        ({"bill_length_mm": [float("nan")]}, "missing value", "bill_length_mm"),
        ({"bill_length_mm": ["long"]}, "expects numbers", "bill_length_mm"),
        ({"sex": [3]}, "expects text", "sex"),
    ]
    for change, words, column in cases:
        data = {**good, **change}
        with pytest.raises(DataError):
            pre.transform(data)
        table = Table(1, data, {n: (["body", n], []) for n in names})
        with pytest.raises(InputError, match=words) as info:
            plan.encode(table)
        assert info.value.loc == ["body", column, 0]


def _model(df: Any, schema: Any, estimator: Any, decision: Decision, classes: Any) -> Model:
    pre = Preprocessor(schema).fit(df)
    estimator.fit(pre.transform(df), classes)
    return Model(schema=schema, preprocessor=pre, estimator=estimator, decision=decision)


@pytest.mark.parametrize(
    "kind", ["multinomial", "binary", "ovr", "ovo", "ovr-binary", "threshold", "cost", "int-labels"]
)
def test_served_model_equals_loaded_model(penguins: Any, tmp_path: Path, kind: str) -> None:
    df, schema = penguins
    y = df["species"].to_numpy().astype(str)
    decision = Decision()
    estimator: Any = LogisticRegression(C=0.5)
    if kind in ("binary", "threshold", "ovr-binary"):
        y = np.where(y == "Adelie", "Adelie", "other")
    if kind == "ovr" or kind == "ovr-binary":
        estimator = OneVsRestClassifier(LogisticRegression(C=0.5))
    elif kind == "ovo":
        estimator = OneVsOneClassifier(LogisticRegression(C=0.5))
    elif kind == "threshold":
        decision = Decision("threshold", threshold=0.8, positive_class="other")
    elif kind == "cost":
        decision = Decision("cost", cost_matrix=[[0, 1, 1], [5, 0, 1], [1, 1, 0]])
    elif kind == "int-labels":
        y = np.unique(y, return_inverse=True)[1].astype(np.int64) + 10
    model = _model(df, schema, estimator, decision, y)
    path = model.save(tmp_path / "m")
    served = load_served(path)
    reference = Model.load(path)
    cols = _columns(df, schema.feature_names)
    prediction = served.predict(Table(len(df), cols))
    np.testing.assert_allclose(prediction.proba, reference.predict_proba(df), rtol=0, atol=1e-12)
    labels = np.asarray(served.classes, dtype=object)[prediction.index]
    assert labels.tolist() == reference.predict(df).tolist()
    assert served.version is None and served.version_label.startswith("sha256-")


def test_load_refuses_altered_artifact(penguins: Any, tmp_path: Path) -> None:
    from polyclass.artifact import ArtifactError

    df, schema = penguins
    model = _model(df, schema, LogisticRegression(), Decision(), df["species"].to_numpy())
    path = model.save(tmp_path / "m")
    coef = np.load(path / "est.coef.npy")
    np.save(path / "est.coef.npy", coef * 2)
    with pytest.raises(ArtifactError):
        load_served(path)
