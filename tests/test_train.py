"""The main job end to end on the bundled penguins table, with real files and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polyclass
from polyclass.artifact import ArtifactError
from polyclass.datasets import penguins_path
from polyclass.pipeline import ConfigError, TrainConfig, train
from polyclass.registry import Registry

FAST = {
    "C": [0.1, 1.0],
    "class_weight": ["none"],
    "cv": 3,
    "n_bootstrap": 200,
    "families": ["linear"],
}


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[polyclass.pipeline.TrainResult, Path]:
    root = tmp_path_factory.mktemp("train")
    url = f"sqlite:///{root / 'registry.db'}"
    result = train(
        data=penguins_path(),
        target="species",
        out=root / "out",
        registry=url,
        name="penguins",
        **FAST,
    )
    return result, root


def test_train_produces_report_artifact_and_registered_version(trained):
    result, _ = trained
    assert result.report_path.is_file() and result.metrics_path.is_file()
    assert (result.artifact_path / "model.json").is_file()
    assert result.registered is not None and result.registered["version"] == 1
    metrics_json = json.loads(result.metrics_path.read_text())
    assert "test" in metrics_json
    # every strategy was cross-validated and compared
    assert {s["strategy"] for s in result.strategies} == {"multinomial", "ovr", "ovo"}
    # penguins is an easy problem: a working pipeline is near perfect
    assert result.test_metrics["metrics"]["accuracy"]["value"] > 0.93


def test_loaded_model_predicts_like_the_trained_one(trained):
    result, _ = trained
    frame = pd.read_csv(penguins_path()).dropna(subset=["species"])
    loaded = polyclass.load(result.artifact_path)
    np.testing.assert_array_equal(loaded.predict(frame), result.model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), result.model.predict_proba(frame))
    # list of dicts, as a server receives them
    records = frame.drop(columns=["species"]).head(5).to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), loaded.predict(frame.head(5)))


def test_load_by_registry_reference(trained):
    result, root = trained
    url = f"sqlite:///{root / 'registry.db'}"
    by_name = polyclass.load("penguins:1", registry=url)
    assert list(by_name.classes_) == list(result.model.classes_)
    assert Registry(url).resolve("penguins").version == 1


def test_tampered_artifact_is_refused(trained, tmp_path):
    result, _ = trained
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(result.artifact_path, copy)
    victim = next(p for p in copy.iterdir() if p.suffix == ".npy")
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(ArtifactError):
        polyclass.load(copy)


def test_binary_problem_with_costs_chooses_a_threshold(tmp_path):
    frame = pd.read_csv(penguins_path())
    frame = frame[frame["species"].isin(["Adelie", "Chinstrap"])]
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    result = train(
        data=path,
        target="species",
        out=tmp_path / "out",
        register=False,
        positive_class="Chinstrap",
        cost_fp=1.0,
        cost_fn=5.0,
        **FAST,
    )
    decision = result.model.decision
    assert decision.kind == "threshold" and decision.positive_class == "Chinstrap"
    assert 0.0 <= decision.threshold <= 1.0
    assert [s["strategy"] for s in result.strategies] == ["binary"]


def test_missing_target_names_the_columns(tmp_path):
    with pytest.raises(ValueError, match="species"):
        train(data=penguins_path(), target="specie", out=tmp_path, register=False, **FAST)


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="strategies"):
        TrainConfig(data="x.csv", target="y", strategies=["softmax"])
    with pytest.raises(ConfigError, match="cost-fn"):
        TrainConfig(data="x.csv", target="y", cost_fp=1.0)
    with pytest.raises(ConfigError, match="test_size"):
        TrainConfig(data="x.csv", target="y", test_size=1.5)


def test_config_file_gives_the_same_options(tmp_path):
    toml = tmp_path / "project.toml"
    toml.write_text('[train]\ntarget = "species"\ncv = 3\nC = [1.0]\nunknown_key = 1\n')
    with pytest.raises(ConfigError, match="unknown_key"):
        TrainConfig.from_toml(toml, data="x.csv")
    toml.write_text('[train]\ntarget = "species"\ncv = 3\nC = [1.0]\n')
    cfg = TrainConfig.from_toml(toml, data="x.csv")
    assert cfg.cv == 3 and cfg.C == [1.0] and cfg.target == "species"


def test_multiclass_cost_matrix_sets_a_bayes_decision(tmp_path):
    costs = tmp_path / "costs.csv"
    costs.write_text(
        "truth,Adelie,Chinstrap,Gentoo\nAdelie,0,1,1\nChinstrap,20,0,20\nGentoo,1,1,0\n"
    )
    result = train(
        data=penguins_path(),
        target="species",
        out=tmp_path / "out",
        register=False,
        cost_matrix=costs,
        **FAST,
    )
    assert result.model.decision.kind == "cost"
    proba = np.array([[0.6, 0.4, 0.0]])
    # a 40% Chinstrap is worth predicting when missing it costs 20x
    assert result.model.decide(proba).tolist() == ["Chinstrap"]
    assert result.scorer["name"] == "expected_cost"
    assert "expected_cost" in json.loads(result.metrics_path.read_text())["test"]["metrics"]


def test_cost_matrix_with_wrong_classes_is_refused(tmp_path):
    costs = tmp_path / "costs.csv"
    costs.write_text("truth,a,b\na,0,1\nb,1,0\n")
    with pytest.raises(ConfigError, match="exactly the classes"):
        train(
            data=penguins_path(),
            target="species",
            out=tmp_path,
            register=False,
            cost_matrix=costs,
            **FAST,
        )


def test_large_tables_fit_the_final_model_in_float32(tmp_path, monkeypatch):
    import polyclass.pipeline._final as train_module

    monkeypatch.setattr(train_module, "FLOAT32_MIN_ROWS", 10)
    result = train(data=penguins_path(), target="species", out=tmp_path, register=False, **FAST)
    estimator = result.model.estimator
    inner = getattr(estimator, "estimator", estimator)
    assert np.dtype(inner.dtype) == np.float32
    assert result.test_metrics["metrics"]["accuracy"]["value"] > 0.93
    loaded = polyclass.load(result.artifact_path)
    frame = pd.read_csv(penguins_path()).dropna(subset=["species"])
    np.testing.assert_array_equal(loaded.predict(frame), result.model.predict(frame))


def _comparable(value):
    """A run's outputs without what differs between two runs (timings, paths)."""
    changing = {"timings", "seconds", "fit_seconds", "predict_seconds_per_1000", "data_path"}
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in changing}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def test_evaluations_in_forked_processes_match_the_sequential_run(tmp_path, monkeypatch):
    from polyclass.pipeline import _run

    options = {
        **FAST,
        "families": ["linear", "forest"],
        "refit_all": True,
        "register": False,
        "n_jobs": 2,
    }
    forked = []
    in_child = _run._in_child
    monkeypatch.setattr(_run, "_in_child", lambda work: forked.append(1) or in_child(work))
    beside = train(data=penguins_path(), target="species", out=tmp_path / "a", **options)
    assert len(forked) == 2  # validation and test were evaluated in child processes

    def in_place(work):
        value = work()
        return lambda: value

    monkeypatch.setattr(_run, "_in_child", in_place)
    inline = train(data=penguins_path(), target="species", out=tmp_path / "b", **options)

    docs = [json.loads(r.metrics_path.read_text()) for r in (beside, inline)]
    for doc in docs:
        doc["model"].pop("artifact_path")
        doc["model"].pop("command")  # names the output folder
        assert doc["test"]["metrics"] and doc["validation"]["metrics"]
    assert _comparable(docs[0]) == _comparable(docs[1])
    rows = pd.read_csv(penguins_path())
    np.testing.assert_array_equal(
        beside.model.predict_proba(rows), inline.model.predict_proba(rows)
    )


