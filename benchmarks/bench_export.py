"""The exported ONNX graph in onnxruntime against polyclass's own predictor, in one run.

Usage: ``python benchmarks/bench_export.py [--quick]``. Each model family is trained on
the penguins and asked for labels and probabilities of one row and of 100,000 rows
(penguins resampled with noise). "ours" is onnxruntime on the exported graph (inputs
already in its tensors); the baseline is ``Model.predict_with_proba`` of the saved and
loaded model (the NumPy predictors ``polyclass serve`` uses) on the same rows
(a list of dicts for one row, as the server reads a request; a DataFrame for the
batch). The speed-up is baseline time / onnxruntime time.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))

import polyclass
from _harness import Case, run_all
from polyclass.data import infer_schema
from polyclass.datasets import load_penguins
from polyclass.export import onnx_feeds, to_onnx
from polyclass.families import get_family
from polyclass.model import Model
from polyclass.preprocess import Preprocessor

KINDS = [
    ("linear", {"strategy": "multinomial", "C": 1.0}),
    ("linear", {"strategy": "ovo", "C": 1.0}),
    ("boosting", {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31}),
    ("forest", {"kind": "random", "n_estimators": 100, "min_samples_leaf": 1}),
    ("mlp", {"hidden_layer_sizes": (64,), "max_iter": 300}),
    ("svm", {"kernel": "rbf", "C": 1.0, "n_components": 150, "gamma": None}),
]


def _model(df: pd.DataFrame, family: str, params: dict[str, Any], folder: Path) -> Model:
    schema = infer_schema(df, "species")
    pre = Preprocessor(schema).fit(df)
    estimator = get_family(family).build(dict(params), random_state=0)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(pre.transform(df), df["species"].to_numpy())
    model = Model(schema=schema, preprocessor=pre, estimator=estimator, family=family)
    return polyclass.load(model.save(folder / family / str(len(list(folder.glob("*/*"))))))


def _big(df: pd.DataFrame, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    big = df.drop(columns="species").sample(rows, replace=True, random_state=0)
    big = big.reset_index(drop=True)
    for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
        big[column] = big[column] * rng.normal(1.0, 0.02, size=rows)
    return big


def main(argv: list[str]) -> None:
    rows = 10_000 if "--quick" in argv else 100_000
    df = load_penguins()
    big = _big(df, rows)
    one = big.iloc[:1]
    one_row = [{k: (None if pd.isna(v) else v) for k, v in one.iloc[0].items()}]
    cases = []
    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    for family, params in KINDS:
        model = _model(df, family, params, folder)
        name = family if family != "linear" else f"linear {params['strategy']}"
        session = ort.InferenceSession(
            to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"]
        )
        one_feeds, big_feeds = onnx_feeds(model, one), onnx_feeds(model, big)
        labels, proba = session.run(None, big_feeds)  # the graph answers as the model does
        expected_labels, expected_proba = model.predict_with_proba(big)
        assert np.array_equal(labels, expected_labels)
        assert np.abs(proba - expected_proba).max() <= 1e-6

        def ort_one(s: Any = session, f: Any = one_feeds) -> Any:
            return s.run(None, f)

        def ort_big(s: Any = session, f: Any = big_feeds) -> Any:
            return s.run(None, f)

        def ours_one(m: Model = model) -> Any:
            return m.predict_with_proba(one_row)

        def ours_big(m: Model = model) -> Any:
            return m.predict_with_proba(big)

        cases.append(Case(f"{name}: 1 row", ort_one, ours_one, 64, repeat=200))
        cases.append(
            Case(
                f"{name}: {rows:,} rows",
                ort_big,
                ours_big,
                int(big.memory_usage(deep=True).sum()),
                repeat=3,
            )
        )
    run_all("onnxruntime on the exported graph vs polyclass's predictor", cases)


if __name__ == "__main__":
    main(sys.argv[1:])
