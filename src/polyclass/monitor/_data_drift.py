"""Drift of a whole table against a model's reference: overall and per time window."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.monitor._config import MonitorConfig
from polyclass.monitor._drift import (
    BinCounts,
    DriftSummary,
    FeatureDrift,
    count_values,
    feature_drift,
)
from polyclass.monitor._drift import summarize_drift as _summarize
from polyclass.monitor._reference import Reference


def _reference_of(reference: Any) -> Reference:
    if isinstance(reference, Reference):
        return reference
    state = getattr(reference, "reference", None)
    if state is None:
        raise ValueError(
            "This model holds no reference statistics (trained before polyclass stored "
            "them); retrain it, or pass a Reference from compute_reference()."
        )
    return Reference.from_state(*state)


def _column(data: Any, name: str) -> Any:
    if hasattr(data, "column") and hasattr(data, "schema"):  # a pyarrow Table
        return data.column(name)
    return data[name]


def _columns_of(data: Any) -> list[str]:
    if hasattr(data, "column_names"):
        return [str(c) for c in data.column_names]
    if hasattr(data, "columns"):
        return [str(c) for c in data.columns]
    if isinstance(data, Mapping):
        return [str(c) for c in data]
    raise TypeError(
        f"data must be a pandas DataFrame, a pyarrow Table or a mapping of column name "
        f"to values, got {type(data).__name__}."
    )


def data_drift(reference: Any, data: Any, config: MonitorConfig | None = None) -> DriftSummary:
    """The drift of every feature of ``data`` against a model's reference statistics.

    Parameters
    ----------
    reference : Model or Reference
        A trained model (its stored reference statistics are used) or a
        :class:`Reference` from :func:`compute_reference`.
    data : pandas.DataFrame, pyarrow.Table or mapping of column name to values
        The current rows, with every feature of the reference as a column (extra
        columns are ignored). Text columns may be object, ``category`` or pandas'
        string dtypes: each is converted to Arrow once and counted there.
    config : MonitorConfig, optional
        Methods, thresholds and which columns to check (defaults when omitted).

    Returns
    -------
    DriftSummary
        One :class:`FeatureDrift` per checked feature and the dataset-level verdict.

    Examples
    --------
    >>> import polyclass
    >>> from polyclass.monitor import data_drift
    >>> model = polyclass.load("out/penguins/model")            # doctest: +SKIP
    >>> frame = pd.read_csv("examples/penguins.csv")            # doctest: +SKIP
    >>> data_drift(model, frame).n_drifted                      # doctest: +SKIP
    0
    """
    ref = _reference_of(reference)
    cfg = config if config is not None else MonitorConfig()
    names = [n for n in ref.features if cfg.enabled(n)]
    missing = sorted(set(names) - set(_columns_of(data)))
    if missing:
        raise ValueError(
            f"data has no column(s) {missing} that the model was trained on; add them, "
            "or switch them off with [columns.NAME] enabled = false."
        )
    found = [
        feature_drift(ref.features[n], count_values(ref.features[n], _column(data, n)), cfg)
        for n in names
    ]
    return _summarize(found, cfg)


def drift_by_window(
    ref: Reference,
    inputs: Mapping[str, Any],
    groups: NDArray[np.intp],
    n_groups: int,
    config: MonitorConfig,
) -> tuple[DriftSummary, list[DriftSummary]]:
    """Drift over all rows and in each of ``n_groups`` windows (``groups[i] < 0``: a row
    before the first window, counted overall only)."""
    counts = window_counts(ref, inputs, groups, n_groups, config)
    return drift_from_counts(ref, counts, n_groups, config)


#: Per feature: its counts in each window, and over all rows.
WindowCounts = dict[str, tuple[BinCounts, BinCounts]]


def window_counts(
    ref: Reference,
    inputs: Mapping[str, Any],
    groups: NDArray[np.intp],
    n_groups: int,
    config: MonitorConfig,
) -> WindowCounts:
    """Each enabled feature's bin counts per window and overall: integer counts that
    add up across blocks of rows (a distributed read sums them per segment)."""
    in_range = groups >= 0
    every_row = bool(in_range.all())
    out: WindowCounts = {}
    for name, fref in ref.features.items():
        if not config.enabled(name):
            continue
        values = inputs[name]
        if every_row:
            counts = count_values(fref, values, groups, n_groups)
            total = counts.total()
        else:
            windowed = _rows(values, in_range)
            counts = count_values(fref, windowed, groups[in_range], n_groups)
            total = count_values(fref, values)
        out[name] = (counts, total)
    return out


def drift_from_counts(
    ref: Reference, counts: WindowCounts, n_groups: int, config: MonitorConfig
) -> tuple[DriftSummary, list[DriftSummary]]:
    """The drift verdicts from :func:`window_counts` (of all rows, or summed over blocks)."""
    per_window: list[list[FeatureDrift]] = [[] for _ in range(n_groups)]
    overall = []
    for name, (windowed, total) in counts.items():
        fref = ref.features[name]
        overall.append(feature_drift(fref, total, config))
        for g in range(n_groups):
            if windowed.counts[g].sum() or windowed.missing[g]:
                per_window[g].append(feature_drift(fref, windowed.group(g), config))
    return _summarize(overall, config), [_summarize(w, config) for w in per_window]


def _rows(values: Any, keep: NDArray[np.bool_]) -> Any:
    """The kept rows of a NumPy or Arrow column."""
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.filter(pa.array(keep))
    return np.asarray(values)[keep]
