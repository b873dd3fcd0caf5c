"""Rows in the shapes requests carry them (records, positional rows, columns) as a Table."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from polyclass.preprocess import InputPlan, Table
from polyclass.serve._errors import unprocessable

__all__ = ["check_names", "from_columns", "from_records", "from_rows"]

Loc = list[str | int]


def _listed(names: Sequence[str], limit: int = 20) -> str:
    shown = [str(n) for n in names[:limit]]
    return str(shown) + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def check_names(given: Sequence[str], plan: InputPlan, loc: Loc) -> None:
    """Refuse missing, unknown or repeated column names, naming them and the expected ones."""
    expected = plan.feature_names
    known = set(expected)
    seen: set[str] = set()
    for i, name in enumerate(given):
        if not isinstance(name, str):
            raise unprocessable(f"Column names must be strings; got {name!r}.", *loc, i)
        if name in seen:
            raise unprocessable(f"Column {name!r} is given twice. Give each column once.", *loc, i)
        seen.add(name)
    extra = [n for n in given if n not in known]
    if extra:
        raise unprocessable(
            f"Unknown column(s) {_listed(extra)}: the model takes exactly the columns "
            f"{_listed(expected)}. Drop the others (the target, ids) before sending.",
            *loc,
        )
    missing = [n for n in expected if n not in seen]
    if missing:
        raise unprocessable(
            f"Missing column(s) {_listed(missing)}. The model takes the columns "
            f"{_listed(expected)}; send null for a missing value.",
            *loc,
        )


def from_records(rows: Any, plan: InputPlan, loc: Loc) -> Table:
    """A list of ``{column: value}`` objects; a key absent from a row is a missing value."""
    if not isinstance(rows, list):
        raise unprocessable(f"Expected a list of row objects; got {type(rows).__name__}.", *loc)
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            raise unprocessable(
                f"Row {r} is a {type(row).__name__}; expected an object of column -> value.",
                *loc,
                r,
            )
    present: set[str] = set().union(*rows) if rows else set(plan.feature_names)
    given = [n for n in plan.feature_names if n in present]
    given += sorted(present - set(given))
    check_names(given, plan, loc)
    names = plan.feature_names
    if plan.all_numeric and rows:
        getter = itemgetter(*names)
        try:
            flat = np.array([getter(row) for row in rows], dtype=None)
        except (KeyError, ValueError, TypeError, OverflowError):
            flat = np.empty(0, dtype=object)
        if flat.dtype.kind in "fiub":
            matrix = flat.astype(np.float64, copy=False).reshape(len(rows), len(names))
            return Table(
                len(rows), matrix=matrix, matrix_loc=list(loc), matrix_keys={n: n for n in names}
            )
    if all(len(row) == len(names) for row in rows):
        columns = {n: [row[n] for row in rows] for n in names}
    else:
        columns = {n: [row.get(n) for row in rows] for n in names}
    locs: dict[str, tuple[Loc, Loc]] = {n: (list(loc), [n]) for n in names}
    return Table(len(rows), columns, locs)


def from_rows(rows: Any, names: Sequence[str] | None, plan: InputPlan, loc: Loc) -> Table:
    """Positional rows (lists) with the given column names, or the model's order if None."""
    if not isinstance(rows, list):
        raise unprocessable(f"Expected a list of rows (lists); got {type(rows).__name__}.", *loc)
    if names is None:
        names = plan.feature_names
        given_order = False
    else:
        check_names(names, plan, [*loc[:-1], "columns"])
        given_order = True
    width = len(names)
    n = len(rows)
    if plan.all_numeric and n:
        try:
            arr = np.array(rows)
        except (ValueError, TypeError, OverflowError):
            arr = np.empty(0, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == width and arr.dtype.kind in "fiub":
            matrix = arr.astype(np.float64, copy=False)
            position = {name: j for j, name in enumerate(names)}
            if given_order and list(names) != plan.feature_names:
                matrix = matrix[:, [position[f] for f in plan.feature_names]]
            return Table(n, matrix=matrix, matrix_loc=list(loc), matrix_keys=dict(position))
    for r, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
            raise unprocessable(
                f"Row {r} has {got}; expected a list of {width} values, one per column "
                f"{_listed(list(names))}.",
                *loc,
                r,
            )
    values = list(zip(*rows, strict=True)) if n else [() for _ in names]
    columns = {name: list(col) for name, col in zip(names, values, strict=True)}
    locs: dict[str, tuple[Loc, Loc]] = {name: (list(loc), [j]) for j, name in enumerate(names)}
    return Table(n, columns, locs)


def from_columns(columns: Any, plan: InputPlan, loc: Loc) -> Table:
    """``{column: [values...]}``; all scalars means one row."""
    if not isinstance(columns, dict):
        raise unprocessable(
            f"Expected an object of column -> values; got {type(columns).__name__}.", *loc
        )
    check_names(list(columns), plan, loc)
    if all(not isinstance(v, list) for v in columns.values()):
        return Table(1, {k: [v] for k, v in columns.items()}, {k: (list(loc), []) for k in columns})
    lengths = {k: len(v) if isinstance(v, list) else None for k, v in columns.items()}
    for k, length in lengths.items():
        if length is None:
            raise unprocessable(
                f"Column {k!r} holds a single value while others hold lists; "
                "give every column a list with one value per row.",
                *loc,
                k,
            )
    if len(set(lengths.values())) > 1:
        raise unprocessable(
            f"Columns have different lengths: {lengths}. Give every column one value per row.", *loc
        )
    n = next(iter(lengths.values()), 0) or 0
    return Table(n, dict(columns), {k: ([*loc, k], []) for k in columns})