def test_an_evaluation_failing_in_its_process_is_raised_in_the_run():
    from polyclass.pipeline._run import _in_child

    with pytest.raises(ZeroDivisionError):
        _in_child(lambda: {"x": 1 / 0})()
    assert _in_child(lambda: {"x": 1})() == {"x": 1}


def _train_in_daemon(out: str, send) -> None:
    result = train(
        data=penguins_path(), target="species", out=out, register=False, n_jobs=2, **FAST
    )
    send.send(result.test_metrics["metrics"]["accuracy"]["value"])


def test_a_run_inside_a_daemonic_process_evaluates_in_place(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    worker = context.Process(target=_train_in_daemon, args=(str(tmp_path), writer), daemon=True)
    worker.start()
    assert reader.poll(120), "the run in the daemonic process gave no result"
    assert 0 < reader.recv() <= 1
    worker.join(10)
    assert worker.exitcode == 0


def test_an_evaluation_process_hands_back_an_error_that_does_not_pickle() -> None:
    """An exception the parent cannot rebuild arrives as its type and message, not as
    the unpickling's own TypeError."""
    from polyclass.pipeline._run import _in_child

    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a}/{b}")

    def work() -> dict[str, object]:
        raise Odd(1, 2)

    with pytest.raises(RuntimeError, match="Odd: 1/2"):
        _in_child(work)()
