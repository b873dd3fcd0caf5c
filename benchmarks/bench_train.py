"""The main job against a plain scikit-learn pipeline, and at scale.

Usage: ``python benchmarks/bench_train.py [quality] [speed] [scale]`` (default: all).

- quality: on penguins, wine, digits and breast-cancer, test macro-F1 of
  ``polyclass.train`` versus ``StandardScaler + LogisticRegression`` (with imputation and
  one-hot where a table needs them) fitted on the same train+validation rows and scored on
  the same test rows.
- speed: wall time of ``polyclass train`` on penguins with all three strategies
  cross-validated (target: under 15 s on a 2-core machine).
- scale: ``polyclass train`` on a 1,000,000 x 50 synthetic table in a child process; its
  peak resident memory against the table's in-memory size (target: under 4x).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import polyclass
from polyclass.data import stratified_split
from polyclass.datasets import load_penguins

SEED = 0


def _tables() -> dict[str, tuple[pd.DataFrame, str]]:
    out = {"penguins": (load_penguins(), "species")}
    for name, loader in (
        ("wine", datasets.load_wine),
        ("digits", datasets.load_digits),
        ("breast_cancer", datasets.load_breast_cancer),
    ):
        bunch = loader(as_frame=True)
        frame = bunch.frame.rename(columns={"target": "label"})
        frame["label"] = frame["label"].map(lambda i, names=bunch.target_names: str(names[i]))
        out[name] = (frame, "label")
    return out


def _sklearn_macro_f1(frame: pd.DataFrame, target: str) -> float:
    y = frame[target].astype(str).to_numpy()
    X = frame.drop(columns=[target])
    parts = stratified_split(y, test_size=0.2, val_size=0.2, seed=SEED)
    fit_rows = np.concatenate([parts.train, parts.val])
    numeric = X.select_dtypes("number").columns.tolist()
    other = [c for c in X.columns if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                other,
            ),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=5000))
    model.fit(X.iloc[fit_rows], y[fit_rows])
    return float(f1_score(y[parts.test], model.predict(X.iloc[parts.test]), average="macro"))


def quality(workdir: Path) -> None:
    print("\n## Test macro-F1: polyclass train vs StandardScaler + LogisticRegression")
    print(f"{'dataset':<15} {'polyclass':>10} {'sklearn':>10} {'diff':>8}  chosen")
    for name, (frame, target) in _tables().items():
        path = workdir / f"{name}.csv"
        frame.to_csv(path, index=False)
        result = polyclass.train(
            data=path,
            target=target,
            out=workdir / name,
            register=False,
            metric="f1_macro",
            seed=SEED,
            n_bootstrap=200,
        )
        ours = result.test_metrics["metrics"]["f1_macro"]["value"]
        base = _sklearn_macro_f1(frame, target)
        best = result.best_params
        print(
            f"{name:<15} {ours:10.4f} {base:10.4f} {ours - base:+8.4f}  "
            f"{best['strategy']} C={best['C']:g} {best['class_weight']}"
        )


def _cli(args: list[str]) -> tuple[float, int]:
    """Run ``polyclass ARGS`` in a child; return (seconds, peak RSS bytes of the child)."""
    exe = Path(sys.executable).with_name("polyclass")
    t0 = time.perf_counter()
    subprocess.run([str(exe), *args], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb * 1024


def speed(workdir: Path) -> None:
    print("\n## polyclass train on penguins, all three strategies cross-validated")
    csv = Path(__file__).resolve().parents[1] / "examples" / "penguins.csv"
    seconds, _ = _cli(
        ["train", str(csv), "--target", "species", "--out", str(workdir / "pg"), "--no-register"]
    )
    print(f"wall time {seconds:.1f} s (target < 15 s)")


def scale(workdir: Path, n_rows: int = 1_000_000, n_cols: int = 50) -> None:
    print(f"\n## polyclass train on a {n_rows:,} x {n_cols} synthetic table")
    X, y = datasets.make_classification(
        n_samples=n_rows,
        n_features=n_cols - 2,
        n_informative=20,
        n_classes=5,
        n_clusters_per_class=1,
        random_state=SEED,
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    rng = np.random.default_rng(SEED)
    frame["region"] = rng.choice(["north", "south", "east", "west"], size=n_rows)
    frame["label"] = np.asarray(["a", "b", "c", "d", "e"])[y]
    table_bytes = int(frame.memory_usage(deep=True).sum())
    path = workdir / "big.parquet"
    frame.to_parquet(path)
    del frame, X, y
    seconds, peak = _cli(
        [
            "train",
            str(path),
            "--target",
            "label",
            "--out",
            str(workdir / "big"),
            "--no-register",
            "--cv",
            "3",
        ]
    )
    print(
        f"wall time {seconds:.1f} s; peak RSS {peak / 2**20:.0f} MiB; table in memory "
        f"{table_bytes / 2**20:.0f} MiB; ratio {peak / table_bytes:.2f}x (target < 4x)"
    )


def main(argv: list[str]) -> None:
    parts = argv or ["quality", "speed", "scale"]
    os.environ.setdefault("POLYCLASS_REGISTRY", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for part in parts:
            {"quality": quality, "speed": speed, "scale": scale}[part](work)


if __name__ == "__main__":
    main(sys.argv[1:])
