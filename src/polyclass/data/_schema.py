"""The input schema: target, feature columns, their kinds, dtypes and categories."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from polyclass.data._errors import DataError
from polyclass.data._values import DATE_PARTS, looks_mostly, parse_datetimes, parse_numbers

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KINDS",
    "Feature",
    "FeatureKind",
    "Schema",
    "ValueType",
    "datetime_values",
    "infer_schema",
]

FeatureKind = Literal["numeric", "categorical", "boolean", "datetime"]
#: Python type of a column's values: how categories are stored and matched.
ValueType = Literal["float", "int", "str", "bool"]
KINDS: tuple[FeatureKind, ...] = ("numeric", "categorical", "boolean", "datetime")
_VALUE_TYPES: tuple[ValueType, ...] = ("float", "int", "str", "bool")

#: Categorical columns with more distinct values keep only a count in the schema.
MAX_SCHEMA_CATEGORIES = 1000

Category = str | int | float | bool


@dataclass(frozen=True)
class Feature:
    """One input column.

    Attributes
    ----------
    name : str
    kind : {'numeric', 'categorical', 'boolean', 'datetime'}
    dtype : str
        The pandas dtype seen when the schema was inferred (``'float64'``, ``'str'`` ...).
    value_type : {'float', 'int', 'str', 'bool'}
        Python type of the values; categories are matched as this type.
    categories : tuple or None
        Sorted distinct non-missing values for categorical and boolean columns
        (``None`` for numeric columns and for more than 1000 distinct values).
    n_unique : int
        Distinct non-missing values seen.
    allow_missing : bool
        Whether missing values were seen; ``Preprocessor(missing='error')`` refuses
        missing values in a column where this is False.
    text_numbers : bool
        Numeric column read from text that held some values that are not numbers:
        those are read as missing, in training and at prediction (with a warning).
    date_parts : tuple of str or None
        For a ``'datetime'`` column, the numbers made from it (names from
        :data:`polyclass.data.DATE_PARTS`, e.g. ``('year', 'month', ...)``).
    """

    name: str
    kind: FeatureKind
    dtype: str
    value_type: ValueType
    categories: tuple[Category, ...] | None = None
    n_unique: int = 0
    allow_missing: bool = True
    text_numbers: bool = False
    date_parts: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the last two keys only where they apply)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "value_type": self.value_type,
            "categories": None if self.categories is None else list(self.categories),
            "n_unique": self.n_unique,
            "allow_missing": self.allow_missing,
        }
        if self.text_numbers:
            out["text_numbers"] = True
        if self.date_parts is not None:
            out["date_parts"] = list(self.date_parts)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Feature:
        """Inverse of :meth:`to_dict`; raises :class:`DataError` on a malformed entry."""
        try:
            kind = d["kind"]
            value_type = d["value_type"]
            cats = d.get("categories")
            parts = d.get("date_parts")
            feature = cls(
                name=str(d["name"]),
                kind=kind,
                dtype=str(d["dtype"]),
                value_type=value_type,
                categories=None if cats is None else tuple(cats),
                n_unique=int(d.get("n_unique", 0)),
                allow_missing=bool(d.get("allow_missing", True)),
                text_numbers=bool(d.get("text_numbers", False)),
                date_parts=None if parts is None else tuple(str(p) for p in parts),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"Malformed feature entry in schema: {dict(d)!r} ({exc}).") from None
        if kind not in KINDS or value_type not in _VALUE_TYPES:
            raise DataError(
                f"Malformed feature entry in schema for {feature.name!r}: kind must be one of "
                f"{list(KINDS)} and value_type one of {list(_VALUE_TYPES)}. "
                f"Got kind={kind!r}, value_type={value_type!r}."
            )
        if (kind == "datetime") != (feature.date_parts is not None) or not set(
            feature.date_parts or ()
        ) <= set(DATE_PARTS):
            raise DataError(
                f"Malformed feature entry in schema for {feature.name!r}: a 'datetime' column "
                f"needs date_parts from {list(DATE_PARTS)}, other kinds none. "
                f"Got kind={kind!r}, date_parts={feature.date_parts!r}."
            )
        return feature


@dataclass
class Schema:
    """What a model expects as input.

    Attributes
    ----------
    target : str
        Name of the target column.
    features : list of Feature
        Input columns in order.
    target_dtype : str
        pandas dtype of the target column.
    classes : list
        Sorted distinct non-missing target values.
    dropped : dict
        Columns left out, mapped to the reason code (``'user'``, ``'constant_column'``,
        ``'id_like_column'``, ``'target_leakage'``, ``'unsupported_dtype'``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"], "y": [0, 1, 0]})
    >>> s = infer_schema(df, "y")
    >>> [(f.name, f.kind) for f in s.features]
    [('x', 'numeric'), ('c', 'categorical')]
    >>> Schema.from_dict(s.to_dict()) == s
    True
    """

    target: str
    features: list[Feature]
    target_dtype: str = "object"
    classes: list[Category] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """Names of the input columns, in order."""
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        """The feature called ``name``; :class:`DataError` naming the known ones otherwise."""
        for f in self.features:
            if f.name == name:
                return f
        raise DataError(f"No feature {name!r} in the schema. Features: {self.feature_names}.")

    def without(self, columns: Mapping[str, str]) -> Schema:
        """A copy with ``columns`` (name -> reason code) moved from features to ``dropped``."""
        return Schema(
            target=self.target,
            features=[f for f in self.features if f.name not in columns],
            target_dtype=self.target_dtype,
            classes=list(self.classes),
            dropped={**self.dropped, **{k: v for k, v in columns.items()}},
        )

    def csv_dtypes(self) -> dict[str, str]:
        """dtypes to pass to :func:`load_table`/:func:`iter_table_chunks` for CSV input.

        Text and date columns are read as ``'str'``, so a chunk whose text column
        looks numeric keeps the training type. Numeric columns are left to pandas: a
        value that is not a number then reaches the preprocessor, which names its row
        (or reads it as missing for a ``text_numbers`` column).
        """
        return {f.name: "str" for f in self.features if f.value_type == "str"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (lists, strings, numbers, booleans only)."""
        return {
            "target": self.target,
            "target_dtype": self.target_dtype,
            "classes": list(self.classes),
            "features": [f.to_dict() for f in self.features],
            "dropped": dict(self.dropped),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Schema:
        """Inverse of :meth:`to_dict`; raises :class:`DataError` on a malformed dict."""
        try:
            return cls(
                target=str(d["target"]),
                features=[Feature.from_dict(f) for f in d["features"]],
                target_dtype=str(d.get("target_dtype", "object")),
                classes=list(d.get("classes", [])),
                dropped={str(k): str(v) for k, v in dict(d.get("dropped", {})).items()},
            )
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"Malformed schema: missing or wrong entry {exc}. Expected keys 'target' and "
                "'features' (as written by Schema.to_dict())."
            ) from None


def closest_name(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``name`` (case-insensitive match first), or None."""
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def missing_column_error(what: str, name: str, columns: Sequence[str]) -> DataError:
    """The error for a column that is not in the table, with the closest name."""
    guess = closest_name(name, columns)
    hint = f" Did you mean {guess!r}?" if guess is not None else ""
    return DataError(f"{what} {name!r} is not in the table.{hint} Columns: {list(columns)}.")


def to_python(value: Any) -> Category:
    """A NumPy/pandas scalar as the plain Python value (for JSON)."""
    item = getattr(value, "item", None)
    return cast(Category, item() if callable(item) else value)


def value_type_of(s: pd.Series) -> ValueType:
    """The Python type of the non-missing values of ``s``; :class:`DataError` on a mix."""
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return value_type_of(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "str"
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    mapping: dict[str, ValueType] = {
        "string": "str",
        "empty": "str",
        "boolean": "bool",
        "integer": "int",
        "floating": "float",
        "mixed-integer-float": "float",
        "decimal": "float",
    }
    if inferred in mapping:
        return mapping[inferred]
    positions = [i for i, present in enumerate(s.notna().tolist()) if present]  # error path
    values = [s.iloc[i] for i in positions]
    where = ""
    for i, v in zip(positions, values, strict=True):
        if type(v) is not type(values[0]):
            where = f" (row {positions[0]}: {values[0]!r}, row {i}: {v!r})"
            break
    raise DataError(
        f"Column {s.name!r} mixes value types ({inferred}){where}. Make every value of one "
        "type (e.g. convert the column to text) or drop the column."
    )


def datetime_values(s: pd.Series) -> Any:
    """A date/time column as values :func:`parse_datetimes` reads (wall-clock time)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        return s.to_numpy(dtype="datetime64[ns]")
    return s.to_numpy(dtype=object)


def _is_text(s: pd.Series) -> bool:
    """Object or string dtype, not all booleans: where numbers and dates may hide."""
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return False
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return False
    return pd.api.types.infer_dtype(s, skipna=True) not in ("boolean", "empty")


def _datetime_feature(s: pd.Series, values: Any) -> Feature:
    import numpy as np

    times, _ = parse_datetimes(values)
    present = times[~np.isnat(times)]
    timed = bool((present != present.astype("datetime64[D]")).any())
    return Feature(
        name=str(s.name),
        kind="datetime",
        dtype=str(s.dtype),
        value_type="str",
        n_unique=len(np.unique(present)),
        allow_missing=bool(len(present) < len(s)),
        date_parts=DATE_PARTS if timed else DATE_PARTS[:-1],
    )


def _from_text(s: pd.Series, override: str | None) -> Feature | None:
    """A date or numeric Feature for a text column that mostly holds dates or numbers.

    Numbers count only when some values are not numbers: text that is all numbers
    was asked for as text (pandas would have read numbers otherwise).
    """
    import numpy as np

    if override not in (None, "datetime", "numeric"):
        return None
    values = s.to_numpy(dtype=object)
    present = values[s.notna().to_numpy()]
    probe = present[:1000]
    if override in (None, "datetime"):
        times, bad = parse_datetimes(probe)
        if looks_mostly(int((~np.isnat(times)).sum()), int(bad.sum())):
            times, bad = parse_datetimes(present)
            if looks_mostly(int((~np.isnat(times)).sum()), int(bad.sum())):
                return _datetime_feature(s, values)
    if override in (None, "numeric"):
        numbers, bad = parse_numbers(probe)
        if looks_mostly(int((~np.isnan(numbers)).sum()), int(bad.sum())):
            numbers, bad = parse_numbers(present)
            good = ~np.isnan(numbers)
            if looks_mostly(int(good.sum()), int(bad.sum())) and (
                bad.any() or override == "numeric"
            ):
                return Feature(
                    name=str(s.name),
                    kind="numeric",
                    dtype=str(s.dtype),
                    value_type="float",
                    n_unique=len(np.unique(numbers[good])),
                    allow_missing=bool(len(present) < len(s) or bad.any()),
                    text_numbers=True,
                )
    return None


def _infer_one(s: pd.Series, override: str | None) -> Feature | str:
    """A Feature for column ``s``, or the reason code why it cannot be used."""
    import numpy as np
    import pandas as pd

    name = str(s.name)
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) and override in (None, "datetime"):
        return _datetime_feature(s, datetime_values(s))
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or pd.api.types.is_complex_dtype(dtype)
    ):
        if override is not None:
            raise DataError(
                f"Column {name!r} has dtype {dtype} and cannot be used as {override}. "
                "Convert it to numbers or text first, or drop it."
            )
        return "unsupported_dtype"
    if _is_text(s):
        from_text = _from_text(s, override)
        if from_text is not None:
            return from_text
    value_type = value_type_of(s)
    if override == "datetime":
        raise DataError(
            f"Column {name!r} does not hold dates or times (ISO text such as 2012-01-31 or "
            "2012-01-31T10:15, or a datetime column). Convert it first, or use another kind."
        )
    if override is None:
        kind: FeatureKind = (
            "boolean"
            if value_type == "bool"
            else "numeric"
            if value_type in ("int", "float")
            else "categorical"
        )
    else:
        kind = cast(FeatureKind, override)
        if kind == "numeric" and value_type == "str":
            raise DataError(
                f"Column {name!r} holds text and cannot be treated as numeric. Convert it to "
                "numbers first, or use kind 'categorical'."
            )
        if kind == "boolean" and value_type != "bool":
            uniques = s.dropna().unique()
            if value_type in ("int", "float") and set(uniques.tolist()) <= {0, 1}:
                value_type = "bool"
            else:
                raise DataError(
                    f"Column {name!r} cannot be treated as boolean: its values are "
                    f"{list(uniques[:5])}{' ...' if len(uniques) > 5 else ''}, expected only "
                    "True/False (or 0/1). Use kind 'categorical' instead."
                )
    n_missing = int(s.isna().sum())
    categories: tuple[Category, ...] | None = None
    if kind == "numeric":
        n_unique = int(s.nunique(dropna=True))
        if value_type == "bool":
            value_type = "int"
    else:
        uniques = np.asarray(pd.unique(s.dropna()))
        n_unique = len(uniques)
        if n_unique <= MAX_SCHEMA_CATEGORIES:
            values = [to_python(v) for v in uniques]
            if value_type == "bool":
                values = [bool(v) for v in values]
            elif value_type == "int":
                values = [int(v) for v in values]
            categories = tuple(sorted(set(values), key=lambda v: (str(type(v)), v)))
    return Feature(
        name=name,
        kind=kind,
        dtype=str(dtype),
        value_type=value_type,
        categories=categories,
        n_unique=n_unique,
        allow_missing=n_missing > 0,
    )


