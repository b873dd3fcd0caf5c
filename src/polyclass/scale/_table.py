"""A table held by a Dask cluster as one DataFrame per Parquet file, and the
preprocessing fitted on all of it from merged per-block statistics."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from polyclass.data import DataError, Schema, infer_schema
from polyclass.preprocess import Preprocessor
from polyclass.scale import _stats
from polyclass.scale._blocks import Block, check_block, encode_block, read_part
from polyclass.scale._errors import ScaleError
from polyclass.scale._loss import tree_sum
from polyclass.scale._parts import Parts, discover

#: Rows gathered to the driver to infer the schema.
SCHEMA_SAMPLE_ROWS = 20_000


@dataclass
class DaskTable:
    """The parts of one table, read into worker memory (futures of DataFrames)."""

    client: Any
    parts: Parts
    frames: list[Any]
    target: str | None
    weight_column: str | None

    @property
    def n_rows(self) -> int:
        return self.parts.n_rows


def read_table(
    client: Any,
    path: str,
    target: str | None,
    *,
    weight_column: str | None = None,
    columns: list[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> DaskTable:
    """Find ``path``'s Parquet files, check they agree, and read them on the workers.

    Raises
    ------
    ScaleError
        No files, files whose columns or types differ (file and column named), or a
        named column that is missing.
    """
    parts = discover(client, path, storage_options)
    if 0 < parts.n_rows and 0 in parts.rows:
        # parts written empty (as Spark and Dask do for an empty partition) hold nothing
        # to fit, and an empty block is a special case in every pass over the data
        kept = [i for i, n in enumerate(parts.rows) if n]
        parts = replace(
            parts,
            files=tuple(parts.files[i] for i in kept),
            rows=tuple(parts.rows[i] for i in kept),
        )
    wanted = list(columns) if columns is not None else list(parts.columns)
    for name in [target, weight_column, *wanted]:
        if name is not None and name not in parts.columns:
            raise ScaleError(
                f"Column {name!r} is not in {parts.files[0]!r}; its columns are "
                f"{list(parts.columns)}."
            )
    for extra in (target, weight_column):
        if extra is not None and extra not in wanted:
            wanted.append(extra)
    frames = [
        client.submit(
            read_part,
            url,
            columns=wanted,
            storage_options=parts.storage_options,
            workers=[worker],
            allow_other_workers=True,  # another worker reads it if this one is lost
            pure=False,
        )
        for url, worker in zip(parts.files, spread_rows(client, parts.rows), strict=True)
    ]
    return DaskTable(client, parts, frames, target, weight_column)


def spread_rows(client: Any, rows: tuple[int, ...]) -> list[str]:
    """A worker for each part, the rows spread evenly (each part to the worker with the
    fewest rows so far): the blocks stay where they are read, and a fit's passes take as
    long as the busiest worker's share. Dask's own placement follows which worker is
    free first, which on a loaded machine left one worker half as many rows again."""
    # nthreads names every worker; scheduler_info() lists only five by default in
    # distributed 2025.4 to 2026.6, which left a larger cluster's other workers idle
    workers = sorted(client.nthreads())
    load = dict.fromkeys(workers, 0)
    chosen = []
    for n in rows:
        worker = min(workers, key=lambda w: load[w])
        load[worker] += n
        chosen.append(worker)
    return chosen


def _head(frame: Any, n: int) -> Any:
    return frame.head(n)


def sample_frame(table: DaskTable, rows: int = SCHEMA_SAMPLE_ROWS) -> pd.DataFrame:
    """The first rows of every part, about ``rows`` in all, as one DataFrame."""
    per_part = max(1, rows // len(table.frames))
    heads = table.client.gather(
        [table.client.submit(_head, f, per_part, pure=False) for f in table.frames]
    )
    sample: pd.DataFrame = pd.concat(list(heads), ignore_index=True)
    return sample


def infer_table_schema(table: DaskTable) -> Schema:
    """The schema inferred from a sample of every part (kinds and value types)."""
    if table.target is None:
        raise ScaleError("Inferring a schema needs the target column.")
    return infer_schema(sample_frame(table), table.target)


def _stats_task(frame: Any, pre: Preprocessor, target: str | None, weight: str | None) -> Any:
    labels = None if target is None else frame[target].dropna().to_numpy()
    weights = None
    if weight is not None and target is not None:
        kept = frame[target].notna().to_numpy()
        weights = frame[weight].to_numpy(dtype=np.float64)[kept]
    return _stats.block_stats(pre, frame, labels, weights)


def _window_task(frame: Any, pre: Preprocessor, lo: Any, hi: Any) -> Any:
    return _stats.block_window(pre, frame, lo, hi)


def fit_preprocessor(
    table: DaskTable, pre: Preprocessor
) -> tuple[Preprocessor, dict[Any, list[float]]]:
    """Fit ``pre`` on the whole table from merged statistics: the state ``pre.fit`` reaches
    on the concatenated parts. Returns it and the target's (rows, weight) per label.

    Two passes over the parts in worker memory (exact moments, counts and KLL sketches;
    then the values around each median), a third only for a column whose sketch bracket
    missed the median (rank error beyond its 99% bound).
    """
    client = table.client
    merged = tree_sum(
        client,
        [
            client.submit(_stats_task, f, pre, table.target, table.weight_column, pure=False)
            for f in table.frames
        ],
    )
    n = merged.moments.n
    for name, count in zip(pre.scaled_columns, n.tolist(), strict=True):
        if count == 0:
            raise DataError(
                f"Column {name!r} has no finite values to learn from (all missing or "
                "infinite). Drop it (check_data does) or fill it."
            )
    lo, hi = _stats.median_brackets(merged)
    medians = np.full(len(n), np.nan)
    todo = np.ones(len(n), dtype=bool)
    while todo.any():
        window = tree_sum(
            client,
            [
                client.submit(_window_task, f, pre, np.where(todo, lo, np.inf), hi, pure=False)
                for f in table.frames
            ],
        )
        found, missed = _stats.medians_from(n, window)
        medians = np.where(todo & ~missed, found, medians)
        todo = todo & missed
        lo, hi = np.where(todo, -np.inf, lo), np.where(todo, np.inf, hi)
    means, stds = _stats.imputed_moments(merged.moments, medians, merged.n_rows)
    pre.fit_from_statistics(medians, means, stds, merged.n_rows - n, merged.categories)
    return pre, merged.labels


def _label_task(frame: Any, target: str, weight: str | None) -> dict[Any, list[float]]:
    kept = frame[target].notna().to_numpy()
    labels = frame[target].to_numpy()[kept]
    values, codes = np.unique(labels, return_inverse=True)
    rows = np.bincount(codes, minlength=values.size)
    mass = rows
    if weight is not None:
        mass = np.bincount(codes, frame[weight].to_numpy(np.float64)[kept], minlength=values.size)
    return {v: [float(r), float(m)] for v, r, m in zip(values.tolist(), rows, mass, strict=True)}


def _merge_labels(*parts: dict[Any, list[float]]) -> dict[Any, list[float]]:
    out: dict[Any, list[float]] = {}
    for part in parts:
        for label, (rows, mass) in part.items():
            mine = out.setdefault(label, [0.0, 0.0])
            mine[0] += rows
            mine[1] += mass
    return out


def label_counts(table: DaskTable) -> dict[Any, list[float]]:
    """Rows and weight of each label of the target over the whole table (a class seen in
    one part only is counted), for a fit without a Preprocessor."""
    if table.target is None:
        raise ScaleError("Counting labels needs the target column.")
    client = table.client
    futures = [
        client.submit(_label_task, f, table.target, table.weight_column, pure=False)
        for f in table.frames
    ]
    return _merge_labels(*client.gather(futures))


def encode(
    table: DaskTable, pre: Preprocessor | list[str], classes: list[Any], dtype: str
) -> list[Any]:
    """The parts encoded into Blocks on the workers (futures), waited for; ``pre`` is the
    fitted Preprocessor, or the names of columns that are numeric features already.

    The table is consumed: ``table.frames`` is emptied, so each part is freed as soon as
    its block is made and the workers hold the data once (a block lost with its worker
    is still rebuilt from its file).
    """
    if table.target is None:
        raise ScaleError("Encoding training blocks needs the target column.")
    client = table.client
    blocks = [
        client.submit(
            encode_block, f, pre, table.target, classes, table.weight_column, dtype, pure=False
        )
        for f in table.frames
    ]
    table.frames = []
    checks = [
        client.submit(check_block, b, url, pure=False)
        for b, url in zip(blocks, table.parts.files, strict=True)
    ]
    client.gather(checks)
    return blocks


__all__ = ["Block", "DaskTable", "encode", "fit_preprocessor", "label_counts", "read_table"]
