"""Partial dependence: the mean predicted probability of each class as one feature varies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from polyclass._json import plain


def _grid(column: pd.Series, n_points: int) -> list[Any]:
    """Numeric: quantiles 5% to 95%; otherwise the most frequent values."""
    values = column.dropna()
    if values.empty:
        return []
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        grid = np.unique(
            np.quantile(values.to_numpy(dtype=np.float64), np.linspace(0.05, 0.95, n_points))
        )
        return [float(v) for v in grid]
    return list(values.value_counts().index[:n_points])


def partial_dependence(
    predict_proba_fn: Callable[[pd.DataFrame], Any],
    X_df: pd.DataFrame,
    features: Sequence[str],
    classes: Sequence[Any],
    *,
    n_points: int = 12,
    max_samples: int = 500,
    random_state: int = 0,
) -> dict[str, Any]:
    """Mean predicted probability per class while each feature is set to grid values.

    Works for a model of any family: it only calls ``predict_proba_fn`` on the raw
    columns (Friedman's partial dependence, the brute-force way).

    Parameters
    ----------
    predict_proba_fn : callable
        ``DataFrame -> (n_rows, n_classes)`` probabilities, columns in ``classes`` order.
    X_df : pandas.DataFrame
        Rows with the original feature columns (held-out rows).
    features : sequence of str
        The columns to vary, one at a time.
    classes : sequence
        The class labels, in the column order of ``predict_proba_fn``.
    n_points : int, default=12
        Grid size: quantiles of a numeric column, the most frequent values of another.
    max_samples : int, default=500
        The curve averages over a random sample of at most this many rows.
    random_state : int, default=0
        Seed of the row sample.

    Returns
    -------
    dict
        ``features``: one entry per feature with ``feature``, ``kind`` ('numeric' or
        'categorical'), ``grid`` and ``mean_proba`` (one list per grid value, in class
        order); ``classes``; ``n_samples``.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    >>> f = lambda d: pd.concat([1 - d["x"] / 3, d["x"] / 3], axis=1).to_numpy()
    >>> pd_ = partial_dependence(f, X, ["x"], ["a", "b"], n_points=2)
    >>> [round(p[1], 2) for p in pd_["features"][0]["mean_proba"]]
    [0.05, 0.95]
    """
    rows = X_df
    if len(rows) > max_samples:
        rows = rows.sample(n=max_samples, random_state=random_state)
    out = []
    for feature in features:
        grid = _grid(rows[feature], n_points)
        if len(grid) < 2:
            continue  # a constant column has no curve
        stacked = pd.concat([rows] * len(grid), ignore_index=True)
        stacked[feature] = np.repeat(np.asarray(grid, dtype=object), len(rows))
        if pd.api.types.is_numeric_dtype(rows[feature]):
            stacked[feature] = stacked[feature].astype(rows[feature].dtype)
        proba = np.asarray(predict_proba_fn(stacked), dtype=np.float64)
        means = proba.reshape(len(grid), len(rows), -1).mean(axis=1)
        out.append(
            {
                "feature": feature,
                "kind": "numeric" if isinstance(grid[0], float) else "categorical",
                "grid": [plain(v) for v in grid],
                "mean_proba": means.tolist(),
            }
        )
    return {"features": out, "classes": [plain(c) for c in classes], "n_samples": len(rows)}
