"""Exploratory statistics of a training table, as a JSON-able dict."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.data._errors import DataError
from polyclass.data._schema import Schema, datetime_values, missing_column_error, to_python
from polyclass.data._values import parse_datetimes, parse_numbers

__all__ = ["explore"]

_QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
_QUANTILE_NAMES = ("min", "q05", "q25", "median", "q75", "q95", "max")


def _num(x: Any) -> float | None:
    """A finite Python float, or None (JSON has no NaN)."""
    v = float(x)
    return v if math.isfinite(v) else None


def _correlation_ratio(x: NDArray[np.float64], codes: NDArray[np.intp], k: int) -> float:
    """η: sqrt(between-class sum of squares / total sum of squares)."""
    ok = np.isfinite(x)
    x, codes = x[ok], codes[ok]
    if x.size < 2:
        return math.nan
    n_k = np.bincount(codes, minlength=k)
    sums = np.bincount(codes, weights=x, minlength=k)
    mean = x.mean()
    total = float(((x - mean) ** 2).sum())
    if total == 0.0:
        return math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n_k > 0, sums / np.maximum(n_k, 1), 0.0)
    between = float((n_k * (means - mean) ** 2).sum())
    return math.sqrt(min(1.0, between / total))


def _cramers_v(a: NDArray[np.intp], b: NDArray[np.intp]) -> float:
    """Cramér's V of two code arrays (no bias correction); -1 codes are left out."""
    ok = (a >= 0) & (b >= 0)
    a, b = a[ok], b[ok]
    if a.size == 0:
        return math.nan
    ra, rb = int(a.max()) + 1, int(b.max()) + 1
    if min(ra, rb) < 2:
        return math.nan
    table = np.bincount(a * rb + b, minlength=ra * rb).reshape(ra, rb).astype(np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    r = min(table.shape) - 1
    return math.sqrt(chi2 / (n * r)) if r > 0 else math.nan


#: Why a column is left out, in words (keys: ``Schema.dropped`` reason codes).
_DROPPED = {
    "user": "dropped as asked",
    "constant_column": "constant: at most one distinct value",
    "id_like_column": "identifier: a distinct value in (nearly) every row",
    "target_leakage": "leakage: predicts the target almost perfectly on its own",
    "unsupported_dtype": "a type polyclass cannot use",
}


def explore(
    df: pd.DataFrame,
    schema: Schema,
    *,
    sample_size: int = 100_000,
    top: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarise a training table for people and for the report.

    Class balance and missing counts are exact. Distributions, per-class
    summaries and correlations are computed on a seeded random sample of
    ``sample_size`` rows when the table is larger (``result["sample"]`` says so).

    Parameters
    ----------
    df : pandas.DataFrame
        The table (rows without a target are ignored for class statistics).
    schema : Schema
        Which columns are features, and their kinds.
    sample_size : int, default 100_000
        Rows used for the sampled statistics.
    top : int, default 10
        Categories listed per categorical column, and correlation pairs listed.
    seed : int
        Seed of the sample.

    Returns
    -------
    dict
        JSON-able (NaN written as None) with keys ``n_rows``, ``n_features``,
        ``sample``, ``class_balance``, ``missingness``, ``features``, ``per_class``
        and ``correlations`` (``numeric_pairs``: Pearson r of the strongest pairs;
        ``target_association``: correlation ratio η for numeric features and
        Cramér's V for categorical ones, strongest first; both in [0, 1]), and
        ``dropped_columns`` (each left-out column with the reason in words). A date
        column's entry gives its first and last value and the features made from it.

    Examples
    --------
    >>> from polyclass.datasets import load_penguins
    >>> from polyclass.data import infer_schema
    >>> df = load_penguins()
    >>> summary = explore(df, infer_schema(df, "species"))
    >>> [c["class"] for c in summary["class_balance"]]
    ['Adelie', 'Gentoo', 'Chinstrap']
    >>> summary["correlations"]["target_association"][0]["feature"]
    'flipper_length_mm'
    """
    target = schema.target
    columns = [str(c) for c in df.columns]
    if target not in columns:
        raise missing_column_error("Target column", target, columns)
    absent = [f for f in schema.feature_names if f not in columns]
    if absent:
        raise DataError(f"Feature column(s) {absent} are not in the table. Columns: {columns}.")
    n_rows = len(df)
    text_numbers = [f.name for f in schema.features if f.text_numbers]
    if text_numbers:  # as the model reads them: text that is not a number is missing
        df = df.assign(**{n: parse_numbers(df[n].to_numpy(dtype=object))[0] for n in text_numbers})

    # exact: class balance and missingness
    counts = df[target].value_counts(dropna=True)
    n_labelled = int(counts.sum())
    class_balance = [
        {"class": to_python(c), "count": int(k), "fraction": _num(k / max(n_labelled, 1))}
        for c, k in counts.items()
    ]
    missingness = {}
    for name in [*schema.feature_names, target]:
        n_missing = int(df[name].isna().sum())
        missingness[name] = {"count": n_missing, "fraction": _num(n_missing / max(n_rows, 1))}

    # sampled: everything else
    exact = n_rows <= sample_size
    if exact:
        sample = df
    else:
        rng = np.random.default_rng(seed)
        sample = df.iloc[np.sort(rng.choice(n_rows, sample_size, replace=False))]
    y = sample[target]
    y_codes, classes = pd.factorize(y, sort=True)
    y_codes = y_codes.astype(np.intp)
    class_values = [to_python(c) for c in classes]
    labelled = y_codes >= 0
    k = len(classes)

    features: dict[str, Any] = {}
    per_class: dict[str, Any] = {}
    association: list[dict[str, Any]] = []
    numeric_names: list[str] = []
    for feature in schema.features:
        name = feature.name
        s = sample[name]
        entry: dict[str, Any] = {"kind": feature.kind, "dtype": feature.dtype}
        if feature.kind == "datetime":
            times, _ = parse_datetimes(datetime_values(s))
            present = times[~np.isnat(times)]
            entry["count"] = int(present.size)
            entry["n_unique"] = len(np.unique(present))
            if present.size:
                entry["first"] = str(present.min())
                entry["last"] = str(present.max())
            entry["features"] = [f"{name}.{p}" for p in feature.date_parts or ()]
        elif feature.kind == "numeric":
            numeric_names.append(name)
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = x[np.isfinite(x)]
            entry["count"] = int(finite.size)
            entry["n_unique"] = int(s.nunique(dropna=True))
            if finite.size:
                qs = np.quantile(finite, _QUANTILES)
                entry.update({"mean": _num(finite.mean()), "std": _num(finite.std())})
                entry.update({q: _num(v) for q, v in zip(_QUANTILE_NAMES, qs, strict=True)})
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(x) & labelled
                n_k = np.bincount(y_codes[ok], minlength=k)
                sums = np.bincount(y_codes[ok], weights=x[ok], minlength=k)
                sq = np.bincount(y_codes[ok], weights=x[ok] ** 2, minlength=k)
                means = sums / np.where(n_k > 0, n_k, np.nan)
                stds = np.sqrt(np.maximum(sq / np.where(n_k > 0, n_k, np.nan) - means**2, 0))
            per_class[name] = {
                "measure": "mean",
                "by_class": [
                    {"class": c, "mean": _num(m), "std": _num(sd), "count": int(n)}
                    for c, m, sd, n in zip(class_values, means, stds, n_k, strict=True)
                ],
            }
            eta = _correlation_ratio(x[labelled], y_codes[labelled], k)
            association.append(
                {"feature": name, "measure": "correlation_ratio", "value": _num(eta)}
            )
        else:
            vc = s.value_counts(dropna=True)
            n_present = int(vc.sum())
            entry["count"] = n_present
            entry["n_unique"] = len(vc)
            entry["top"] = [
                {"value": to_python(v), "count": int(c), "fraction": _num(c / max(n_present, 1))}
                for v, c in vc.iloc[:top].items()
            ]
            entry["other_count"] = int(vc.iloc[top:].sum())
            g, uniques = pd.factorize(s)
            g = g.astype(np.intp)
            top_values = list(vc.index[:top])
            top_codes = pd.Index(uniques).get_indexer(pd.Index(top_values))
            ok = (g >= 0) & labelled
            table = np.bincount(
                y_codes[ok] * len(uniques) + g[ok], minlength=k * len(uniques)
            ).reshape(k, len(uniques))
            rows = []
            for ci, c in enumerate(class_values):
                total = int(table[ci].sum())
                mix = {
                    str(to_python(v)): _num(table[ci, j] / total) if total else None
                    for v, j in zip(top_values, top_codes, strict=True)
                }
                rows.append({"class": c, "count": total, "mix": mix})
            per_class[name] = {"measure": "category_mix", "by_class": rows}
            association.append(
                {"feature": name, "measure": "cramers_v", "value": _num(_cramers_v(g, y_codes))}
            )
        features[name] = entry

    pairs: list[dict[str, Any]] = []
    if len(numeric_names) >= 2:
        corr = sample[numeric_names].astype(np.float64).replace([np.inf, -np.inf], np.nan).corr()
        values = corr.to_numpy()
        iu = np.triu_indices(len(numeric_names), k=1)
        r = values[iu]
        order = np.argsort(-np.nan_to_num(np.abs(r), nan=-1.0))[:top]
        pairs = [
            {"a": numeric_names[iu[0][i]], "b": numeric_names[iu[1][i]], "pearson": _num(r[i])}
            for i in order
            if math.isfinite(r[i])
        ]
    association.sort(key=lambda d: -1.0 if d["value"] is None else -d["value"])

    return {
        "n_rows": n_rows,
        "n_features": len(schema.features),
        "target": target,
        "sample": {
            "exact": exact,
            "n_rows_used": len(sample),
            "note": (
                "all rows used"
                if exact
                else f"class balance and missingness use all {n_rows} rows; distributions, "
                f"per-class summaries and correlations use a random sample of "
                f"{len(sample)} rows (seed {seed})"
            ),
        },
        "class_balance": class_balance,
        "missingness": missingness,
        "features": features,
        "per_class": per_class,
        "correlations": {"numeric_pairs": pairs, "target_association": association},
        "dropped_columns": {name: _DROPPED.get(why, why) for name, why in schema.dropped.items()},
    }
