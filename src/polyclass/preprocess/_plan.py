"""The preprocessing plan: a fitted Preprocessor compiled for fast, exact encoding.

Rows arrive as columns of plain values (JSON values, or one numeric matrix). The plan
turns them into the design matrix with NumPy and dict look-ups only, with the
Preprocessor's exact semantics (median imputation, missing indicators, standardising,
one-hot with rare and unseen categories, numbers read from text, date features, the
``missing`` and ``handle_unknown`` policies), and keeps the raw values for a
prediction log. A differential test holds it equal to ``Preprocessor.transform``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.data import DataError, date_features, describe_bad, parse_datetimes, parse_numbers
from polyclass.preprocess._input import coerce_value
from polyclass.preprocess._preprocessor import Preprocessor

__all__ = ["Encoded", "InputError", "InputPlan", "Table"]

Loc = list[str | int]
_NOT_FOUND = -3
_UNSEEN = -1
_WORDS = {"str": "text", "int": "whole numbers", "float": "numbers", "bool": "true/false"}


class InputError(DataError):
    """A value that does not fit the model, with its place in the input (``loc``).

    Examples
    --------
    >>> InputError("Column 'x' expects numbers.", ["body", "inputs", 2]).loc
    ['body', 'inputs', 2]
    """

    def __init__(self, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc: list[str | int] = list(loc)


def unprocessable(message: str, *loc: str | int) -> InputError:
    return InputError(message, loc)


@dataclass
class Table:
    """Rows of a request as columns, with where each value sits in the request.

    ``columns`` maps a feature name to its values (a list or a 1-D array).
    ``locs[name]`` is ``(prefix, suffix)``: the value of row ``r`` sits at
    ``prefix + [r] + suffix``. ``matrix`` is set instead when every feature came in
    one numeric array of shape (n_rows, n_features), in the model's feature order.
    """

    n_rows: int
    columns: dict[str, Any] = field(default_factory=dict)
    locs: dict[str, tuple[Loc, Loc]] = field(default_factory=dict)
    matrix: NDArray[np.float64] | None = None
    matrix_loc: list[str | int] = field(default_factory=list)
    matrix_keys: dict[str, str | int] = field(default_factory=dict)  # feature -> its key

    def loc(self, name: str, row: int) -> list[str | int]:
        """Where row ``row`` of column ``name`` sits in the request."""
        if self.matrix is not None:
            return [*self.matrix_loc, row, self.matrix_keys.get(name, name)]
        prefix, suffix = self.locs.get(name, ([], []))
        return [*prefix, row, *suffix]


@dataclass
class Encoded:
    """The design matrix and the raw inputs it came from (for the prediction log)."""

    X: NDArray[Any]
    numeric: NDArray[np.float64]  # (n, n_numeric) raw numbers, NaN where missing
    categorical: list[Sequence[Any]]  # one list per other feature, in order; None = missing
    warnings: list[str] = field(default_factory=list)  # values read as missing, by column


def _shown(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_error(name: str, expected: str, row: int, v: Any, table: Table) -> InputError:
    word = _WORDS.get(expected, expected)
    return unprocessable(
        f"Column {name!r} expects {word}, but row {row} holds {_shown(v)} "
        f"({type(v).__name__}). Send {word}, or null for a missing value.",
        *table.loc(name, row),
    )


@dataclass(frozen=True)
class _Categorical:
    name: str
    value_type: str
    start: int  # first output column of the block
    lookup: dict[Any, int]  # normalised category -> output column within the block
    fill: int  # output column for a missing value
    refuse_missing: bool
    known: tuple[Any, ...]
    fill_value: Any


class InputPlan:
    """A fitted Preprocessor compiled into arrays and dicts for fast, exact encoding.

    Parameters
    ----------
    pre : Preprocessor
        Fitted.

    Examples
    --------
    >>> from polyclass.data import infer_schema
    >>> from polyclass.datasets import load_penguins
    >>> df = load_penguins()
    >>> pre = Preprocessor(infer_schema(df, "species")).fit(df)
    >>> plan = InputPlan(pre)
    >>> row = {"island": ["Dream"], "bill_length_mm": [40.1], "bill_depth_mm": [18.0],
    ...        "flipper_length_mm": [190.0], "body_mass_g": [3800.0], "sex": ["male"],
    ...        "year": [2008]}
    >>> plan.encode(Table(1, row)).X.shape
    (1, 14)
    """

    def __init__(self, pre: Preprocessor) -> None:
        schema = pre.schema
        self.feature_names: list[str] = list(schema.feature_names)
        self.numeric_names: list[str] = list(pre.numeric_columns)
        self.all_numeric = len(self.numeric_names) == len(self.feature_names)
        self._text_numbers = [schema.feature(n).text_numbers for n in self.numeric_names]
        #: numeric columns whose text that is not a number is read as missing
        self.text_numbers = frozenset(
            n for n, t in zip(self.numeric_names, self._text_numbers, strict=True) if t
        )
        self._dates = [(n, tuple(schema.feature(n).date_parts or ())) for n in pre.date_columns]
        scaled = pre.scaled_columns
        # the input column each scaled column comes from (a date feature: its date column)
        self._scaled_inputs = [
            n if j < len(self.numeric_names) else pre.date_column_of(n)
            for j, n in enumerate(scaled)
        ]
        self._medians = np.asarray(pre.medians_, dtype=np.float64)
        self._means = np.asarray(pre.means_, dtype=np.float64)
        self._scales = np.asarray(pre.scales_, dtype=np.float64)
        self._indicators = np.array(
            [scaled.index(n) for n in pre.indicator_columns_], dtype=np.intp
        )
        refuse = pre.missing == "error"
        self._refuse_numeric = [
            refuse and not schema.feature(n).allow_missing for n in self._scaled_inputs
        ]
        self.handle_unknown = pre.handle_unknown
        self.dtype = np.dtype(pre.dtype)
        self.n_dense = len(scaled) + len(self._indicators)
        self.width = int(pre.n_features_out_)
        blocks: list[_Categorical] = []
        start = self.n_dense
        for oh in pre.onehots_:
            cols = oh.lookup()
            lookup = {c: int(j) for c, j in zip(oh.categories, cols.tolist(), strict=True)}
            blocks.append(
                _Categorical(
                    name=oh.name,
                    value_type=oh.value_type,
                    start=start,
                    lookup=lookup,
                    fill=int(cols[oh.fill_code()]),
                    refuse_missing=refuse and not schema.feature(oh.name).allow_missing,
                    known=tuple(oh.categories),
                    fill_value=oh.fill,
                )
            )
            start += oh.width
        self._blocks = blocks
        # the non-numeric inputs in feature order: ("block", k) or ("date", k)
        by_name = {b.name: ("block", k) for k, b in enumerate(blocks)}
        by_name.update({n: ("date", k) for k, (n, _) in enumerate(self._dates)})
        self._others = [by_name[n] for n in self.feature_names if n in by_name]
        self.kinds = {f.name: f.kind for f in schema.features}
        self.value_types = {f.name: f.value_type for f in schema.features}

    def example_row(self) -> dict[str, Any]:
        """A typical row: training medians and most frequent categories (for the docs)."""
        row: dict[str, Any] = {
            n: round(float(m), 4)
            for n, m in zip(
                self.numeric_names, self._medians[: len(self.numeric_names)].tolist(), strict=True
            )
        }
        row.update({b.name: b.fill_value for b in self._blocks})
        row.update({n: "2024-01-31" for n, _ in self._dates})
        return {n: row[n] for n in self.feature_names}

    # ----------------------------------------------------------------- numeric
    def _numeric_column(self, name: str, values: Any, table: Table) -> NDArray[np.float64]:
        try:
            arr = values if isinstance(values, np.ndarray) else np.array(values)
        except (ValueError, TypeError, OverflowError):  # ragged or odd values: look closer
            arr = np.empty(0, dtype=object)
        if arr.ndim == 1 and arr.dtype.kind in "fiub":
            return arr.astype(np.float64, copy=False)
        out = np.empty(table.n_rows, dtype=np.float64)
        for r, v in enumerate(values):
            if v is None:
                out[r] = np.nan
            elif isinstance(v, (int, float, np.number)) and not isinstance(v, complex):
                try:
                    out[r] = float(v)
                except OverflowError:
                    raise _type_error(name, "float", r, v, table) from None
            else:
                raise _type_error(name, "float", r, v, table)
        return out

    def _numeric(self, table: Table, warnings: list[str]) -> NDArray[np.float64]:
        n = table.n_rows
        if table.matrix is not None:
            raw = table.matrix
        else:
            raw = np.empty((n, len(self.numeric_names)), dtype=np.float64)
            for j, name in enumerate(self.numeric_names):
                values = table.columns[name]
                if self._text_numbers[j]:  # text that is not a number is missing, as in training
                    raw[:, j], bad = parse_numbers(_as_1d(values))
                    if bad.any():
                        warnings.append(describe_bad(name, "numbers", bad, values))
                else:
                    raw[:, j] = self._numeric_column(name, values, table)
        return raw

    def _date_parts(
        self, table: Table, warnings: list[str]
    ) -> tuple[list[NDArray[np.float64]], list[list[str | None]]]:
        """Each date column's features, and its values as ISO text (for a log)."""
        parts, texts = [], []
        for name, wanted in self._dates:
            values = table.columns[name]
            times, bad = parse_datetimes(_as_1d(values))
            if bad.any():
                warnings.append(describe_bad(name, "dates or times", bad, values))
            parts.append(date_features(times, wanted))
            iso = np.datetime_as_string(times, unit="s")
            texts.append([None if t == "NaT" else str(t) for t in iso.tolist()])
        return parts, texts

    def _refuse(self, name: str, row: int, table: Table) -> InputError:
        return unprocessable(
            f"Column {name!r} has a missing value (null, NaN or infinity) in row {row}, but "
            "this model allows none there: it saw no missing values in training and was "
            "built with missing='error'. Send a value.",
            *table.loc(name, row),
        )

    # ------------------------------------------------------------- categorical
    def _codes(
        self, block: _Categorical, values: Sequence[Any], table: Table
    ) -> tuple[NDArray[np.intp], Sequence[Any]]:
        """Output column of each row within the block (-1 = none) and the normalised values.

        Text and boolean values are looked up in one ``np.fromiter`` over the block's
        category -> column dict; only the values not found there (missing, unseen, or to
        be normalised, like 2008.0 for the integer category 2008) are looked at one by one.
        """
        get = block.lookup.get
        vt = block.value_type
        n = len(values)
        codes = None
        if vt in ("str", "bool"):
            try:
                codes = np.fromiter(map(get, values, repeat(_NOT_FOUND)), dtype=np.intp, count=n)
            except TypeError:  # an unhashable value (a list or an object): look closer below
                codes = None
        if codes is None:
            codes = np.full(n, _NOT_FOUND, dtype=np.intp)
        todo = np.flatnonzero(codes == _NOT_FOUND)
        if not len(todo):
            return codes, values
        keys: list[Any] = list(values)
        for r in todo.tolist():
            v = values[r]
            try:
                key = coerce_value(vt, v)
            except TypeError:
                raise _type_error(block.name, vt, r, v, table) from None
            keys[r] = key
            if key is None:
                if block.refuse_missing:
                    raise self._refuse(block.name, r, table)
                codes[r] = block.fill
                continue
            code = get(key, _UNSEEN)
            if code == _UNSEEN and self.handle_unknown == "error":
                known = list(block.known[:10]) + (["..."] if len(block.known) > 10 else [])
                raise unprocessable(
                    f"Column {block.name!r} has the unseen category {_shown(v)} in row {r}; "
                    f"this model refuses unseen categories (handle_unknown='error'). Known "
                    f"categories: {known}.",
                    *table.loc(block.name, r),
                )
            codes[r] = code
        return codes, keys

    # ------------------------------------------------------------------ encode
    def encode(self, table: Table) -> Encoded:
        """The design matrix of ``table``, or an InputError naming the bad value and its place."""
        n = table.n_rows
        for name, values in table.columns.items():
            if len(values) != n:
                raise unprocessable(
                    f"Column {name!r} has {len(values)} values but the request has {n} rows. "
                    "Give every column one value per row.",
                    *table.locs.get(name, ([], []))[0],
                )
        warnings: list[str] = []
        raw = self._numeric(table, warnings)
        date_parts, date_texts = self._date_parts(table, warnings) if self._dates else ([], [])
        dense = np.hstack([raw, *date_parts]) if date_parts else raw
        n_num = dense.shape[1]
        X = np.empty((n, self.width), dtype=self.dtype)
        if self.width > n_num:
            X[:, n_num:] = 0
        if n_num:
            missing = ~np.isfinite(dense)
            if missing.any():
                for j, refuse in enumerate(self._refuse_numeric):
                    if refuse and missing[:, j].any():
                        row = int(np.flatnonzero(missing[:, j])[0])
                        raise self._refuse(self._scaled_inputs[j], row, table)
                filled = np.where(missing, self._medians, dense)
            else:
                filled = dense
            scaled = X[:, :n_num]
            np.subtract(filled, self._means, out=scaled)
            np.divide(scaled, self._scales, out=scaled)
            if len(self._indicators):
                X[:, n_num : self.n_dense] = missing[:, self._indicators]
        block_keys: list[Sequence[Any]] = []
        if self._blocks:
            rows = np.arange(n)
            for block in self._blocks:
                cols, keys = self._codes(block, table.columns[block.name], table)
                block_keys.append(keys)
                hit = cols >= 0
                X[rows[hit], block.start + cols[hit]] = 1
        categorical = [
            block_keys[k] if where == "block" else date_texts[k] for where, k in self._others
        ]
        return Encoded(X=X, numeric=raw, categorical=categorical, warnings=warnings)


def _as_1d(values: Any) -> NDArray[Any]:
    """Request values as a 1-D array (object dtype unless NumPy gives a plain one)."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
