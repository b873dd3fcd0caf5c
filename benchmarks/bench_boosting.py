"""LightGBM against scikit-learn's HistGradientBoosting for the "boosting" family.

Both fit the same boosting on the same polyclass-preprocessed 75%/25% stratified split:
100 rounds, learning rate 0.1, 31 leaves, at least 20 rows a leaf, no early stopping, two
threads each. Printed per table: fit and predict_proba time (best of ``--repeat``), test
macro-F1, and LightGBM's speed-up over HistGradientBoosting (above 1: LightGBM faster).

Run: ``.venv/bin/python benchmarks/bench_boosting.py`` (needs ``lightgbm`` and
``vega_datasets``; ``--quick`` uses 50k rows instead of 200k for the synthetic table).
"""

from __future__ import annotations

import argparse
import gc
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, make_classification
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from polyclass.data import infer_schema
from polyclass.preprocess import Preprocessor

THREADS = 2


def tables(n_synthetic: int) -> dict[str, pd.DataFrame]:
    from vega_datasets import data

    digits = load_digits(as_frame=True).frame
    cars = data.cars().drop(columns=["Name"])
    cars["Year"] = pd.to_datetime(cars["Year"]).dt.year
    X, y = make_classification(
        n_samples=n_synthetic,
        n_features=30,
        n_informative=15,
        n_classes=6,
        random_state=0,
    )
    synthetic = pd.DataFrame(X, columns=[f"x{i}" for i in range(30)]).assign(target=y)
    return {
        "digits": digits,
        "cars (Origin)": cars.rename(columns={"Origin": "target"}),
        f"make_classification {n_synthetic // 1000}k x 30, 6 classes": synthetic,
    }


def split(df: pd.DataFrame) -> tuple[Any, Any, Any, Any]:
    train, test = train_test_split(df, test_size=0.25, stratify=df["target"], random_state=0)
    schema = infer_schema(train, "target")
    pre = Preprocessor(schema).fit(train)
    dense = [
        np.asarray(getattr(m, "toarray", lambda m=m: m)())
        for m in (pre.transform(train), pre.transform(test))
    ]
    return dense[0], train["target"].to_numpy(), dense[1], test["target"].to_numpy()


def hgb() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=31,
        min_samples_leaf=20,
        early_stopping=False,
        random_state=0,
    )


def lgbm() -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        learning_rate=0.1,
        n_estimators=100,
        num_leaves=31,
        min_child_samples=20,
        n_jobs=THREADS,
        random_state=0,
        verbose=-1,
    )


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def measure(
    make: Callable[[], Any], data: tuple[Any, Any, Any, Any], repeat: int
) -> dict[str, float]:
    X, y, X_test, y_test = data
    with threadpool_limits(THREADS), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LightGBM's feature-name notice
        fit_s, model = best(lambda: make().fit(X, y), repeat)
        predict_s, proba = best(lambda: model.predict_proba(X_test), repeat)
    predicted = model.classes_[np.argmax(proba, axis=1)]
    return {"fit": fit_s, "predict": predict_s, "f1": f1_score(y_test, predicted, average="macro")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n = 50_000 if args.quick else 200_000
    print("## boosting: LightGBM (ours if chosen) vs sklearn HistGradientBoosting (baseline)")
    print(
        f"{'table':<44} {'fit HGB':>8} {'fit LGB':>8} {'x':>6} {'pred HGB':>9} {'pred LGB':>9}"
        f" {'x':>6} {'F1 HGB':>7} {'F1 LGB':>7}"
    )
    for name, df in tables(n).items():
        data = split(df)
        repeat = 1 if len(df) > 100_000 else args.repeat
        a = measure(hgb, data, repeat)
        b = measure(lgbm, data, repeat)
        print(
            f"{name:<44} {a['fit']:8.3f} {b['fit']:8.3f} {a['fit'] / b['fit']:5.2f}x"
            f" {a['predict']:9.4f} {b['predict']:9.4f} {a['predict'] / b['predict']:5.2f}x"
            f" {a['f1']:7.4f} {b['f1']:7.4f}",
            flush=True,
        )
    print("x: LightGBM's speed-up over HistGradientBoosting (time HGB / time LightGBM)")


if __name__ == "__main__":
    main()
