"""`polyclass monitor` says what moved: one drifting feature alerts, with its statistic
and p-value apart; the report draws no one-dot series; the model's own metric and name."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import polyclass
from _monitor_log import HOUR, T0, write_feedback, write_predictions
from polyclass.cli import app
from polyclass.datasets import penguins_path
from polyclass.monitor import MonitorConfig, monitor

runner = CliRunner()


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    root = tmp_path_factory.mktemp("says")
    result = polyclass.train(
        data=str(penguins_path()),
        target="species",
        out=str(root / "out"),
        register=False,
        cv=2,
        n_bootstrap=20,
        strategies=["multinomial"],
        families=["linear"],
        C=[1.0],
        metric="balanced_accuracy",
    )
    return polyclass.load(result.artifact_path)


def _log(model, log_dir, frame, *, hours=2.0, feedback=False):
    kinds = {f.name: f.kind for f in model.schema.features}
    ts = T0 + (np.arange(len(frame)) * (hours * HOUR / len(frame))).astype(np.int64)
    write_predictions(
        log_dir,
        classes=[str(c) for c in model.classes_],
        proba=model.predict_proba(frame),
        ts=ts,
        model_name="model",
        model_version=-1,
        inputs={
            c: ("numeric" if k == "numeric" else "categorical", frame[c]) for c, k in kinds.items()
        },
    )
    if feedback:
        write_feedback(
            log_dir,
            request_ids=[f"r1-{i}" for i in range(len(frame))],
            labels=frame["species"].astype(str).tolist(),
            ts=ts + 5,
        )


def _traffic(shift: float = 0.0) -> pd.DataFrame:
    frame = pd.read_csv(penguins_path()).sample(600, replace=True, random_state=1)
    frame = frame.reset_index(drop=True)
    frame.loc[::2, "body_mass_g"] += shift
    return frame


def test_one_drifting_feature_alerts_with_statistic_and_p_value(penguins, tmp_path):
    _log(penguins, tmp_path / "log", _traffic(shift=1500.0))
    res = runner.invoke(
        app,
        ["monitor", str(penguins.path), "--log", str(tmp_path / "log"), "--out", str(tmp_path)],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 1, res.output
    assert "ALERT" in res.output and "body_mass_g" in res.output
    header = next(line for line in res.output.splitlines() if "p-value" in line)
    assert "statistic" in header and "threshold" in header
    row = next(line for line in res.output.splitlines() if "body_mass_g" in line and "ks" in line)
    statistic, p_value = re.findall(r"\d\.\d+(?:e-\d+)?", row)[:2]
    assert 0.2 < float(statistic) < 1.0 and float(p_value) < 1e-6
    # the model's own name (not its folder "model") in the retraining command
    assert "polyclass retrain penguins@production" in res.output
    doc = json.loads((tmp_path / "monitor.json").read_text())
    body = next(f for f in doc["drift"]["features"] if f["name"] == "body_mass_g")
    assert body["p_value"] < 1e-6 and body["statistic"] == pytest.approx(body["stats"]["ks"])


def test_stable_traffic_is_ok_and_the_rule_is_configurable(penguins, tmp_path):
    _log(penguins, tmp_path / "ok", _traffic())
    res = runner.invoke(
        app, ["monitor", str(penguins.path), "--log", str(tmp_path / "ok"), "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    _log(penguins, tmp_path / "shift", _traffic(shift=1500.0))
    share = MonitorConfig(drift_alert="share")
    assert monitor(penguins, tmp_path / "shift", config=share).exit_code == 0
    assert monitor(penguins, tmp_path / "shift", config=MonitorConfig(drift_alert="any")).alerts
    # with only the single most important feature watched, body mass alone does not alert
    top = penguins.info["important_features"][0]
    watched = MonitorConfig(important_features=1)
    assert (monitor(penguins, tmp_path / "shift", config=watched).exit_code == 1) == (
        top == "body_mass_g"
    )
    with pytest.raises(ValueError, match="drift_alert must be one of"):
        MonitorConfig(drift_alert="sometimes")
    with pytest.raises(ValueError, match="important_features"):
        MonitorConfig.from_dict({"important_features": 0})
    res = runner.invoke(app, ["monitor", str(penguins.path), "--drift-alert", "often"])
    assert res.exit_code == 2 and "important" in res.output


def test_live_performance_uses_the_models_metric(penguins, tmp_path):
    _log(penguins, tmp_path, _traffic(), feedback=True)
    result = monitor(penguins, tmp_path)
    assert result.performance_metric == "balanced_accuracy"
    doc = result.to_dict()
    assert doc["performance_metric"] == "balanced_accuracy"
    assert doc["performance_threshold"] == pytest.approx(
        doc["reference_performance"]["balanced_accuracy"] - 0.05
    )
    chosen = monitor(penguins, tmp_path, config=MonitorConfig(performance_metric="f1_macro"))
    assert chosen.performance_metric == "f1_macro"


def test_report_has_no_single_dot_series_and_labels_the_p_value(penguins, tmp_path):
    from polyclass.monitor._report import render_monitor_html

    _log(penguins, tmp_path / "one", _traffic(shift=1500.0), hours=0.5)
    html = render_monitor_html(monitor(penguins, tmp_path / "one").to_dict())
    assert "<th class=num>p-value</th>" in html
    assert "per window" not in html and "needs at least two" in html
    _log(penguins, tmp_path / "many", _traffic(shift=1500.0), hours=5)
    html = render_monitor_html(monitor(penguins, tmp_path / "many").to_dict())
    assert "balanced accuracy per window" in html and "needs at least two" not in html


def test_drift_of_a_dataframe_is_public_and_equal_for_every_text_dtype(penguins):
    from polyclass.monitor import data_drift

    frame = _traffic(shift=1500.0)
    base = data_drift(penguins, frame)
    assert [f.name for f in base.features if f.drifted] == ["body_mass_g"]
    variants = {
        "category": frame.astype({"island": "category", "sex": "category"}),
        "arrow": frame.astype({"island": "string[pyarrow]", "sex": "string[pyarrow]"}),
        "python string": frame.astype({"island": "string", "sex": "string"}),
    }
    for name, variant in variants.items():
        other = data_drift(penguins, variant)
        for a, b in zip(base.features, other.features, strict=True):
            assert (a.name, a.n, a.statistic, a.missing_share) == (
                b.name,
                b.n,
                b.statistic,
                b.missing_share,
            ), name
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert data_drift(penguins, table).to_dict() == base.to_dict()
    with pytest.raises(ValueError, match=r"no column\(s\) \['sex'\]"):
        data_drift(penguins, frame.drop(columns="sex"))


def test_categorical_counts_take_arrow_once_and_keep_mixed_values_exact():
    import pyarrow as pa

    from polyclass.monitor import CategoricalReference
    from polyclass.monitor._drift import _as_arrow, count_categorical

    ref = CategoricalReference.from_values("c", np.array(["a", "b", "1", "True"], dtype=object))
    mixed = pd.Series(["a", 1, True, None, float("nan"), "zz"], dtype=object)
    assert not isinstance(_as_arrow(mixed), pa.Array)  # mixed types: the exact path
    counts = count_categorical(ref, mixed)
    as_logged = count_categorical(ref, pa.array(["a", "1", "True", None, None, "zz"]))
    assert counts.counts.tolist() == as_logged.counts.tolist()
    assert counts.counts.sum() == 4 and counts.missing.tolist() == [2]
    expected = count_categorical(ref, pa.array(["a", "b", None]))
    for values in (
        pd.Series(["a", "b", None]),
        pd.Series(["a", "b", None], dtype="category"),
        pd.Series(["a", "b", None], dtype="string[pyarrow]"),
        np.array(["a", "b", None], dtype=object),
    ):
        assert isinstance(_as_arrow(values), pa.Array | pa.ChunkedArray)
        got = count_categorical(ref, values)
        assert got.counts.tolist() == expected.counts.tolist() and got.missing.tolist() == [1]


def test_row_hashes_agree_before_and_after_the_data_checks():
    from polyclass.monitor import row_hashes

    kinds = {"d": "datetime", "x": "numeric", "c": "categorical"}
    raw = pd.DataFrame({"d": ["2020-01-02", None], "x": ["3750", "oops"], "c": ["a", None]})
    checked = pd.DataFrame(
        {
            "d": pd.to_datetime(["2020-01-02", None]),
            "x": [3750.0, np.nan],
            "c": pd.Series(["a", np.nan], dtype="category"),
        }
    )
    assert row_hashes(raw, kinds).tolist() == row_hashes(checked, kinds).tolist()
    other = checked.assign(x=[3751.0, np.nan])
    assert row_hashes(other, kinds)[0] != row_hashes(checked, kinds)[0]


def test_the_reports_drift_verdict_follows_the_alert_rule_that_decided(penguins, tmp_path):
    from polyclass.monitor._report import render_monitor_html

    _log(penguins, tmp_path / "shift", _traffic(shift=1500.0))
    for rule, fired in (("any", True), ("share", False)):
        result = monitor(penguins, tmp_path / "shift", config=MonitorConfig(drift_alert=rule))
        doc = result.to_dict()
        assert not doc["drift"]["dataset_drift"]  # one feature of seven: no dataset drift
        assert any(a["kind"] == "data_drift" for a in doc["alerts"]) == fired
        html = render_monitor_html(doc)
        verdict = re.search(r"<p><strong>([^<]*)</strong> \(rule (\w+):", html)
        assert verdict is not None, html
        assert verdict.groups() == ("Drift alert" if fired else "No drift alert", rule)
        assert "No dataset drift" not in html
