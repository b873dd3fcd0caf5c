"""A small multiclass table and its Parquet parts, for the scale tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make_table(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Numeric columns (one with missing values, one constant), a categorical column with
    a rare and a missing category, a date column, and four classes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    colour = rng.choice(["red", "green", "blue", "teal"], p=[0.5, 0.3, 0.1985, 0.0015], size=n)
    logits = np.column_stack(
        [X[:, 0], X[:, 1] - X[:, 0], 0.5 * X[:, 2] + (colour == "red"), -X[:, 3]]
    )
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    label = np.array(["ant", "bee", "cat", "dog"])[
        (probs.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    ]
    a = X[:, 0] * 3 + 10
    a[rng.random(n) < 0.05] = np.nan
    colour_obj = colour.astype(object)
    colour_obj[rng.random(n) < 0.02] = None
    return pd.DataFrame(
        {
            "a": a,
            "b": X[:, 1],
            "c": np.round(X[:, 2] * 4),  # ties: the median is one of many equal values
            "d": X[:, 3] * 100,
            "flat": np.full(n, 7.0),
            "colour": colour_obj,
            "w": rng.uniform(0.5, 2.0, size=n),
            "label": label,
        }
    )


def write_parts(df: pd.DataFrame, folder: Path, n_parts: int) -> list[Path]:
    """Split ``df`` in ``n_parts`` row ranges, one Parquet file each."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(df)), n_parts)):
        path = folder / f"part-{i:03d}.parquet"
        df.iloc[part].to_parquet(path, index=False)
        paths.append(path)
    return paths
