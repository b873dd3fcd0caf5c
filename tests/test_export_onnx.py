"""ONNX export: the graph, run in onnxruntime, answers what the model answers.

Every family (linear multinomial / one-vs-rest / one-vs-one, boosting, forest, mlp) on
the penguins and on a held-out table with missing values, rare and unseen categories,
booleans and integer codes; every decision rule; and each refusal names its fix.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

import polyclass
from polyclass.cli import app
from polyclass.data import infer_schema
from polyclass.datasets import load_penguins
from polyclass.export import ExportError, export_onnx, onnx_feeds, to_onnx
from polyclass.families import get_family
from polyclass.model import Decision, Model
from polyclass.preprocess import Preprocessor

#: (family, build parameters): every estimator kind a model can hold.
KINDS = [
    ("linear", {"strategy": "multinomial", "C": 1.0}),
    ("linear", {"strategy": "ovr", "C": 1.0}),
    ("linear", {"strategy": "ovo", "C": 1.0}),
    ("boosting", {"learning_rate": 0.1, "max_iter": 30, "max_leaf_nodes": 15}),
    ("forest", {"kind": "random", "n_estimators": 25, "min_samples_leaf": 2}),
    ("forest", {"kind": "extra", "n_estimators": 25, "min_samples_leaf": 1}),
    ("mlp", {"hidden_layer_sizes": (8,), "max_iter": 200, "activation": "tanh"}),
]
IDS = [f"{f}-{p.get('strategy') or p.get('kind') or p.get('activation', 'relu')}" for f, p in KINDS]


def _synthetic(n: int, seed: int, n_classes: int) -> pd.DataFrame:
    """Missing numbers, a text column with rare categories and missing values, a boolean
    and an integer code read as categorical."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.integers(0, 50, size=n).astype(float)
    colour = rng.choice(["red", "green", "blue", "violet"], p=[0.45, 0.3, 0.23, 0.02], size=n)
    flag = rng.random(n) < 0.4
    grade = rng.integers(1, 5, size=n)
    score = a + (colour == "red") - 0.8 * flag + 0.02 * b + 0.3 * grade
    cuts = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    labels = np.array(["low", "mid", "high", "top"])[:n_classes]
    y = labels[np.searchsorted(cuts, score + rng.normal(scale=0.3, size=n))]
    df = pd.DataFrame(
        {"a": a, "b": b, "colour": colour.astype(object), "flag": flag, "grade": grade, "y": y}
    )
    df.loc[::7, "a"] = np.nan
    df.loc[3::11, "colour"] = None
    return df


def _fit(df: pd.DataFrame, target: str, family: str, params: dict[str, Any], **pre: Any) -> Model:
    schema = infer_schema(df, target, overrides={"grade": "categorical"} if "grade" in df else None)
    preprocessor = Preprocessor(schema, **pre).fit(df)
    estimator = get_family(family).build(dict(params), random_state=0)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit's ConvergenceWarning is not under test
        estimator.fit(preprocessor.transform(df), df[target].to_numpy())
    return Model(schema=schema, preprocessor=preprocessor, estimator=estimator, family=family)