def infer_schema(
    df: pd.DataFrame,
    target: str,
    overrides: Mapping[str, str] | None = None,
    drop: Sequence[str] | None = None,
) -> Schema:
    """Infer the kind of every column of ``df`` (except ``target``).

    Rules: bool columns (and object columns holding only True/False) are
    ``'boolean'``; integer and float columns are ``'numeric'``; datetime columns and
    text that is at least 90% ISO dates/times are ``'datetime'`` (made into year,
    month, day of week, cyclic day of year and, when times vary, hour); text that is
    at least 90% numbers but not all is ``'numeric'`` with ``text_numbers`` (the rest
    read as missing); other text, pandas categorical and object columns are
    ``'categorical'``. Timedelta and complex columns are left out
    (``dropped[name] = 'unsupported_dtype'``).

    Parameters
    ----------
    df : pandas.DataFrame
        The training table.
    target : str
        Target column name.
    overrides : dict, optional
        ``{column: kind}`` to force a kind, e.g. ``{"year": "categorical"}``.
        Numeric codes can become categorical, 0/1 columns boolean; text cannot
        become numeric.
    drop : list of str, optional
        Columns to leave out (recorded as ``dropped[name] = 'user'``).

    Returns
    -------
    Schema

    Raises
    ------
    DataError
        Target, an override or a drop names a column that is not in ``df`` (the
        closest name is suggested), an override kind is unknown or impossible, or a
        column mixes value types.

    Examples
    --------
    >>> from polyclass.datasets import load_penguins
    >>> s = infer_schema(load_penguins(), "species", overrides={"year": "categorical"})
    >>> s.feature("year").kind, s.feature("year").categories
    ('categorical', (2007, 2008, 2009))
    """
    columns = [str(c) for c in df.columns]
    if target not in columns:
        raise missing_column_error("Target column", target, columns)
    overrides = dict(overrides or {})
    drop = list(drop or [])
    for name in list(overrides) + drop:
        if name not in columns:
            raise missing_column_error("Column", name, columns)
        if name == target:
            raise DataError(
                f"{name!r} is the target column; it cannot be overridden or dropped as a feature."
            )
    for name, kind in overrides.items():
        if kind not in KINDS:
            raise DataError(
                f"The kind for column {name!r} must be one of {list(KINDS)}. Got {kind!r} instead."
            )
    dropped: dict[str, str] = {name: "user" for name in drop}
    features: list[Feature] = []
    for name in columns:
        if name == target or name in dropped:
            continue
        result = _infer_one(df[name], overrides.get(name))
        if isinstance(result, str):
            dropped[name] = result
        else:
            features.append(result)
    y = df[target]
    classes = [to_python(v) for v in pd_unique_sorted(y)]
    return Schema(
        target=target,
        features=features,
        target_dtype=str(y.dtype),
        classes=classes,
        dropped=dropped,
    )


def pd_unique_sorted(y: pd.Series) -> list[Any]:
    """Sorted distinct non-missing values of ``y`` (mixed types sorted by type name)."""
    import pandas as pd

    uniques = pd.unique(y.dropna())
    try:
        return sorted(uniques.tolist())
    except TypeError:
        return sorted(uniques.tolist(), key=lambda v: (type(v).__name__, str(v)))
