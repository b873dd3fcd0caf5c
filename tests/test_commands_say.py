"""`polyclass train` and `evaluate` say what they did: chosen strategy, seed, command
line, tuning sample, no silent overwrite, TOML lists, what was scored and on which rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import polyclass
from polyclass.cli import app
from polyclass.datasets import penguins_path
from polyclass.pipeline import ConfigError, OutputExistsError, TrainConfig

runner = CliRunner()
EXAMPLES = Path(__file__).parents[1] / "examples"
SMALL = [
    *("--cv", "2", "--C", "1", "--strategies", "multinomial", "--class-weight", "none"),
    *("--families", "linear"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("say")
    argv = ["train", str(penguins_path()), "--target", "species", "--out", "run"]
    argv += [*SMALL, "--seed", "7", "--no-register"]
    done = subprocess.run(
        [sys.executable, "-m", "polyclass.cli", *argv],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return root, done.stdout


def test_train_prints_the_choice_and_records_seed_and_command(trained):
    root, stdout = trained
    assert (
        "Parameters: family=linear, strategy=multinomial, C=1, l1_ratio=0, class_weight=none"
        in stdout
    )
    assert "Chosen: linear has the best mean cross-validated" in stdout
    doc = json.loads((root / "run" / "metrics.json").read_text())
    model = doc["model"]
    assert model["seed"] == 7
    assert model["command"].startswith("polyclass train ") and "--seed 7" in model["command"]
    assert "fingerprint" not in model  # the label says what it is
    assert len(model["training data fingerprint (SHA-256 of the table)"]) == 64
    html = (root / "run" / "report.html").read_text()
    assert "training data fingerprint (SHA-256 of the table)" in html and "--seed 7" in html


def test_out_is_never_overwritten_silently(trained, tmp_path):
    root, _ = trained
    before = (root / "run" / "report.html").stat().st_mtime_ns
    argv = ["train", str(penguins_path()), "--target", "species", "--out", str(root / "run")]
    res = runner.invoke(app, [*argv, *SMALL, "--no-register"])
    assert res.exit_code == 2
    assert "already holds a run" in res.output and "--overwrite" in res.output
    assert (root / "run" / "report.html").stat().st_mtime_ns == before
    with pytest.raises(OutputExistsError, match="--overwrite"):
        polyclass.train(data=str(penguins_path()), target="species", out=str(root / "run"))
    (tmp_path / "report.html").write_text("a previous evaluation")
    res = runner.invoke(
        app,
        ["evaluate", str(root / "run" / "model"), str(penguins_path()), "--out", str(tmp_path)],
    )
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (tmp_path / "report.html").read_text() == "a previous evaluation"


def test_tuning_on_a_sample_is_said(tmp_path, monkeypatch):
    import polyclass.pipeline._steps as steps_module

    monkeypatch.setattr(steps_module, "TUNE_MAX_ROWS", 100)
    result = polyclass.train(
        data=str(penguins_path()),
        target="species",
        out=str(tmp_path),
        register=False,
        cv=2,
        n_bootstrap=20,
        strategies="multinomial",
        C="1",
        families="linear",
    )
    assert result.tuning["sampled"] and result.tuning["of"] > result.tuning["rows"]
    html = result.report_path.read_text()
    assert f"of {result.tuning['of']:,} training rows" in html


def test_toml_lists_and_comma_strings_alike(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('target = "y"\nstrategies = "multinomial"\nC = "0.1,1"\ncv = 3\n')
    cfg = TrainConfig.from_toml(path, data="d.csv")
    assert cfg.strategies == ["multinomial"] and cfg.C == [0.1, 1.0] and cfg.cv == 3
    path.write_text('target = "y"\nstrategies = ["ovr", "ovo"]\nC = [0.5, 2]\n')
    cfg = TrainConfig.from_toml(path, data="d.csv")
    assert cfg.strategies == ["ovr", "ovo"] and cfg.C == [0.5, 2.0]
    for text, message in (
        ('C = "0.1,x"', "C must hold numbers"),
        ('cv = "5"', "cv must be a whole number"),
        ("strategies = 3", "strategies must be a list or a comma-separated string"),
        ('strategies = "multinomial,softmax"', "unknown value"),
    ):
        path.write_text(f'target = "y"\n{text}\n')
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_toml(path, data="d.csv")
        res = runner.invoke(app, ["train", "--config", str(path), "d.csv"])
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output


def test_the_example_toml_file_trains(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "polyclass.cli",
            "train",
            "--config",
            str(EXAMPLES / "train.toml"),
            str(penguins_path()),
            "--C",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads((tmp_path / "out" / "penguins-toml" / "metrics.json").read_text())
    assert doc["strategies"]["n_splits"] == 3
    linear = [c for c in doc["strategies"]["candidates"] if c["family"] == "linear"]
    assert {c["strategy"] for c in linear} == {"multinomial", "ovr"}
    assert {r["family"] for r in doc["leaderboard"]["families"]} == {"linear", "boosting"}


def test_evaluate_says_what_it_scored_and_warns_on_training_rows(trained, tmp_path):
    root, _ = trained
    model = str(root / "run" / "model")
    res = runner.invoke(
        app, ["evaluate", model, str(penguins_path()), "--out", str(tmp_path / "same")]
    )
    assert res.exit_code == 0, res.output
    assert "trained on (same fingerprint)" in res.output
    html = (tmp_path / "same" / "report.html").read_text()
    assert "held-out test set, scored once after the final fit" not in html
    assert "344 labelled rows" in html and "optimistic" in html
    assert "on evaluated rows" in html and "on test" not in html
    for empty in ("was given", "were given", "not computed", "were recorded"):
        assert empty not in html, empty
    assert 'id="strategies"' not in html and 'id="validation"' not in html
    assert 'href="#strategies"' not in html

    frame = pd.read_csv(penguins_path())
    new = frame.assign(body_mass_g=frame["body_mass_g"] + 1.0)  # rows it never saw
    mixed = pd.concat([frame.head(100), new.tail(100)])
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    res = runner.invoke(
        app, ["evaluate", model, str(tmp_path / "mixed.csv"), "--out", str(tmp_path / "m")]
    )
    assert res.exit_code == 0, res.output
    fitted = int(res.output.split(" of 200 rows")[0].split()[-1])
    assert 60 <= fitted <= 100  # about 80% of the first 100 rows were fitted
    new.tail(100).to_csv(tmp_path / "new.csv", index=False)
    res = runner.invoke(
        app, ["evaluate", model, str(tmp_path / "new.csv"), "--out", str(tmp_path / "n")]
    )
    assert res.exit_code == 0 and "warning" not in res.output, res.output


def test_help_shows_real_choices_and_defaults():
    from typing import get_args

    from polyclass.pipeline._cli import Metric
    from polyclass.pipeline._scoring import METRIC_CHOICES

    assert set(get_args(Metric)) == set(METRIC_CHOICES)
    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "240"})
    assert "grid|random" in res.output and "[default: (0.2)]" in res.output
    assert "auto|accuracy" in res.output and "--overwrite" in res.output
    res = runner.invoke(app, ["train", "d.csv", "--target", "y", "--search", "grd"])
    assert res.exit_code == 2 and "grid" in res.output


def test_an_unreadable_parquet_file_is_one_clean_sentence(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("x,y\n1,2\n")
    res = runner.invoke(app, ["train", str(bad), "--target", "y", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "not a parquet file. Check that it is a Parquet file" in text and ".." not in text
