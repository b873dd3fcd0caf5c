"""A model artifact written by an earlier polyclass must keep loading and predicting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import polyclass
from polyclass.datasets import penguins_path

GOLDEN = Path(__file__).parent / "golden"


def test_model_v1_loads_and_predicts_as_when_written():
    expected = json.loads((GOLDEN / "model_v1_expected.json").read_text())
    model = polyclass.load(GOLDEN / "model_v1")
    frame = pd.read_csv(penguins_path()).head(expected["rows"])
    assert model.predict(frame).tolist() == expected["predictions"]
    np.testing.assert_allclose(model.predict_proba(frame), expected["proba"], atol=1e-10)
