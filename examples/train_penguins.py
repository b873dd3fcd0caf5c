"""The main job from Python: train, reload without pickle, predict a new row.

Run: ``python examples/train_penguins.py``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polyclass
from polyclass.datasets import penguins_path

with tempfile.TemporaryDirectory() as tmp:
    result = polyclass.train(
        data=penguins_path(),
        target="species",
        families="linear,boosting",  # compared in the same folds; default: every family
        out=Path(tmp) / "out",
        registry=str(Path(tmp) / "registry"),
        name="penguins",
    )
    print("metric optimised:", result.scorer["name"])
    print("test macro F1:", round(result.test_metrics["metrics"]["f1_macro"]["value"], 4))
    print("chosen:", result.leaderboard["why"])
    print("report:", result.report_path)

    model = polyclass.load("penguins:1", registry=str(Path(tmp) / "registry"))
    row = {
        "island": "Biscoe",
        "bill_length_mm": 48.1,
        "bill_depth_mm": 15.1,
        "flipper_length_mm": 209.0,
        "body_mass_g": 5500.0,
        "sex": "male",
        "year": 2009,
    }
    print(
        "prediction:",
        model.predict([row])[0],
        {
            str(c): round(float(p), 3)
            for c, p in zip(model.classes_, model.predict_proba([row])[0], strict=True)
        },
    )
