"""Rows of a distributed table chosen by their position in the whole table: one column
gathered to the driver, subsets kept on the workers or gathered as one DataFrame, and
the table's fingerprint from per-part hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.scale._table import DaskTable

Prepare = Callable[[pd.DataFrame], pd.DataFrame]


def _column(frame: pd.DataFrame, name: str) -> NDArray[Any]:
    return frame[name].to_numpy()


def gather_column(table: DaskTable, name: str) -> list[NDArray[Any]]:
    """Column ``name`` of every part, in part order (one array per part)."""
    client = table.client
    return list(client.gather([client.submit(_column, f, name, pure=False) for f in table.frames]))


def split_by_part(positions: NDArray[np.intp], offsets: NDArray[np.intp]) -> list[NDArray[np.intp]]:
    """Sorted positions in the concatenated table → each part's local row numbers
    (``offsets[i]`` is part i's first position; ``offsets[-1]`` the table's length)."""
    positions = np.sort(np.asarray(positions, dtype=np.intp))
    cuts = np.searchsorted(positions, offsets)
    return [positions[a:b] - offsets[i] for i, (a, b) in enumerate(pairwise(cuts))]


def _take(frame: pd.DataFrame, local: NDArray[np.intp], prepare: Prepare | None) -> pd.DataFrame:
    part = frame.iloc[local]
    return part if prepare is None else prepare(part)


def select_rows(
    table: DaskTable, local: list[NDArray[np.intp]], prepare: Prepare | None = None
) -> DaskTable:
    """A table of the given rows of each part, kept on the workers (``prepare`` runs on
    each selected part there, e.g. the checks' column selection)."""
    client = table.client
    frames = [
        client.submit(_take, f, rows, prepare, pure=False)
        for f, rows in zip(table.frames, local, strict=True)
    ]
    rows = tuple(len(r) for r in local)
    return DaskTable(client, replace(table.parts, rows=rows), frames, table.target, None)


def gather_rows(table: DaskTable, local: list[NDArray[np.intp]]) -> pd.DataFrame:
    """The given rows of each part, brought to the driver as one DataFrame in table order."""
    client = table.client
    parts = client.gather(
        [
            client.submit(_take, f, rows, None, pure=False)
            for f, rows in zip(table.frames, local, strict=True)
        ]
    )
    frame: pd.DataFrame = pd.concat(list(parts), ignore_index=True)
    return frame


def _part_fingerprint(frame: pd.DataFrame) -> str:
    from polyclass.artifact import fingerprint_table

    return fingerprint_table(frame)


def table_fingerprint(table: DaskTable) -> str:
    """SHA-256 over the parts' own fingerprints, in part order (a table split into other
    parts, or the single-node fingerprint of the same rows, differs)."""
    client = table.client
    hashes = client.gather([client.submit(_part_fingerprint, f, pure=False) for f in table.frames])
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


__all__ = ["gather_column", "gather_rows", "select_rows", "split_by_part", "table_fingerprint"]
