"""Read feature columns out of a DataFrame, a dict of arrays or a list of dicts.

The DataFrame path uses pandas' vectorised operations; the dict and list paths
use NumPy and plain Python only, so serving never needs pandas.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.data import DataError, ValueType, parse_datetimes, parse_numbers

__all__ = ["ColumnSource", "as_source"]

MISSING_CODE = -2
UNSEEN_CODE = -1

_TYPE_WORDS: dict[str, str] = {
    "str": "text",
    "int": "whole numbers",
    "float": "numbers",
    "bool": "True/False values",
}


class _Missing:
    """Marks a missing value while normalising."""


_MISSING = _Missing()


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def show(value: Any) -> str:
    """``repr`` of a value, NumPy scalars shown as the plain Python value."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) and not isinstance(value, np.ndarray) else value)


def _wrong_type(name: str, expected: str, row: int, value: Any) -> DataError:
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, np.ndarray):
        value = item()
    return DataError(
        f"Column {name!r} expects {_TYPE_WORDS.get(expected, expected)}, but row {row} holds "
        f"{value!r} ({type(value).__name__}). Send {_TYPE_WORDS.get(expected, expected)} "
        "(or null for a missing value)."
    )


def normalise(name: str, value_type: ValueType, row: int, v: Any) -> Any:
    """``v`` as the Python value categories are stored as, ``_MISSING``, or a DataError."""
    if _is_missing(v):
        return _MISSING
    try:
        return coerce_value(value_type, v)
    except TypeError:
        raise _wrong_type(name, value_type, row, v) from None


