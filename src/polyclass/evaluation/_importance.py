"""Which features the model uses: permutation importance and coefficient tables.

Permutation importance shuffles one ORIGINAL column of the input table at a time and
measures how much the score drops, so it explains the whole pipeline (imputation,
one-hot encoding and the linear model together). Coefficient tables read the fitted
linear model itself, one row per class over the transformed features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.evaluation import _backend as M
from polyclass.evaluation._summary import json_label

FloatArray = NDArray[np.float64]
ScoreFn = Callable[[NDArray[Any], FloatArray], float]

_SCORERS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "log_loss", "roc_auc")


def _scorer(metric: str | ScoreFn, classes: NDArray[Any]) -> tuple[str, ScoreFn]:
    """(name, score(y_codes, proba)) with greater always better."""
    if callable(metric):
        return getattr(metric, "__name__", "custom"), metric
    labels = np.arange(classes.shape[0])
    if metric == "accuracy":
        return metric, lambda t, p: float(M.accuracy_score(t, p.argmax(axis=1)))
    if metric == "balanced_accuracy":
        return metric, lambda t, p: float(M.balanced_accuracy_score(t, p.argmax(axis=1)))
    if metric in ("f1_macro", "f1_weighted"):
        avg = metric.split("_")[1]
        return metric, lambda t, p: float(
            M.precision_recall_fscore_support(
                t, p.argmax(axis=1), labels=labels, average=avg, zero_division=0
            )[2]
        )
    if metric == "log_loss":
        return "neg_log_loss", lambda t, p: -float(M.log_loss(t, p, labels=labels))
    if metric == "roc_auc":
        if classes.shape[0] == 2:
            return metric, lambda t, p: float(M.roc_auc_score(t == 1, p[:, 1]))
        return metric, lambda t, p: float(
            M.roc_auc_score(t, p, multi_class="ovr", average="macro", labels=labels)
        )
    raise ValueError(
        f"The 'metric' parameter of permutation_importance must be one of "
        f"{', '.join(repr(s) for s in _SCORERS)} or a callable score(y_true, proba) "
        f"(greater is better). Got {metric!r} instead."
    )


def permutation_importance(
    predict_proba_fn: Callable[[pd.DataFrame], Any],
    X_df: pd.DataFrame,
    y: Any,
    metric: str | ScoreFn = "log_loss",
    n_repeats: int = 5,
    random_state: int | None = 0,
    *,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    max_samples: int | None = 5000,
) -> dict[str, Any]:
    """Drop in score when each original column of ``X_df`` is shuffled.

    Parameters
    ----------
    predict_proba_fn : callable
        ``DataFrame -> (n_samples, n_classes)`` probabilities, columns in the order of
        ``classes`` (a whole fitted pipeline's ``predict_proba``).
    X_df : pandas.DataFrame
        Held-out rows with the ORIGINAL feature columns.
    y : array-like of shape (n_samples,)
        True labels.
    metric : str or callable, default='log_loss'
        One of 'accuracy', 'balanced_accuracy', 'f1_macro', 'f1_weighted', 'log_loss'
        (scored as negative log loss), 'roc_auc'; or ``score(y_codes, proba)`` where
        ``y_codes`` are positions in ``classes`` and greater is better.
    n_repeats : int, default=5
        Shuffles per column.
    random_state : int or None, default=0
        Seed of the shuffles (and of the row subsample).
    classes : sequence, optional
        Column order of ``predict_proba_fn``'s output. Default: the sorted unique ``y``.
    max_samples : int or None, default=5000
        Score on a random subsample of at most this many rows (None: all rows).

    Returns
    -------
    dict
        ``metric``, ``baseline`` score, ``n_repeats``, ``n_samples`` and ``features``:
        rows with ``feature``, ``importance_mean``, ``importance_std`` and
        ``importances`` (baseline minus shuffled score per repeat), most important
        first.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"signal": [0, 1, 0, 1] * 10, "noise": [1, 2, 3, 4] * 10})
    >>> y = X["signal"].to_numpy()
    >>> fn = lambda df: np.column_stack([1 - df["signal"], df["signal"]]) * 0.98 + 0.01
    >>> out = permutation_importance(fn, X, y, "accuracy", n_repeats=3)
    >>> out["features"][0]["feature"], out["features"][1]["importance_mean"]
    ('signal', 0.0)
    """
    if not isinstance(X_df, pd.DataFrame):
        raise TypeError(
            "permutation_importance: X_df must be a pandas DataFrame of the original "
            f"feature columns, got {type(X_df).__name__}. Wrap it with pd.DataFrame(...)."
        )
    if not X_df.columns.is_unique:
        repeated = sorted({str(c) for c in X_df.columns[X_df.columns.duplicated()]})[:5]
        raise ValueError(
            f"permutation_importance: X_df has repeated column names {repeated}; each "
            "column is shuffled on its own, so give every column its own name."
        )
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, Integral) or n_repeats < 1:
        raise ValueError(
            "The 'n_repeats' parameter of permutation_importance must be an int in the range "
            f"[1, inf). Got {n_repeats!r} instead."
        )
    y_arr = np.asarray(y)
    if y_arr.shape != (len(X_df),):
        raise ValueError(
            f"permutation_importance: y has shape {y_arr.shape} but X_df has {len(X_df)} "
            "rows. Pass one label per row."
        )
    classes_arr = np.asarray(np.unique(y_arr) if classes is None else list(classes), dtype=object)
    codes = pd.Index(classes_arr.tolist(), dtype=object).get_indexer(y_arr.tolist())
    if (codes < 0).any():
        bad = sorted({str(v) for v in y_arr[codes < 0].tolist()})[:5]
        raise ValueError(
            f"permutation_importance: y has labels not in classes: {bad}. Pass the "
            "model's classes_ as classes."
        )
    name, score = _scorer(metric, classes_arr)
    rng = np.random.default_rng(random_state)
    X = X_df.reset_index(drop=True)
    t = codes.astype(np.intp)
    if max_samples is not None and len(X) > max_samples:
        keep = np.sort(rng.choice(len(X), size=max_samples, replace=False))
        X = X.iloc[keep].reset_index(drop=True)
        t = t[keep]
    baseline = float(score(t, np.asarray(predict_proba_fn(X), dtype=np.float64)))
    n = len(X)
    drops = _shuffled_drops(predict_proba_fn, X, t, score, baseline, rng, int(n_repeats))
    features = [
        {
            "feature": str(column),
            "importance_mean": float(values.mean()),
            "importance_std": float(values.std()),
            "importances": [float(v) for v in values],
        }
        for column, values in zip(X.columns, drops, strict=True)
    ]
    features.sort(key=lambda r: -r["importance_mean"])
    return {
        "metric": name,
        "baseline": baseline,
        "n_repeats": int(n_repeats),
        "n_samples": int(n),
        "features": features,
    }


#: Shuffled copies of the rows are scored in batches of about this many cells: one
#: ``predict_proba`` call per batch instead of one per column and repeat.
BATCH_CELLS = 2_000_000


def _shuffled_drops(
    predict_proba_fn: Callable[[pd.DataFrame], Any],
    X: pd.DataFrame,
    t: NDArray[np.intp],
    score: ScoreFn,
    baseline: float,
    rng: np.random.Generator,
    n_repeats: int,
) -> list[FloatArray]:
    """Per column, the score drop of each of ``n_repeats`` shuffles of that column.

    The shuffles are drawn column by column, repeat by repeat (as a loop over both
    would draw them), and scored in batches of whole shuffled copies of ``X``.
    """
    n = len(X)
    units = [(column, r) for column in X.columns for r in range(n_repeats)]
    per_batch = max(1, BATCH_CELLS // max(n * X.shape[1], 1))
    drops: dict[Any, list[float]] = {column: [] for column in X.columns}
    for start in range(0, len(units), per_batch):
        batch = units[start : start + per_batch]
        # per column, which row of X each row of the batch's stacked copies takes: its own,
        # or a shuffle's (one take per column, not one copy of X per shuffle)
        takes: dict[Any, NDArray[np.intp]] = {
            column: np.tile(np.arange(n), len(batch)) for column in X.columns
        }
        for i, (column, _) in enumerate(batch):
            takes[column][i * n : (i + 1) * n] = rng.permutation(n)
        copies = pd.DataFrame({column: X[column].array.take(takes[column]) for column in X})
        proba = np.asarray(predict_proba_fn(copies), np.float64)
        for i, (column, _) in enumerate(units[start : start + per_batch]):
            drops[column].append(baseline - float(score(t, proba[i * n : (i + 1) * n])))
    return [np.asarray(drops[column]) for column in X.columns]


def coefficient_table(
    coef: Any,
    feature_names: Sequence[str],
    classes: Sequence[Any] | NDArray[Any],
    *,
    intercept: Any = None,
    row_labels: Sequence[str] | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Coefficients and odds ratios per class over the transformed features.

    Parameters
    ----------
    coef : array-like of shape (n_rows, n_features)
        The fitted ``coef_``: one row per class (multinomial, one-vs-rest), one row for
        binary (the coefficients of ``classes[1]``), or one per pair (one-vs-one).
    feature_names : sequence of str
        Names of the transformed features (after one-hot encoding), in column order.
    classes : sequence
        The model's ``classes_``.
    intercept : array-like of shape (n_rows,), optional
        The fitted ``intercept_``.
    row_labels : sequence of str, optional
        What each row of ``coef`` belongs to (needed for one-vs-one, e.g. "a vs b").
    kind : {'binary', 'multinomial', 'ovr', 'ovo'}, optional
        How to read the rows; inferred from the shape when omitted.

    Returns
    -------
    dict
        ``kind``, ``features``, ``note`` (how to read an odds ratio here) and ``rows``:
        per class (or pair) ``label``, ``intercept``, ``coef`` and ``odds_ratio``
        (``exp(coef)``) aligned with ``features``.

    Examples
    --------
    >>> out = coefficient_table([[0.5, -1.0]], ["age", "dose"], ["no", "yes"])
    >>> out["kind"], [round(v, 3) for v in out["rows"][0]["odds_ratio"]]
    ('binary', [1.649, 0.368])
    """
    c = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    names = [str(f) for f in feature_names]
    labels = [str(json_label(k)) for k in classes]
    if c.ndim != 2 or c.shape[1] != len(names):
        raise ValueError(
            f"coefficient_table: coef has shape {c.shape} but there are {len(names)} feature "
            "names. Pass coef_ of shape (n_rows, n_features) and the transformed feature names "
            "in the same order."
        )
    if kind is None:
        kind = "binary" if c.shape[0] == 1 and len(labels) == 2 else "multinomial"
    if kind not in ("binary", "multinomial", "ovr", "ovo"):
        raise ValueError(
            "The 'kind' parameter of coefficient_table must be one of 'binary', "
            f"'multinomial', 'ovr', 'ovo' or None. Got {kind!r} instead."
        )
    if row_labels is None:
        if kind == "binary":
            row_labels = [labels[-1]]
        elif kind == "ovo":
            row_labels = [
                f"{labels[i]} vs {labels[j]}"
                for i in range(len(labels))
                for j in range(i + 1, len(labels))
            ]
        else:
            row_labels = labels
    if len(row_labels) != c.shape[0]:
        raise ValueError(
            f"coefficient_table: coef has {c.shape[0]} rows but {len(row_labels)} row labels "
            f"for kind={kind!r}. Pass row_labels naming each row of coef."
        )
    b = None if intercept is None else np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    notes = {
        "binary": "odds ratio = exp(coef): the factor by which the odds of the positive class "
        "change per unit of the transformed feature (one standard deviation for scaled "
        "numeric columns).",
        "ovr": "odds ratio = exp(coef): the factor by which the odds of the class against all "
        "others change per unit of the transformed feature.",
        "ovo": "odds ratio = exp(coef): the factor by which the odds of the first class of the "
        "pair against the second change per unit of the transformed feature.",
        "multinomial": "exp(coef) is relative: exp(coef_a - coef_b) is the factor by which the "
        "odds of class a against class b change per unit of the transformed feature.",
    }
    with np.errstate(over="ignore"):
        odds = np.exp(c)
    rows = []
    for i, label in enumerate(row_labels):
        rows.append(
            {
                "label": str(label),
                "intercept": None if b is None or i >= b.shape[0] else float(b[i]),
                "coef": [float(v) for v in c[i]],
                "odds_ratio": [float(v) if np.isfinite(v) else None for v in odds[i]],
            }
        )
    return {"kind": kind, "features": names, "note": notes[kind], "rows": rows}
