"""``monitor --dask``: the logged inputs, the bulk of a prediction log, read and counted
on a Dask cluster, one task per segment.

Each task reads one segment's inputs as the single-machine reader does and returns its
bin counts per window and overall (integers that add up); the driver sums them and
judges drift exactly as :func:`drift_by_window` does on the whole log. The driver itself
reads the light columns (ids, times, predictions, probabilities), which the live
metrics join with feedback and the prediction drift counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyclass.monitor._config import MonitorConfig
from polyclass.monitor._data_drift import WindowCounts, window_counts
from polyclass.monitor._reference import NumericReference, Reference


def _segment_counts(
    path: str,
    ref: Reference,
    config: MonitorConfig,
    window: tuple[int, int, int, int],
    read: dict[str, Any],
    null_types: dict[str, str] | None,
) -> tuple[dict[str, str], WindowCounts, str | None]:
    """One segment's input types, its counts per window and why it could not be read
    (runs on a worker); ``null_types`` names features whose column is read as missing
    unless of that type (the reader's rule when segments disagree on a column's type)."""
    import pyarrow as pa

    from polyclass.predlog import read_prediction_segment

    try:
        seg = read_prediction_segment(path, **read)
    except Exception as exc:  # the reader skips such a segment and reports it
        return {}, {}, f"{type(exc).__name__}: {exc}"
    if seg is None:
        return {}, {}, None
    origin, width, first, n_groups = window
    inputs = dict(seg.inputs)
    types = {name: str(col.type) for name, col in inputs.items()}
    for name, typ in (null_types or {}).items():
        if types.get(name) != typ:
            kind = pa.float64() if isinstance(ref.features.get(name), NumericReference) else None
            inputs[name] = pa.nulls(len(seg.ts), type=kind or pa.string())
    groups = np.clip((seg.ts - origin) // width - first, -1, None).astype(np.intp)
    return types, window_counts(ref, inputs, groups, n_groups, config), None


def _add(total: WindowCounts, part: WindowCounts) -> None:
    for name, (windowed, overall) in part.items():
        mine = total.get(name)
        total[name] = (
            (windowed, overall) if mine is None else (mine[0] + windowed, mine[1] + overall)
        )


def counts_on_cluster(
    client: Any,
    segments: Sequence[str],
    ref: Reference,
    config: MonitorConfig,
    window: tuple[int, int, int, int],
    read: dict[str, Any],
) -> tuple[WindowCounts, list[tuple[str, str]]]:
    """The log's counts per window summed over its segments, in the reference's feature
    order, and a problem (path, reason) per segment whose inputs could not be read and
    per feature whose type differs between segments."""
    shared = client.scatter([ref, config], broadcast=True)
    results = client.gather(
        [
            client.submit(_segment_counts, p, *shared, window, read, None, pure=False)
            for p in segments
        ]
    )
    seen: dict[str, set[str]] = {}
    for types, _, _ in results:
        for name, typ in types.items():
            if typ != "null":
                seen.setdefault(name, set()).add(typ)
    mixed = {name: sorted(types)[0] for name, types in seen.items() if len(types) > 1}
    if mixed:  # again, with the minority types read as missing, as the reader does
        results = client.gather(
            [
                client.submit(_segment_counts, p, *shared, window, read, mixed, pure=False)
                for p in segments
            ]
        )
    total: WindowCounts = {}
    problems = []
    for path, (_, counts, error) in zip(segments, results, strict=True):
        _add(total, counts)
        if error is not None:
            problems.append((path, error))
    ordered = {name: total[name] for name in ref.features if name in total}
    folder = str(Path(segments[0]).parent) if segments else ""
    problems += [
        (
            folder,
            f"input 'in.{name}' has types {sorted(seen[name])} in different segments; read "
            f"as missing where it does not match {typ}",
        )
        for name, typ in mixed.items()
    ]
    return ordered, problems