def _run(model: Model, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(["label", "probabilities"], onnx_feeds(model, data))
    return np.asarray(labels), np.asarray(proba)


def _check(model: Model, data: pd.DataFrame) -> None:
    labels, proba = _run(model, data)
    np.testing.assert_allclose(proba, model.predict_proba(data), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels, model.predict(data))


def _held_out(seed: int, n_classes: int) -> pd.DataFrame:
    """New rows, with a category never seen in training and missing values everywhere."""
    df = _synthetic(300, seed, n_classes)
    df.loc[::13, "colour"] = "ultraviolet"
    df.loc[::5, "b"] = np.nan
    df.loc[::17, "grade"] = 9  # an integer code never seen
    return df.drop(columns="y")


@pytest.mark.parametrize(("family", "params"), KINDS, ids=IDS)
def test_penguins_every_family_matches_the_loaded_model(
    family: str, params: dict[str, Any], tmp_path: Path
) -> None:
    df = load_penguins()
    model = polyclass.load(_fit(df, "species", family, params).save(tmp_path / "m"))
    _check(model, df)


@pytest.mark.parametrize(("family", "params"), KINDS, ids=IDS)
@pytest.mark.parametrize("n_classes", [2, 4])
def test_held_out_tables_match(family: str, params: dict[str, Any], n_classes: int) -> None:
    model = _fit(_synthetic(400, 1, n_classes), "y", family, params)
    _check(model, _held_out(2, n_classes))


def test_unseen_category_gives_zeros_as_in_polyclass() -> None:
    model = _fit(_synthetic(300, 3, 3), "y", "linear", {"strategy": "multinomial"})
    rows = _held_out(4, 3).iloc[:13]
    assert rows["colour"].iloc[0] == "ultraviolet"
    _check(model, rows)
    block = [
        i
        for i, n in enumerate(model.preprocessor.get_feature_names_out())
        if n.startswith("colour=")
    ]
    assert not model.transform(rows.iloc[:1])[0, block].any()  # the rule the graph follows


@pytest.mark.parametrize("family", ["linear", "boosting"])
def test_threshold_rule(family: str) -> None:
    model = _fit(_synthetic(400, 5, 2), "y", family, dict(KINDS[0 if family == "linear" else 3][1]))
    model.decision = Decision("threshold", threshold=0.2, positive_class="mid")
    held = _held_out(6, 2)
    _check(model, held)
    assert (model.predict(held) != model.estimator.predict(model.transform(held))).any()


def test_cost_rule_with_ovo() -> None:
    model = _fit(_synthetic(400, 7, 3), "y", "linear", {"strategy": "ovo"})
    k = len(model.classes_)
    cost = np.ones((k, k)) - np.eye(k)
    cost[:, 0] = 0.3  # predicting the first class is cheap: the rule moves labels there
    model.decision = Decision("cost", cost_matrix=cost.tolist())
    held = _held_out(8, 3)
    _check(model, held)
    assert (model.predict(held) != model.estimator.predict(model.transform(held))).any()


def test_float32_preprocessor_and_missing_indicators() -> None:
    df = _synthetic(300, 9, 3)
    model = _fit(df, "y", "mlp", dict(KINDS[-1][1]), dtype="float32", add_missing_indicators=True)
    assert model.preprocessor.indicator_columns_
    _check(model, _held_out(10, 3))


def test_one_row_and_integer_classes() -> None:
    df = _synthetic(300, 11, 3)
    df["y"] = df["y"].map({"low": 0, "mid": 1, "high": 2})
    model = _fit(df, "y", "forest", dict(KINDS[4][1]))
    labels, _ = _run(model, _held_out(12, 3).iloc[:1])
    assert labels.dtype == np.int64
    _check(model, _held_out(12, 3).iloc[:1])


def test_graph_inputs_are_the_columns_with_their_types() -> None:
    model = _fit(_synthetic(200, 13, 3), "y", "linear", {"strategy": "multinomial"})
    graph = to_onnx(model).graph
    types = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    assert types == {
        "a": onnx.TensorProto.DOUBLE,
        "b": onnx.TensorProto.DOUBLE,
        "colour": onnx.TensorProto.STRING,
        "flag": onnx.TensorProto.BOOL,
        "grade": onnx.TensorProto.DOUBLE,
    }
    assert [o.name for o in graph.output] == ["label", "probabilities"]


# --- refusals -------------------------------------------------------------------------
def test_dates_are_refused_with_the_fix() -> None:
    df = _synthetic(100, 14, 2)
    df["when"] = pd.date_range("2024-01-01", periods=len(df), freq="D")
    model = _fit(df, "y", "linear", {"strategy": "multinomial"})
    with pytest.raises(ExportError, match=r"\['when'\] are dates.*Turn them into numbers"):
        to_onnx(model)


def test_refusing_preprocessor_is_refused() -> None:
    model = _fit(_synthetic(100, 15, 2), "y", "linear", {}, handle_unknown="error")
    with pytest.raises(ExportError, match="handle_unknown='ignore'"):
        to_onnx(model)


def test_empty_string_category_is_refused() -> None:
    df = _synthetic(100, 16, 2)
    df.loc[:10, "colour"] = ""
    with pytest.raises(ExportError, match="empty string as a category"):
        to_onnx(_fit(df, "y", "linear", {}))


def test_family_without_export_is_refused() -> None:
    model = _fit(_synthetic(100, 17, 2), "y", "linear", {})
    model.family = "svm2"
    with pytest.raises(ValueError, match="Unknown model family 'svm2'"):
        to_onnx(model)


# --- command --------------------------------------------------------------------------
def test_cli_exports_a_saved_model_and_refuses_with_one_line(tmp_path: Path) -> None:
    df = load_penguins()
    path = _fit(df, "species", "linear", {"strategy": "ovr"}).save(tmp_path / "m")
    out = tmp_path / "deep" / "model.onnx"
    runner = CliRunner()
    done = runner.invoke(app, ["export", str(path), "--format", "onnx", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.exists() and not list(out.parent.glob(".*.tmp"))
    _check(polyclass.load(path), df)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    again = runner.invoke(app, ["export", str(path), "-o", str(out)])
    assert again.exit_code == 2 and "exists" in again.output
    assert "pass --overwrite" in again.output and "overwrite=True" not in again.output
    folder = runner.invoke(app, ["export", str(path), "-o", str(tmp_path), "--overwrite"])
    assert folder.exit_code == 2 and "is a directory" in folder.output, folder.output
    assert "Traceback" not in folder.output and not list(tmp_path.glob(".*.tmp"))
    bad = runner.invoke(app, ["export", str(path), "--format", "pmml", "-o", str(out)])
    assert bad.exit_code == 2 and "--format must be one of onnx" in bad.output
    missing = runner.invoke(app, ["export", str(tmp_path / "nope"), "-o", str(tmp_path / "x.onnx")])
    assert missing.exit_code == 2 and "error:" in missing.output


def test_export_onnx_writes_a_file_onnxruntime_loads(tmp_path: Path) -> None:
    model = _fit(load_penguins(), "species", "boosting", dict(KINDS[3][1]))
    path = export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _, proba = session.run(None, onnx_feeds(model, load_penguins()))
    np.testing.assert_allclose(proba, model.predict_proba(load_penguins()), atol=1e-6, rtol=0)
    with pytest.raises(ExportError, match="exists"):
        export_onnx(model, path)


CALIBRATED = [
    ("svm", {"kernel": "linear", "C": 1.0}),
    ("svm", {"kernel": "rbf", "C": 1.0, "n_components": 40, "gamma": None}),
    ("boosting", {"learning_rate": 0.1, "max_iter": 20, "calibration": "sigmoid"}),
    ("forest", {"kind": "random", "n_estimators": 20, "calibration": "isotonic"}),
    ("mlp", {"hidden_layer_sizes": (8,), "max_iter": 100, "calibration": "isotonic"}),
]


@pytest.mark.parametrize(("family", "params"), CALIBRATED, ids=lambda v: str(v))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_calibrated_models_and_svm_match(
    family: str, params: dict[str, Any], n_classes: int, tmp_path: Path
) -> None:
    model = _fit(_synthetic(400, 18, n_classes), "y", family, params)
    loaded = polyclass.load(model.save(tmp_path / "m"))
    _check(loaded, _held_out(19, n_classes))


def test_the_cli_does_not_import_the_exporter() -> None:
    """``polyclass serve`` and ``--help`` do not pay for the ONNX exporter's imports."""
    code = "import sys, polyclass.cli; print(sorted(m for m in sys.modules if 'export._' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['polyclass.export._cli']"]
