"""A model of every family saves, loads (``polyclass.load``) and serves (OIP infer) with the
fitted estimator's probabilities; an unknown or corrupt family is refused by the one check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix
from starlette.testclient import TestClient
from threadpoolctl import threadpool_limits

import polyclass
from polyclass.artifact import ArtifactError, save_artifact
from polyclass.data import infer_schema
from polyclass.families import FAMILIES, get_family
from polyclass.linear import LinearMulticlassPredictor
from polyclass.model import Model, read_model_artifact
from polyclass.preprocess import Preprocessor
from polyclass.serve import ServeConfig, create_app

COLUMNS = ["a", "b", "colour"]


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    b = rng.normal(size=200)
    colour = rng.choice(["red", "green", "blue"], size=200)
    y = np.where(a + (colour == "red") > 0.5, "high", np.where(b > 0, "mid", "low"))
    df = pd.DataFrame({"a": a, "b": b, "colour": colour, "target": y})
    df.loc[::9, "a"] = np.nan  # imputed by the preprocessing
    return df


def _model(name: str, tmp_path: Path) -> tuple[Model, Any, pd.DataFrame, Path]:
    df = _table()
    schema = infer_schema(df, "target")
    pre = Preprocessor(schema).fit(df)
    family = get_family(name)
    estimator = family.build(family.candidates(len(df), 5, 3)[0], random_state=0)
    if name == "mlp":
        estimator.set_params(max_iter=3000)  # converged: no ConvergenceWarning
    with threadpool_limits(1):
        estimator.fit(pre.transform(df), df["target"].to_numpy())
    model = Model(schema=schema, preprocessor=pre, estimator=estimator, family=name)
    return model, estimator, df, model.save(tmp_path / name)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_loads_and_serves_its_fitted_probabilities(name: str, tmp_path: Path) -> None:
    model, estimator, df, path = _model(name, tmp_path)
    rows = df[COLUMNS].iloc[:40]
    expected = estimator.predict_proba(model.transform(rows))
    loaded = polyclass.load(path)
    assert loaded.family == name
    assert read_model_artifact(path).metadata["estimator"]["family"] == name
    np.testing.assert_allclose(loaded.predict_proba(rows), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    again = loaded.save(tmp_path / "again")  # a loaded model saves the same estimator
    first, second = read_model_artifact(path), read_model_artifact(again)
    assert second.metadata["estimator"] == first.metadata["estimator"]
    for key, array in first.arrays.items():
        np.testing.assert_array_equal(second.arrays[key], array)

    config = ServeConfig(str(path), prediction_log=False, access_log=False, poll_interval=0)
    records = rows.iloc[:5].astype(object).where(rows.iloc[:5].notna(), None).to_dict("records")
    inputs = [
        {"name": "a", "shape": [5], "datatype": "FP64", "data": [r["a"] for r in records]},
        {"name": "b", "shape": [5], "datatype": "FP64", "data": [r["b"] for r in records]},
        {
            "name": "colour",
            "shape": [5],
            "datatype": "BYTES",
            "data": [r["colour"] for r in records],
        },
    ]
    with TestClient(create_app(config)) as client:
        r = client.post(f"/v2/models/{name}/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    label, proba = r.json()["outputs"]
    np.testing.assert_allclose(np.reshape(proba["data"], (5, 3)), expected[:5], atol=1e-12)
    assert label["data"] == list(model.predict(rows.iloc[:5]))


def test_unknown_family_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    _, _, _, path = _model("forest", tmp_path)
    artifact = read_model_artifact(path)
    manifest = dict(
        artifact.metadata, estimator={**artifact.metadata["estimator"], "family": "quantum"}
    )
    bad = save_artifact(tmp_path / "bad", manifest, dict(artifact.arrays))
    with pytest.raises(ArtifactError, match="model family 'quantum' is not one this polyclass"):
        polyclass.load(bad)
    with pytest.raises(ArtifactError, match="linear, boosting, forest, svm, mlp"):
        read_model_artifact(bad)


def test_corrupt_family_state_is_refused_before_predicting(tmp_path: Path) -> None:
    _, _, _, path = _model("boosting", tmp_path)
    artifact = read_model_artifact(path)
    manifest = json.loads(json.dumps(artifact.metadata))
    manifest["estimator"]["state"]["n_trees_per_iteration"] = 1
    bad = save_artifact(tmp_path / "bad", manifest, dict(artifact.arrays))
    with pytest.raises(ArtifactError, match="trees per iteration"):
        polyclass.load(bad)


def test_linear_artifacts_keep_their_format(tmp_path: Path) -> None:
    # old artifacts have no family: they are linear, and a new linear one differs only by it
    _, _, _, path = _model("linear", tmp_path)
    estimator = read_model_artifact(path).metadata["estimator"]
    assert set(estimator) == {"family", "type", "state"}
    golden = Path(__file__).parent / "golden" / "model_v1"
    copy = shutil.copytree(golden, tmp_path / "golden")
    assert "family" not in read_model_artifact(copy).metadata["estimator"]
    assert polyclass.load(copy).family == "linear"


@pytest.mark.parametrize("name", ["boosting", "forest", "svm", "mlp"])
def test_every_family_evaluates_and_batch_predicts(name: str, tmp_path: Path) -> None:
    from polyclass.pipeline import evaluate_model, predict_file

    model, _, df, path = _model(name, tmp_path)
    data = tmp_path / "rows.csv"
    df.to_csv(data, index=False)
    loaded = polyclass.load(path)
    result = evaluate_model(loaded, data, tmp_path / "eval", n_bootstrap=20)
    assert result.report_path.exists()
    assert result.evaluation["n_samples"] == len(df)
    matrix = result.evaluation["confusion_matrix"]
    truth, predicted = df["target"].to_numpy(), model.predict(df[COLUMNS])
    expected = confusion_matrix(truth, predicted, labels=matrix["labels"])
    np.testing.assert_array_equal(matrix["counts"], expected)
    assert predict_file(loaded, data, tmp_path / "out.csv") == len(df)
    written = pd.read_csv(tmp_path / "out.csv")
    labels = written.iloc[:, -1] if "prediction" not in written else written["prediction"]
    assert list(labels.astype(str)) == list(model.predict(df[COLUMNS]).astype(str))


@pytest.mark.parametrize("strategy", ["multinomial", "ovr", "ovo"])
def test_linear_contributions_sum_to_the_scores(strategy: str, tmp_path: Path) -> None:
    df = _table()
    schema = infer_schema(df, "target")
    pre = Preprocessor(schema).fit(df)
    estimator = get_family("linear").build({"strategy": strategy}, random_state=0)
    estimator.fit(pre.transform(df), df["target"].to_numpy())
    model = polyclass.load(
        Model(schema=schema, preprocessor=pre, estimator=estimator).save(tmp_path / "m")
    )
    rows = df[COLUMNS].iloc[:30]
    parts = model.contributions(rows)
    X = np.asarray(model.transform(rows))
    if strategy == "ovo":  # the pairwise scores, before the vote decision_function reports
        _, arrays = get_family("linear").export(model.estimator)
        pairs = LinearMulticlassPredictor(
            "ovo", arrays["coef"], arrays["intercept"], model.classes_
        )
        scores = pairs.scores(X)
    else:
        scores = np.asarray(model.estimator.decision_function(X))
    assert parts.shape[2] == len(pre.get_feature_names_out()) + 1
    np.testing.assert_allclose(
        parts.sum(axis=2), scores.reshape(len(rows), -1), rtol=1e-12, atol=1e-12
    )


def test_contributions_of_other_families_are_refused(tmp_path: Path) -> None:
    model, _, df, _ = _model("forest", tmp_path)
    with pytest.raises(ValueError, match="boosting models only; this is a 'forest' model"):
        model.contributions(df[COLUMNS].iloc[:3])


def test_boosting_contributions_sum_to_the_raw_scores(tmp_path: Path) -> None:
    model, estimator, df, path = _model("boosting", tmp_path)
    rows = df[COLUMNS].iloc[:30]
    X = model.transform(rows)
    is_lgbm = type(estimator).__name__ == "LGBMClassifier"  # the engine when installed
    raw = estimator.predict(X, raw_score=True) if is_lgbm else estimator.decision_function(X)
    for m in (model, polyclass.load(path)):  # fitted and loaded
        parts = m.contributions(rows)
        assert parts.shape == (30, 3, len(model.preprocessor.get_feature_names_out()) + 1)
        np.testing.assert_allclose(parts.sum(axis=2), raw, rtol=0, atol=1e-10)


def _oip_inputs(rows: pd.DataFrame) -> list[dict[str, Any]]:
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    n = len(records)
    return [
        {"name": "a", "shape": [n], "datatype": "FP64", "data": [r["a"] for r in records]},
        {"name": "b", "shape": [n], "datatype": "FP64", "data": [r["b"] for r in records]},
        {
            "name": "colour",
            "shape": [n],
            "datatype": "BYTES",
            "data": [r["colour"] for r in records],
        },
    ]


@pytest.mark.parametrize("name", ["boosting", "linear", "forest"])
def test_server_answers_contributions_on_request(name: str, tmp_path: Path) -> None:
    model, _, df, path = _model(name, tmp_path)
    rows = df[COLUMNS].iloc[:4]
    config = ServeConfig(str(path), prediction_log=False, access_log=False, poll_interval=0)
    body = {"inputs": _oip_inputs(rows), "parameters": {"contributions": True}}
    with TestClient(create_app(config)) as client:
        r = client.post(f"/v2/models/{name}/infer", json=body)
        plain = client.post(f"/v2/models/{name}/infer", json={"inputs": _oip_inputs(rows)})
        wrong = client.post(
            f"/v2/models/{name}/infer",
            json={"inputs": _oip_inputs(rows), "parameters": {"contributions": "yes"}},
        )
        after = client.post(f"/v2/models/{name}/infer", json={"inputs": _oip_inputs(rows)})
    assert [o["name"] for o in plain.json()["outputs"]] == ["label", "probabilities"]
    assert wrong.status_code == 422 and "contributions must be true or false" in wrong.text
    assert after.status_code == 200  # a refused request leaves the server serving
    if name == "forest":
        assert r.status_code == 422, r.text
        assert "no exact contributions" in r.text
        return
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    expected = model.contributions(rows)
    got = np.reshape(out["contributions"]["data"], out["contributions"]["shape"])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    features = json.loads(out["contributions"]["parameters"]["features"])
    assert features == [*model.preprocessor.get_feature_names_out(), "(base)"]
    assert json.loads(out["contributions"]["parameters"]["scores"]) == [
        str(c) for c in model.classes_
    ]
