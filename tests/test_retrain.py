"""``polyclass retrain``: refusals that name the fix, and a challenger that is not better."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from _serve_helpers import Trained
from polyclass.cli import app
from polyclass.datasets import penguins_path
from polyclass.registry import Registry

runner = CliRunner()


def _retrain(trained: Trained, tmp_path: Path, feedback: Path | None, *extra: str) -> Any:
    args = [
        "retrain",
        "penguins@production",
        "--data",
        str(penguins_path()),
        "--registry",
        str(trained.registry),
        "--out",
        str(tmp_path / "rt"),
        *extra,
    ]
    if feedback is not None:
        args += ["--feedback", str(feedback)]
    return runner.invoke(app, args)


def _penguins() -> pd.DataFrame:
    return pd.read_csv(penguins_path()).dropna(subset=["species"])


def _one_line(res: Any) -> str:
    return " ".join(res.output.split())


def test_empty_feedback_is_refused(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "fb.csv"
    _penguins().iloc[:0].to_csv(path, index=False)
    res = _retrain(trained, tmp_path, path)
    assert res.exit_code == 2
    assert "holds no labelled row" in _one_line(res) and "/feedback" in _one_line(res)


def test_feedback_with_other_columns_is_refused(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "fb.csv"
    _penguins().drop(columns=["body_mass_g"]).to_csv(path, index=False)
    res = _retrain(trained, tmp_path, path)
    assert res.exit_code == 2
    text = _one_line(res)
    assert "lacks the model's column(s) ['body_mass_g']" in text
    assert "polyclass feedback export" in text


def test_feedback_with_another_class_is_refused(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "fb.csv"
    frame = _penguins().iloc[:40].copy()
    frame.loc[frame.index[:3], "species"] = "Emperor"
    frame.to_csv(path, index=False)
    res = _retrain(trained, tmp_path, path)
    assert res.exit_code == 2
    text = _one_line(res)
    assert "classes differ from the champion's" in text and "Emperor" in text
    assert "polyclass train" in text


def test_too_few_feedback_rows_for_a_test_are_refused(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "fb.csv"
    _penguins().iloc[:10].to_csv(path, index=False)
    res = _retrain(trained, tmp_path, path)
    assert res.exit_code == 2 and "at least 20" in _one_line(res)


def test_a_bad_alpha_is_refused(trained: Trained, tmp_path: Path) -> None:
    res = _retrain(trained, tmp_path, None, "--alpha", "0.7")
    assert res.exit_code == 2 and "--alpha must lie in (0, 0.5)" in _one_line(res)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_challenger_no_better_is_not_promoted(trained: Trained, tmp_path: Path) -> None:
    # Feedback from the same world as the training data: nothing to gain.
    path = tmp_path / "fb.csv"
    _penguins().sample(frac=0.5, random_state=1).to_csv(path, index=False)
    res = _retrain(trained, tmp_path, path, "--promote-if-better", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["decision"] == {"better": False, "why": doc["decision"]["why"], "promoted": False}
    assert (
        doc["difference"]["low"] <= 0 <= doc["difference"]["high"]
        or doc["difference"]["value"] <= 0
    )
    assert doc["mcnemar"]["p_value"] > 0.05
    # the feedback is a sample of the champion's own training table: said, not hidden
    assert "are rows the champion was fitted on" in _one_line(res)
    assert any("fitted on" in w for w in doc["warnings"])
    with Registry(str(trained.registry)) as reg:
        aliases = reg.aliases("penguins")
    assert aliases["production"] == 1  # unchanged
    assert aliases["challenger"] == doc["challenger_version"]
    assert (tmp_path / "rt" / "comparison.html").exists()
    with Registry(str(trained.registry)) as reg:  # leave the shared registry as it was
        reg.delete("penguins", doc["challenger_version"], force=True)


def test_a_champion_without_stored_options_is_retrained_with_a_warning(
    trained: Trained,
) -> None:
    from polyclass.model import Model
    from polyclass.pipeline._retrain import _stored_options

    model = Model.load(trained.model_dir)
    options, warnings = _stored_options(model, 1)
    assert options["strategies"] == ["multinomial"] and warnings == []
    del model.info["train_config"]  # as saved by polyclass before the options were stored
    options, warnings = _stored_options(model, 1)
    assert set(options) == {"seed", "metric"}
    assert len(warnings) == 1
    assert "only seed=0, metric=" in warnings[0] and "strategies, costs" in warnings[0]


def test_feedback_without_times_says_the_file_order_decides(
    trained: Trained, tmp_path: Path
) -> None:
    from polyclass.pipeline._retrain import _split

    fb = _penguins().iloc[:60]
    _, test, source = _split(_penguins(), fb, ["bill_length_mm"], "species", 0.5)
    assert source == "feedback (last rows of the file)" and len(test) == 30
    timed = fb.assign(labelled_at=pd.date_range("2026-01-01", periods=60, tz="UTC")[::-1])
    _, test, source = _split(_penguins(), timed, ["bill_length_mm"], "species", 0.5)
    assert source == "feedback (newest)"
    # the newest labels are the file's first rows here
    expected = fb["bill_length_mm"].iloc[:30][::-1].reset_index(drop=True)
    assert test["bill_length_mm"].reset_index(drop=True).equals(expected)
