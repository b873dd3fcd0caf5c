"""The binary cost mode: which class is positive, and where the threshold is chosen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polyclass.pipeline import ConfigError, TrainConfig, train
from polyclass.pipeline._costs import positive_class_of

FAST = {
    "C": [1.0],
    "class_weight": ["none"],
    "cv": 3,
    "n_bootstrap": 100,
    "families": ["linear"],
}


def _table(path: Path, n: int, share_yes: float, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    yes = rng.random(n) < share_yes
    frame = pd.DataFrame(
        {
            "weight": rng.normal(3000, 400, n) - 600 * yes,
            "cylinders": rng.normal(6, 1, n) - 2 * yes,
            "is_usa": np.where(yes, "yes", "no"),
        }
    )
    frame.to_csv(path, index=False)
    return path


def _cfg(**options: object) -> TrainConfig:
    return TrainConfig(data="x.csv", target="y", **options)  # type: ignore[arg-type]


def test_positive_class_is_named_standard_or_rare_and_plain() -> None:
    y = np.array(["no"] * 374 + ["yes"] * 626)
    classes = np.unique(y)
    named = positive_class_of(_cfg(positive_class="yes"), y, classes)
    assert named == "yes" and type(named) is str
    # no costs: the smaller class, as a plain str (not np.str_)
    smaller = positive_class_of(_cfg(), y, classes)
    assert smaller == "no" and type(smaller) is str
    rare = np.array(["a"] * 900 + ["b"] * 100)
    assert positive_class_of(_cfg(cost_fp=1.0, cost_fn=5.0), rare, np.unique(rare)) == "b"
    ones = np.array([1] * 900 + [0] * 100)
    assert positive_class_of(_cfg(cost_fp=1.0, cost_fn=5.0), ones, np.unique(ones)) == 1


def test_costs_on_two_common_classes_ask_which_is_positive() -> None:
    y = np.array(["no"] * 374 + ["yes"] * 626)
    with pytest.raises(ConfigError, match=r"neither is rare .*'no' 37\.4%.*--positive-class no"):
        positive_class_of(_cfg(cost_fp=1.0, cost_fn=5.0), y, np.unique(y))


def test_named_common_positive_is_not_called_rare_nor_np_str(tmp_path: Path) -> None:
    data = _table(tmp_path / "cars.csv", 400, 0.626)
    result = train(
        data=data,
        target="is_usa",
        out=tmp_path / "out",
        register=False,
        positive_class="yes",
        cost_fp=1.0,
        cost_fn=4.0,
        **FAST,
    )
    assert result.model.decision.positive_class == "yes"
    report = result.report_path.read_text()
    metrics = result.metrics_path.read_text()
    for text in (report, metrics, result.model.decision.describe()):
        assert "np.str_" not in text
    assert "is rare" not in " ".join(result.scorer.get("reasons", []))
    assert "is rare" not in report


def test_few_validation_positives_choose_the_threshold_out_of_fold(tmp_path: Path) -> None:
    data = _table(tmp_path / "rare.csv", 300, 0.1)
    result = train(
        data=data,
        target="is_usa",
        out=tmp_path / "out",
        register=False,
        cost_fp=1.0,
        cost_fn=5.0,
        **FAST,
    )
    assert result.model.decision.positive_class == "yes"
    codes = [w["code"] for w in result.warnings]
    assert "few_threshold_positives" in codes
    threshold = json.loads(result.metrics_path.read_text())["threshold"]
    assert threshold["chosen_on"].startswith("out-of-fold predictions on the training rows")
    assert "out-of-fold predictions" in result.report_path.read_text()
