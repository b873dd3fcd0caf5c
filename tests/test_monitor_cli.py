"""End to end: train and register, log traffic per the contract, `polyclass monitor`."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import polyclass
from _monitor_log import HOUR, T0, write_feedback, write_predictions
from polyclass.cli import app
from polyclass.monitor import Reference
from polyclass.monitor._monitor import monitor, monitor_gauges
from polyclass.monitor._prometheus import series_names

runner = CliRunner()


def _frame(rng, n, shift=0.0):
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    color = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    score = x1 + x2 + (color == "red") * 0.5
    y = np.where(score > 0.8, "high", np.where(score < -0.8, "low", "mid"))
    return pd.DataFrame({"x1": x1, "x2": x2, "color": color, "y": y})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mon")
    data = root / "train.csv"
    _frame(np.random.default_rng(0), 1500).to_csv(data, index=False)
    result = polyclass.train(
        data=str(data),
        target="y",
        out=str(root / "out"),
        name="toy",
        registry=str(root / "reg"),
        cv=2,
        n_bootstrap=20,
        strategies=["multinomial"],
        families=["linear"],
        C=[1.0],
    )
    return root, result


def _log(model, log_dir, frame, hour, seq, *, feedback=True, wrong=0.0):
    proba = model.predict_proba(frame)
    pred = [str(p) for p in model.predict(frame)]
    ts = T0 + hour * HOUR + np.arange(len(frame)) * 1000
    write_predictions(
        log_dir,
        classes=[str(c) for c in model.classes_],
        proba=proba,
        ts=ts,
        predictions=pred,
        model_name="toy",
        model_version=1,
        seq=seq,
        inputs={
            "x1": ("numeric", frame["x1"]),
            "x2": ("numeric", frame["x2"]),
            "color": ("categorical", frame["color"]),
        },
    )
    if feedback:
        labels = frame["y"].astype(str).to_numpy().copy()
        flip = np.random.default_rng(seq).random(len(labels)) < wrong
        labels[flip] = np.where(labels[flip] == "low", "high", "low")
        write_feedback(
            log_dir,
            request_ids=[f"r{seq}-{i}" for i in range(len(frame))],
            labels=list(labels),
            ts=ts + 5,
            seq=seq,
        )


def test_reference_is_stored_in_the_artifact(trained):
    _, result = trained
    model = polyclass.load(result.artifact_path)
    ref = Reference.from_state(*model.reference)
    assert set(ref.features) == {"x1", "x2", "color"}
    assert ref.classes == tuple(str(c) for c in model.classes_)
    assert ref.class_counts.sum() == ref.n_rows and ref.score_rows == "test"
    assert len(ref.scores) == 3 and "accuracy" in ref.performance


def test_golden_model_without_reference_still_loads_and_monitors(tmp_path):
    from pathlib import Path

    model = polyclass.load(Path(__file__).parent / "golden" / "model_v1")
    assert model.reference is None
    from polyclass.datasets import penguins_path

    frame = pd.read_csv(penguins_path()).head(30)
    write_predictions(
        tmp_path,
        classes=[str(c) for c in model.classes_],
        proba=model.predict_proba(frame),
        ts=T0 + np.arange(30),
        inputs={},
    )
    result = monitor(Path(__file__).parent / "golden" / "model_v1", tmp_path)
    assert result.drift is None and "no reference statistics" in result.notes[0]
    assert result.estimate["overall"]["n"] == 30


def test_monitor_default_log_ok_then_drift_alert(trained, tmp_path, monkeypatch):
    root, _ = trained
    monkeypatch.chdir(tmp_path)
    reg = str(root / "reg")
    model = polyclass.load("toy", registry=reg)
    log_dir = root / "reg" / "logs" / "toy"  # where `polyclass serve` writes it
    rng = np.random.default_rng(11)
    _log(model, log_dir, _frame(rng, 400), 0, 1)
    _log(model, log_dir, _frame(rng, 400), 1, 2)
    res = runner.invoke(app, ["monitor", "toy", "--registry", reg, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "ok" and doc["log"]["rows"] == 800
    assert doc["live"]["n_labelled"] == 800 and not doc["drift"]["dataset_drift"]

    # hour 2: x1 shifted and labels mostly wrong -> drift and performance alerts
    _log(model, log_dir, _frame(rng, 400, shift=2.5), 2, 3, wrong=0.6)
    out = tmp_path / "report"
    marker = tmp_path / "alerted.json"
    cmd = f"{sys.executable} -c \"import sys; open({str(marker)!r}, 'w').write(sys.stdin.read())\""
    config = tmp_path / "monitor.toml"
    config.write_text("drift_share = 0.3\n[columns.x2]\nmethod = 'psi'\n")
    res = runner.invoke(
        app,
        [
            "monitor",
            "toy",
            "--registry",
            reg,
            "--since",
            "2026-01-01T02:00:00Z",
            "--out",
            str(out),
            "--alert-command",
            cmd,
            "--config",
            str(config),
        ],
    )
    assert res.exit_code == 1, res.output
    alerts = json.loads(marker.read_text())
    kinds = {a["kind"] for a in alerts}
    assert {"data_drift", "performance"} <= kinds
    assert alerts[0]["features"][0] == "x1"
    assert "polyclass feedback export" in alerts[0]["retrain_command"]
    assert "polyclass retrain" in alerts[0]["retrain_command"]
    html = (out / "monitor.html").read_text()
    assert "<svg" in html and "x1" in html and "needs at least two" in html  # one window
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert json.loads((out / "monitor.json").read_text())["status"] == "alert"

    res = runner.invoke(
        app,
        ["monitor", "toy", "--registry", reg, "--format", "prometheus", "--config", str(config)],
    )
    assert res.exit_code == 1
    names = set(series_names(res.stdout))
    assert {
        "polyclass_monitor_dataset_drift_share",
        "polyclass_monitor_live_accuracy",
        "polyclass_monitor_feature_drifted",
        "polyclass_monitor_alert",
    } <= names
    text = monitor_gauges("toy", registry=reg)
    assert 'polyclass_monitor_up{model="toy"} 1' in text


def test_corrupt_segment_is_reported_not_fatal_and_failures_exit_2(trained, tmp_path):
    root, result = trained
    model = polyclass.load(result.artifact_path)
    _log(model, tmp_path, _frame(np.random.default_rng(3), 200), 0, 1)
    (tmp_path / "predictions" / "part-20260101T010000000000-4242-2.parquet").write_bytes(
        b"PAR1\x00\x01 not really"
    )
    (tmp_path / "feedback" / "part-20260101T010000000000-4242-2.parquet").write_bytes(b"")
    res = runner.invoke(
        app, ["monitor", str(result.artifact_path), "--log", str(tmp_path), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    problems = json.loads(res.stdout)["log"]["problems"]
    assert {p["kind"] for p in problems} == {"predictions", "feedback"}
    res = runner.invoke(
        app, ["monitor", str(result.artifact_path), "--log", str(tmp_path / "missing")]
    )
    assert res.exit_code == 2 and "No prediction log" in res.output
    res = runner.invoke(
        app, ["monitor", str(result.artifact_path), "--log", str(tmp_path), "--window", "soon"]
    )
    assert res.exit_code == 2 and "not a duration" in res.output
    res = runner.invoke(app, ["monitor", "nosuchmodel", "--registry", str(root / "reg")])
    assert res.exit_code == 2


def test_versions_say_what_share_of_the_served_requests_the_shadow_saw(trained, tmp_path):
    """40 requests answered by version 1; version 2 shadowed those from 5 to 34 but
    skipped every third: it saw 20 of the 30 requests answered while it ran."""
    _, result = trained
    model = polyclass.load(result.artifact_path)
    classes = [str(c) for c in model.classes_]
    frame = _frame(np.random.default_rng(3), 40)
    proba = model.predict_proba(frame)
    served = [str(p) for p in model.predict(frame)]
    ts = T0 + np.arange(40) * 1000
    inputs = {"x1": ("numeric", frame["x1"]), "x2": ("numeric", frame["x2"])}
    inputs["color"] = ("categorical", frame["color"])
    ids = [f"q{i}" for i in range(40)]
    write_predictions(
        tmp_path, classes=classes, proba=proba, ts=ts, predictions=served, inputs=inputs,
        request_ids=ids, model_name="toy", model_version=1, seq=1,
    )  # fmt: skip
    seen = [i for i in range(5, 35) if i % 3]
    shadow = [served[i] for i in seen]
    for k in range(4):  # the shadow disagrees on four rows
        shadow[k] = next(c for c in classes if c != shadow[k])
    write_predictions(
        tmp_path, classes=classes, proba=proba[seen], ts=ts[seen] + 300, predictions=shadow,
        inputs={name: (kind, np.asarray(v)[seen]) for name, (kind, v) in inputs.items()},
        request_ids=[ids[i] for i in seen], model_name="toy", model_version=2, seq=2,
    )  # fmt: skip
    args = ["monitor", str(result.artifact_path), "--log", str(tmp_path)]
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    (pair,) = json.loads(res.stdout)["versions"]["agreement"]
    assert pair == {
        "versions": [1, 2],
        "rows": 20,
        "agreement": 16 / 20,
        "served_version": 1,
        "shadow_version": 2,
        "served_requests": 30,
        "shadowed_requests": 20,
        "shadow_share": 20 / 30,
    }
    said = "The shadow (version 2) saw 66.7% of the 30 requests version 1 answered while it ran"
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "report")], terminal_width=400)
    assert res.exit_code == 0, res.output
    assert said in " ".join(res.stdout.split())
    assert said in (tmp_path / "report" / "monitor.html").read_text()
