"""``polyclass train | evaluate | predict`` through the real CLI entry point."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from polyclass.cli import app
from polyclass.datasets import penguins_path

runner = CliRunner()
FAST = ["--C", "1", "--class-weight", "none", "--cv", "3", "--families", "linear"]


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "polyclass" in result.output
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--target" in result.output


def test_train_evaluate_predict(tmp_path):
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "train",
            str(penguins_path()),
            "--target",
            "species",
            "--out",
            str(out),
            "--registry",
            url,
            "--name",
            "penguins",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "registered" in result.output and (out / "report.html").is_file()

    result = runner.invoke(
        app,
        [
            "evaluate",
            "penguins:1",
            str(penguins_path()),
            "--out",
            str(tmp_path / "ev"),
            "--registry",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ev" / "report.html").is_file()

    for suffix in (".csv", ".parquet"):
        target = tmp_path / f"pred{suffix}"
        result = runner.invoke(
            app,
            [
                "predict",
                str(out / "model"),
                str(penguins_path()),
                "-o",
                str(target),
                "--chunksize",
                "50",
                "--keep",
                "island",
            ],
        )
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(target) if suffix == ".csv" else pd.read_parquet(target)
        assert len(frame) == 344 and "prediction" in frame and "proba_Adelie" in frame
        assert frame.filter(like="proba_").sum(axis=1).round(6).eq(1).all()


def test_user_errors_exit_2_with_a_message(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope.csv"), "--target", "y"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["train", str(penguins_path())])
    assert result.exit_code == 2 and "--target" in result.output
    result = runner.invoke(app, ["predict", str(tmp_path), str(penguins_path()), "-o", "x.txt"])
    assert result.exit_code == 2