def coerce_value(value_type: str, v: Any) -> Any:
    """``v`` as the Python value a column of ``value_type`` stores categories as.

    None (or NaN) means missing and comes back as None; a value of the wrong type
    raises ``TypeError``. The serving path uses this to read request values exactly
    as training read the table.
    """
    if _is_missing(v):
        return None
    if value_type == "str":
        if isinstance(v, str):
            return v
    elif value_type == "bool":
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)) and v in (0, 1):
            return bool(v)
    elif not isinstance(v, (bool, np.bool_)):
        if value_type == "int":
            if isinstance(v, (int, np.integer)):
                return int(v)
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                return int(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            return float(v)
    raise TypeError(value_type)


class ColumnSource:
    """Columns of one input table, read one at a time."""

    n_rows: int

    def numeric(self, name: str) -> NDArray[np.float64]:
        """Values of a numeric column as float64 (missing = NaN)."""
        raise NotImplementedError

    def numbers(self, name: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Numbers of a column that may hold them as text; True where a value is not one."""
        return parse_numbers(self.values(name))

    def times(self, name: str) -> tuple[NDArray[np.datetime64], NDArray[np.bool_]]:
        """Dates/times of a column; True where a present value is not one."""
        return parse_datetimes(self.values(name))

    def values(self, name: str) -> NDArray[Any]:
        """The raw values of ``name`` as a 1-D array."""
        raise NotImplementedError

    def category_codes(
        self, name: str, value_type: ValueType, categories: Sequence[Any]
    ) -> NDArray[np.int64]:
        """Index of each value in ``categories``; -1 unseen, -2 missing."""
        raise NotImplementedError

    def category_counts(
        self, name: str, value_type: ValueType
    ) -> tuple[list[Any], NDArray[np.int64], int]:
        """Sorted distinct values, their counts, and the number of missing values."""
        raise NotImplementedError

    def value_at(self, name: str, row: int) -> Any:
        """The raw value of ``name`` in ``row`` (for error messages)."""
        raise NotImplementedError


def _sorted_values(values: Sequence[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (str(type(v)), v)) if values else []


class _ArraySource(ColumnSource):
    """Columns given as a dict of 1-D arrays or lists (NumPy only)."""

    def __init__(self, columns: Mapping[str, Any], expected: Sequence[str]) -> None:
        missing = [c for c in expected if c not in columns]
        if missing:
            raise _missing_columns(missing, expected)
        arrays: dict[str, NDArray[Any]] = {}
        for name in expected:
            raw = columns[name]
            if isinstance(raw, (str, bytes)) or np.ndim(raw) != 1:
                raise DataError(
                    f"Column {name!r} must be a 1-D array or list of values, got "
                    f"{type(raw).__name__}. For a single row pass a list with one dict: [row]."
                )
            arr = raw if isinstance(raw, np.ndarray) else _as_array(raw)
            arrays[name] = arr
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(
                f"Columns have different lengths: {lengths}. Give every column one value per row."
            )
        self._arrays = arrays
        self.n_rows = next(iter(lengths.values())) if lengths else 0

    def value_at(self, name: str, row: int) -> Any:
        return self._arrays[name][row]

    def values(self, name: str) -> NDArray[Any]:
        return self._arrays[name]

    def numeric(self, name: str) -> NDArray[np.float64]:
        arr = self._arrays[name]
        if arr.dtype.kind in "fiub":
            return np.asarray(arr, dtype=np.float64)
        if arr.dtype.kind == "O":
            for i, v in enumerate(arr):
                if not (_is_missing(v) or isinstance(v, (int, float, np.number, np.bool_))):
                    raise _wrong_type(name, "float", i, v)
            return np.array([np.nan if v is None else v for v in arr], dtype=np.float64)
        raise _wrong_type(name, "float", 0, arr[0])

    def _keys(self, name: str, value_type: ValueType) -> tuple[NDArray[Any], NDArray[np.intp]]:
        """Distinct normalised values (with ``_MISSING``) and each row's index into them."""
        arr = self._arrays[name]
        if arr.size == 0:
            return np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
        kind = arr.dtype.kind
        fast = {"str": "US", "bool": "b", "int": "iuf", "float": "iuf"}[value_type]
        if kind in fast or (value_type == "bool" and kind in "iu"):
            uniq, inverse = np.unique(arr, return_inverse=True)
            keys = np.empty(len(uniq), dtype=object)
            for j, v in enumerate(uniq.tolist()):
                try:
                    keys[j] = normalise(name, value_type, 0, v)
                except DataError:  # say which row holds the first bad value
                    row = int(np.flatnonzero(inverse == j)[0])
                    raise _wrong_type(name, value_type, row, v) from None
            return keys, inverse.astype(np.intp)
        if kind != "O":
            raise _wrong_type(name, value_type, 0, arr[0])
        normalised = [normalise(name, value_type, i, v) for i, v in enumerate(arr)]
        index: dict[Any, int] = {}
        inverse_list = [index.setdefault(_hashable(v), len(index)) for v in normalised]
        keys = np.empty(len(index), dtype=object)
        for k, j in index.items():
            keys[j] = _MISSING if k is _MISSING_KEY else k[1]
        return keys, np.asarray(inverse_list, dtype=np.intp)

    def category_codes(
        self, name: str, value_type: ValueType, categories: Sequence[Any]
    ) -> NDArray[np.int64]:
        keys, inverse = self._keys(name, value_type)
        lookup = {_hashable(c): i for i, c in enumerate(categories)}
        key_codes = np.array(
            [
                MISSING_CODE if k is _MISSING else lookup.get(_hashable(k), UNSEEN_CODE)
                for k in keys
            ],
            dtype=np.int64,
        )
        return key_codes[inverse] if len(inverse) else np.empty(0, dtype=np.int64)

    def category_counts(
        self, name: str, value_type: ValueType
    ) -> tuple[list[Any], NDArray[np.int64], int]:
        keys, inverse = self._keys(name, value_type)
        counts = np.bincount(inverse, minlength=len(keys))
        n_missing = 0
        merged: dict[Any, int] = {}
        for k, c in zip(keys, counts.tolist(), strict=True):
            if k is _MISSING:
                n_missing += c
            else:
                merged[_hashable(k)] = merged.get(_hashable(k), 0) + c
        values = _sorted_values([k[1] for k in merged])
        return values, np.array([merged[_hashable(v)] for v in values], dtype=np.int64), n_missing


_MISSING_KEY = ("missing",)


def _hashable(v: Any) -> Any:
    """A dict key that keeps True apart from 1 and 1.0 (Python would merge them)."""
    if v is _MISSING:
        return _MISSING_KEY
    return (type(v).__name__ if isinstance(v, bool) else "value", v)


def _as_array(values: Any) -> NDArray[Any]:
    values = list(values)
    if not values:
        return np.empty(0, dtype=np.float64)
    arr = np.asarray(values, dtype=object)
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    return arr


def _rows_to_columns(rows: Sequence[Any], expected: Sequence[str]) -> dict[str, list[Any]]:
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(
                f"Row {i} is a {type(row).__name__}; expected a dict of column name -> value."
            )
    present = set()
    for row in rows:
        present.update(row.keys())
    missing = [c for c in expected if c not in present]
    if missing and rows:
        raise _missing_columns(missing, expected)
    return {name: [row.get(name) for row in rows] for name in expected}


def _missing_columns(missing: Sequence[str], expected: Sequence[str]) -> DataError:
    return DataError(
        f"Missing column(s) {list(missing)} in the input. Expected columns: {list(expected)}."
    )


def as_source(data: Any, expected: Sequence[str]) -> ColumnSource:
    """Wrap a DataFrame, a dict of column -> array, or a list of row dicts."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        from polyclass.preprocess._frame import FrameSource

        return FrameSource(data, expected)
    if isinstance(data, Mapping):
        return _ArraySource(data, expected)
    if isinstance(data, (list, tuple)):
        if not data:
            return _ArraySource({name: np.empty(0) for name in expected}, expected)
        return _ArraySource(_rows_to_columns(data, expected), expected)
    raise DataError(
        f"Cannot read input of type {type(data).__name__}. Pass a pandas DataFrame, a dict "
        "of column name -> list/array, or a list of dicts (one per row)."
    )
