"""Feature columns of a pandas DataFrame (imported only when a DataFrame is given)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.data import DataError, ValueType, datetime_values, parse_numbers
from polyclass.preprocess._input import (
    MISSING_CODE,
    ColumnSource,
    _missing_columns,
    _sorted_values,
    _wrong_type,
    normalise,
)

__all__ = ["FrameSource"]

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal", "empty", "boolean"}


class FrameSource(ColumnSource):
    """Columns of a DataFrame, read with pandas' vectorised operations (no copies of the table)."""

    def __init__(self, df: pd.DataFrame, expected: Sequence[str]) -> None:
        columns = set(df.columns)
        missing = [c for c in expected if c not in columns]
        if missing:
            raise _missing_columns(missing, expected)
        self._df = df
        self.n_rows = len(df)

    def value_at(self, name: str, row: int) -> Any:
        return self._df[name].iloc[row]

    def values(self, name: str) -> NDArray[Any]:
        return np.asarray(datetime_values(self._df[name]))

    def numbers(self, name: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        s = self._df[name]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            return s.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(s), dtype=bool)
        return parse_numbers(s.to_numpy(dtype=object))

    def _first_bad(self, s: pd.Series, expected: ValueType) -> DataError:
        """The wrong-type error for the first bad value of ``s`` (slow path)."""
        for i, v in enumerate(s.tolist()):
            try:
                normalise(str(s.name), expected, i, v)
            except DataError as exc:
                return exc
        return DataError(
            f"Column {s.name!r} has dtype {s.dtype}, which cannot be read as {expected}."
        )

    def numeric(self, name: str) -> NDArray[np.float64]:
        s = self._df[name]
        dtype = s.dtype
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        if pd.api.types.infer_dtype(s, skipna=True) in _NUMERIC_INFERRED:
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        # a table read from text (CSV) holds numbers as text: read them, name the first
        # value that is not one
        raw = s.to_numpy(dtype=object)
        x, bad = parse_numbers(raw)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise _wrong_type(name, "float", row, raw[row])
        return x

    def _typed(self, name: str, value_type: ValueType) -> pd.Series:
        """``df[name]`` checked against ``value_type`` (converted only for 0/1 -> bool)."""
        s = self._df[name]
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            s = s.astype(dtype.categories.dtype if len(dtype.categories) else object)
            dtype = s.dtype
        if s.isna().all():
            return s
        is_bool = pd.api.types.is_bool_dtype(dtype)
        if value_type == "str":
            ok = pd.api.types.is_string_dtype(dtype) and (
                not pd.api.types.is_object_dtype(dtype)
                or pd.api.types.infer_dtype(s, skipna=True) == "string"
            )
        elif value_type == "bool":
            if pd.api.types.is_numeric_dtype(dtype) and not is_bool:
                values = s.dropna()
                if values.isin([0, 1]).all():
                    return s.astype(object).where(s.isna(), s == 1)
                ok = False
            else:
                ok = is_bool or pd.api.types.infer_dtype(s, skipna=True) == "boolean"
        elif value_type == "int":
            if is_bool:
                ok = False
            elif pd.api.types.is_integer_dtype(dtype):
                ok = True
            elif pd.api.types.is_float_dtype(dtype):
                x = s.to_numpy(dtype=np.float64, na_value=np.nan)
                finite = x[~np.isnan(x)]
                ok = bool(np.all(finite == np.round(finite)))
            else:
                ok = pd.api.types.infer_dtype(s, skipna=True) == "integer"
        else:
            ok = (pd.api.types.is_numeric_dtype(dtype) and not is_bool) or (
                pd.api.types.infer_dtype(s, skipna=True)
                in {"integer", "floating", "mixed-integer-float"}
            )
        if not ok:
            raise self._first_bad(s, value_type)
        return s

    def category_codes(
        self, name: str, value_type: ValueType, categories: Sequence[Any]
    ) -> NDArray[np.int64]:
        s = self._typed(name, value_type)
        missing = s.isna().to_numpy()
        if missing.all():
            return np.full(len(s), MISSING_CODE, dtype=np.int64)
        index = pd.Index(list(categories), dtype=object if value_type == "bool" else None)
        codes: NDArray[np.int64] = index.get_indexer(s).astype(np.int64)
        codes[missing] = MISSING_CODE
        return codes

    def category_counts(
        self, name: str, value_type: ValueType
    ) -> tuple[list[Any], NDArray[np.int64], int]:
        s = self._typed(name, value_type)
        counts = s.value_counts(dropna=True)
        n_missing = len(s) - int(counts.sum())
        merged: dict[Any, int] = {}
        for v, c in counts.items():
            key = normalise(name, value_type, 0, v)
            merged[key] = merged.get(key, 0) + int(c)
        values = _sorted_values(list(merged))
        return values, np.array([merged[v] for v in values], dtype=np.int64), n_missing
