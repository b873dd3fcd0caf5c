"""Checks of a training table before anything is fitted: fatal errors and warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.data._errors import DataError
from polyclass.data._schema import (
    Feature,
    Schema,
    datetime_values,
    missing_column_error,
    to_python,
)
from polyclass.data._split import min_class_size
from polyclass.data._values import describe_bad, parse_datetimes, parse_numbers

__all__ = ["CheckResult", "DataIssue", "check_data"]

#: Rows used for the leakage test on large tables (a seeded sample; said in the message).
LEAKAGE_SAMPLE = 200_000
_MIN_ROWS_LEAKAGE = 20
_MIN_ROWS_ID = 10
#: Text with at least this share of distinct values per row is an identifier.
NEAR_UNIQUE = 0.95
#: Warn when at least this share of a column's rows fall in rare categories.
RARE_ROWS_WARN = 0.5
_SHOW_ROWS = 10


@dataclass(frozen=True)
class DataIssue:
    """One warning about the data.

    Attributes
    ----------
    column : str or None
        The column concerned (None for the table as a whole).
    code : str
        Stable kind code: ``'missing_target'``, ``'missing_values'``,
        ``'infinite_values'``, ``'constant_column'``, ``'id_like_column'``,
        ``'target_leakage'``, ``'unsupported_dtype'``, ``'class_imbalance'``,
        ``'not_numbers'``, ``'not_dates'``, ``'rare_categories'``.
    message : str
        A sentence for people.
    """

    column: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"column": self.column, "code": self.code, "message": self.message}


@dataclass
class CheckResult:
    """What :func:`check_data` found.

    Attributes
    ----------
    schema : Schema
        The input schema with dropped columns moved to ``schema.dropped``.
    warnings : list of DataIssue
    keep_rows : ndarray of bool or None
        Rows to keep (False where the target is missing); None keeps all rows.
    class_counts : dict
        Rows per class after dropping rows without a target.
    missing_by_column, infinite_by_column : dict
        Counts of missing and of ±inf values for every feature that has any.
    """

    schema: Schema
    warnings: list[DataIssue]
    keep_rows: NDArray[np.bool_] | None
    class_counts: dict[Any, int]
    missing_by_column: dict[str, int] = field(default_factory=dict)
    infinite_by_column: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Rows left after dropping rows without a target."""
        return int(sum(self.class_counts.values()))

    @property
    def dropped_columns(self) -> dict[str, str]:
        """Columns left out of the features, with the reason code."""
        return dict(self.schema.dropped)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` restricted to the kept rows, the features and the target.

        Numeric columns read from text (``Feature.text_numbers``) become float64,
        values that are not numbers missing. Selecting columns does not copy data
        (pandas copy-on-write); only dropping rows and converting text do.
        """
        out = df[[*self.schema.feature_names, self.schema.target]]
        text_numbers = [f.name for f in self.schema.features if f.text_numbers]
        if text_numbers:
            out = out.assign(
                **{
                    name: parse_numbers(out[name].to_numpy(dtype=object))[0]
                    for name in text_numbers
                }
            )
        if self.keep_rows is not None:
            out = out.loc[self.keep_rows]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "schema": self.schema.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "n_rows": self.n_rows,
            "n_rows_dropped": 0 if self.keep_rows is None else int((~self.keep_rows).sum()),
            "class_counts": [
                {"class": to_python(k), "count": v} for k, v in self.class_counts.items()
            ],
            "missing_by_column": dict(self.missing_by_column),
            "infinite_by_column": dict(self.infinite_by_column),
        }


def _rows(positions: NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(p)) for p in positions[:_SHOW_ROWS])
    more = f" and {len(positions) - _SHOW_ROWS} more" if len(positions) > _SHOW_ROWS else ""
    return shown + more


def _check_target_values(y: pd.Series, target: str) -> None:
    if pd.api.types.is_float_dtype(y.dtype):
        values = y.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        if finite.size and not np.all(finite == np.round(finite)):
            bad = finite[finite != np.round(finite)][:3].tolist()
            raise DataError(
                f"Target column {target!r} holds non-integer numbers (e.g. {bad}); it looks "
                "like a regression target. polyclass classifies: give a column of class labels."
            )


def _loo_group_accuracy(g: NDArray[np.intp], y: NDArray[np.intp], n_classes: int) -> float:
    """Leave-one-out accuracy of predicting y by the majority class of the row's group."""
    n_groups = int(g.max()) + 1 if g.size else 0
    if n_groups == 0 or n_groups * n_classes > 20_000_000 or n_groups > g.size // 2:
        return 0.0
    counts = np.bincount(g * n_classes + y, minlength=n_groups * n_classes).reshape(
        n_groups, n_classes
    )
    top = counts.argmax(axis=1)
    top1 = counts.max(axis=1)
    second = np.sort(counts, axis=1)[:, -2] if n_classes > 1 else np.zeros_like(top1)
    other_max = np.where(
        np.arange(n_classes)[None, :] == top[:, None], second[:, None], top1[:, None]
    )
    correct = (counts - 1) > other_max
    return float((counts * correct).sum() / g.size)


def _loo_nn_accuracy(
    x: NDArray[np.float64], y: NDArray[np.intp], rng: np.random.Generator
) -> float:
    """Leave-one-out accuracy of 1-nearest-neighbour on a single numeric feature."""
    if x.size < 2:
        return 0.0
    perm = rng.permutation(x.size)  # random order among ties
    order = perm[np.argsort(x[perm], kind="stable")]
    xs, ys = x[order], y[order]
    gap = np.diff(xs)
    left_gap = np.concatenate(([np.inf], gap))
    right_gap = np.concatenate((gap, [np.inf]))
    left = np.concatenate((ys[:1], ys[:-1]))
    right = np.concatenate((ys[1:], ys[-1:]))
    pred = np.where(left_gap <= right_gap, left, right)
    return float(np.mean(pred == ys))


def _leakage_score(
    s: pd.Series, kind: str, y: NDArray[np.intp], n_classes: int, rng: np.random.Generator
) -> tuple[float, int]:
    present = s.notna().to_numpy()
    n = int(present.sum())
    if n < _MIN_ROWS_LEAKAGE:
        return 0.0, n
    yp = y[present]
    if kind != "numeric" or s.nunique(dropna=True) <= 32:
        g, _ = pd.factorize(s[present])
        return _loo_group_accuracy(g.astype(np.intp), yp, n_classes), n
    x = s.to_numpy(dtype=np.float64, na_value=np.nan)[present]
    finite = np.isfinite(x)
    return _loo_nn_accuracy(x[finite], yp[finite], rng), n


def _is_id_like(s: pd.Series, feature: Feature, n_unique: int, n_missing: int) -> bool:
    """Text nearly unique per row, or whole numbers unique per row and sorted or consecutive."""
    n = len(s)
    if n < _MIN_ROWS_ID or feature.kind == "datetime" or feature.text_numbers:
        return False
    if feature.value_type == "str":
        return n_unique >= NEAR_UNIQUE * n
    if feature.value_type == "int" and not n_missing and n_unique == n:
        x = s.to_numpy(dtype=np.int64)
        return bool(
            s.is_monotonic_increasing
            or s.is_monotonic_decreasing
            or int(x.max()) - int(x.min()) + 1 == n
        )
    return False


@dataclass(frozen=True)
class _Options:
    n_splits: int
    test_size: float
    val_size: float
    leakage_threshold: float
    keep: frozenset[str]
    seed: int
    rare_min_frequency: int


@dataclass
class _State:
    """What the checks have found so far; each step reads and adds to it."""

    df: pd.DataFrame
    target: str
    schema: Schema
    options: _Options
    warnings: list[DataIssue] = field(default_factory=list)
    keep_rows: NDArray[np.bool_] | None = None
    y_codes: NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    class_counts: dict[Any, int] = field(default_factory=dict)
    sample: NDArray[np.intp] | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    drop: dict[str, str] = field(default_factory=dict)
    missing_by: dict[str, int] = field(default_factory=dict)
    inf_by: dict[str, int] = field(default_factory=dict)

    def warn(self, column: str | None, code: str, message: str) -> None:
        self.warnings.append(DataIssue(column, code, message))

    def original_rows(self, positions: NDArray[np.intp]) -> NDArray[np.intp]:
        """Row numbers in the table of positions among the kept rows."""
        return positions if self.keep_rows is None else np.flatnonzero(self.keep_rows)[positions]


def _check_columns(state: _State) -> None:
    """Column names unique; the target and every schema feature present."""
    df = state.df
    if not df.columns.is_unique:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"The table has duplicate column names {dupes}; rename them.")
    columns = [str(c) for c in df.columns]
    if state.target not in columns:
        raise missing_column_error("Target column", state.target, columns)
    absent = [f for f in state.schema.feature_names if f not in columns]
    if absent:
        raise DataError(
            f"Feature column(s) {absent} from the schema are not in the table. Columns: {columns}."
        )
    for name, why in state.schema.dropped.items():
        if why == "unsupported_dtype" and name in columns:
            state.warn(
                name,
                why,
                f"Column {name!r} has dtype {df[name].dtype}, which polyclass cannot use; "
                "left out. Convert it to numbers or text to use it.",
            )


def _check_target(state: _State) -> None:
    """Class labels, rows without one (dropped), enough rows per class, imbalance."""
    target, opts = state.target, state.options
    y_all = state.df[target]
    _check_target_values(y_all, target)
    target_missing = y_all.isna().to_numpy()
    if target_missing.any():
        state.keep_rows = ~target_missing
        positions = np.flatnonzero(target_missing)
        state.warn(
            target,
            "missing_target",
            f"{len(positions)} row(s) have no value in target {target!r} and were dropped "
            f"(rows {_rows(positions)}).",
        )
    y = y_all if state.keep_rows is None else y_all[state.keep_rows]
    if len(y) == 0:
        raise DataError(f"No rows with a value in target column {target!r}; nothing to learn.")
    y_codes, classes = pd.factorize(y, sort=True)
    counts = np.bincount(y_codes, minlength=len(classes))
    state.y_codes = y_codes.astype(np.intp)
    state.class_counts = {to_python(c): int(n) for c, n in zip(classes, counts, strict=True)}
    if len(classes) < 2:
        raise DataError(
            f"Target column {target!r} has a single class ({to_python(classes[0])!r}, "
            f"{int(counts[0])} rows); classification needs at least two. Check the target "
            "column or add rows of other classes."
        )
    need = min_class_size(opts.test_size, opts.val_size, opts.n_splits)
    small = [(c, n) for c, n in state.class_counts.items() if n < need]
    if small:
        desc = ", ".join(f"{c!r} has {n}" for c, n in small)
        raise DataError(
            f"Too few rows in class(es) of {target!r}: {desc}. The split (test_size="
            f"{opts.test_size}, val_size={opts.val_size}) and {opts.n_splits}-fold "
            f"cross-validation need at least {need} rows per class. Add rows, merge or drop "
            "those classes, or lower the number of folds or the split sizes."
        )
    if counts.max() >= 10 * counts.min():
        state.warn(
            target,
            "class_imbalance",
            f"Classes are imbalanced: the largest has {int(counts.max())} rows, "
            f"the smallest {int(counts.min())}. Prefer macro-averaged or cost-aware metrics.",
        )


def _draw_leakage_sample(state: _State) -> None:
    """A seeded sample of the rows for the leakage test on large tables."""
    state.rng = np.random.default_rng(state.options.seed)
    n = len(state.y_codes)
    if n > LEAKAGE_SAMPLE:
        state.sample = np.sort(state.rng.choice(n, LEAKAGE_SAMPLE, replace=False))


def _read_feature(state: _State, feature: Feature) -> pd.Series:
    """The feature's kept rows as the model reads them: text numbers as numbers, dates as
    seconds; values that cannot be read are missing, with a warning naming their rows."""
    name = feature.name
    s = state.df[name] if state.keep_rows is None else state.df[name][state.keep_rows]
    if not (feature.text_numbers or feature.kind == "datetime"):
        return s
    if feature.text_numbers:
        raw = s.to_numpy(dtype=object)
        values, bad = parse_numbers(raw)
        code, what = "not_numbers", "numbers"
    else:
        raw = datetime_values(s)
        times, bad = parse_datetimes(raw)
        values = np.where(np.isnat(times), np.nan, times.astype(np.int64).astype(np.float64))
        code, what = "not_dates", "dates or times (ISO 8601 text such as 2012-01-31)"
    if bad.any():
        rows = state.original_rows(np.arange(len(s)))
        state.warn(name, code, describe_bad(name, what, bad, raw, rows))
    return pd.Series(values, index=s.index, name=name)


def _note_missing(state: _State, name: str, s: pd.Series) -> int:
    """Missing and infinite values (both imputed); returns the count of missing ones."""
    isna = s.isna().to_numpy()
    n_missing = int(isna.sum())
    if n_missing:
        state.missing_by[name] = n_missing
        positions = state.original_rows(np.flatnonzero(isna))
        state.warn(
            name,
            "missing_values",
            f"Column {name!r} has {n_missing} missing value(s) ({n_missing / len(s):.1%}; "
            f"rows {_rows(positions)}); they are imputed.",
        )
    if pd.api.types.is_float_dtype(s.dtype):
        n_inf = int(np.isinf(s.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
        if n_inf:
            state.inf_by[name] = n_inf
            state.warn(
                name,
                "infinite_values",
                f"Column {name!r} has {n_inf} infinite value(s); they are treated as "
                "missing and imputed.",
            )
    return n_missing


def _count_distinct(s: pd.Series) -> int:
    """Distinct values; for floats only 0, 1 or 2 (= more), which min/max tell without hashing."""
    if pd.api.types.is_float_dtype(s.dtype):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        present = x[~np.isnan(x)]
        return 0 if present.size == 0 else 1 if present.min() == present.max() else 2
    return int(s.nunique(dropna=True))


def _note_rare_categories(state: _State, feature: Feature, s: pd.Series) -> None:
    """Warn when most of a column's rows fall in categories the model merges as rare."""
    min_count = state.options.rare_min_frequency
    if feature.kind != "categorical" or min_count <= 1:
        return
    counts = s.value_counts(dropna=True)
    rare = counts[counts < min_count]
    n_present = int(counts.sum())
    if n_present and int(rare.sum()) >= RARE_ROWS_WARN * n_present:
        name = feature.name
        state.warn(
            name,
            "rare_categories",
            f"Column {name!r} has {len(counts)} distinct values and {len(rare)} of them occur "
            f"fewer than {min_count} times: {int(rare.sum()) / n_present:.0%} of its rows share "
            "one '__rare__' category, so the model cannot tell those values apart. Group the "
            "values into fewer categories, or drop the column.",
        )


def _drop_reason(
    state: _State, feature: Feature, s: pd.Series, n_missing: int
) -> tuple[str, str] | None:
    """Why the column carries nothing usable (constant, identifier, leakage), or None."""
    name, opts = feature.name, state.options
    n_unique = _count_distinct(s)
    if n_unique <= 1:
        value = "" if n_unique == 0 else f" ({to_python(s.dropna().iloc[0])!r})"
        what = "is entirely missing" if n_unique == 0 else f"has a single value{value}"
        return "constant_column", f"Column {name!r} {what}, so it carries no information; dropped."
    if _is_id_like(s, feature, n_unique, n_missing):
        every = (
            "a different value in every row" if n_unique == len(s) else "almost one value per row"
        )
        return "id_like_column", (
            f"Column {name!r} has {every} ({n_unique} distinct values in {len(s)} rows, "
            f"e.g. {to_python(s.dropna().iloc[0])!r}); it looks like an identifier; dropped."
        )
    s_leak = s if state.sample is None else s.iloc[state.sample]
    y_leak = state.y_codes if state.sample is None else state.y_codes[state.sample]
    kind = "numeric" if feature.kind == "datetime" else feature.kind
    score, n_used = _leakage_score(s_leak, kind, y_leak, len(state.class_counts), state.rng)
    if score < opts.leakage_threshold:
        return None
    on = (
        f" on a random sample of {n_used} rows"
        if state.sample is not None
        else f" over {n_used} rows"
    )
    return "target_leakage", (
        f"Column {name!r} alone predicts target {state.target!r} almost perfectly "
        f"(leave-one-out accuracy {score:.3f}{on}): it probably duplicates or is "
        "derived from the target (leakage); dropped."
    )


def _check_features(state: _State) -> None:
    """Per feature: unreadable, missing and infinite values, rare categories; drop the
    constant, identifier-like and leaking ones (unless kept)."""
    for feature in state.schema.features:
        s = _read_feature(state, feature)
        n_missing = _note_missing(state, feature.name, s)
        found = _drop_reason(state, feature, s, n_missing)
        if found is None:
            _note_rare_categories(state, feature, s)
            continue
        reason, message = found
        if feature.name in state.options.keep:
            message = message.replace("; dropped.", "; kept as asked.")
        else:
            state.drop[feature.name] = reason
        state.warn(feature.name, reason, message)


def _result(state: _State) -> CheckResult:
    schema = state.schema.without(state.drop)
    if not schema.features:
        raise DataError(
            f"No usable feature columns left: dropped {state.drop or state.schema.dropped}. "
            "Check the warnings above, or pass columns to keep."
        )
    return CheckResult(
        schema=schema,
        warnings=state.warnings,
        keep_rows=state.keep_rows,
        class_counts=state.class_counts,
        missing_by_column=state.missing_by,
        infinite_by_column=state.inf_by,
    )


_STEPS = (_check_columns, _check_target, _draw_leakage_sample, _check_features)


def check_data(
    df: pd.DataFrame,
    target: str,
    schema: Schema,
    *,
    n_splits: int = 5,
    test_size: float = 0.2,
    val_size: float = 0.2,
    leakage_threshold: float = 0.99,
    keep: Sequence[str] = (),
    seed: int = 0,
    rare_min_frequency: int = 5,
) -> CheckResult:
    """Check a training table; raise on what cannot work, warn about the rest.

    Fatal (:class:`DataError`): the target column is missing (the columns are
    listed and the closest name suggested), a schema feature is missing, the
    target holds non-integer numbers, fewer than two classes remain, or a class
    has fewer rows than the split and ``n_splits``-fold cross-validation need
    (the class and the number needed are named).

    Warnings (:class:`DataIssue`; the column is dropped where said):

    - ``missing_target``: rows without a target are dropped (count and first rows).
    - ``not_numbers`` / ``not_dates``: values of a numeric column read from text
      (``Feature.text_numbers``) or of a date column that cannot be read; they are
      missing (count, first rows and an example).
    - ``missing_values`` / ``infinite_values``: per feature; ±inf is treated as
      missing by the preprocessor.
    - ``constant_column``: at most one distinct value; dropped.
    - ``id_like_column``: text with a distinct value in at least 95% of the rows, or
      whole numbers unique per row that are sorted or a run of consecutive numbers;
      dropped.
    - ``target_leakage``: the feature alone predicts the target with leave-one-out
      accuracy ≥ ``leakage_threshold`` (majority class per value for categorical
      and low-cardinality columns, 1-nearest-neighbour for numeric and date ones; on
      a seeded sample of 200,000 rows for larger tables); dropped.
    - ``rare_categories``: at least half of a categorical column's rows are in
      categories seen fewer than ``rare_min_frequency`` times, which the
      preprocessor merges into one ``__rare__`` category.
    - ``class_imbalance``: the largest class is 10 times the smallest or more.

    Row numbers in messages are 0-based positions in the table.

    Parameters
    ----------
    df : pandas.DataFrame
        The training table (not modified, not copied).
    target : str
        Target column.
    schema : Schema
        From :func:`infer_schema`.
    n_splits : int, default 5
        Cross-validation folds run on the training part (1 for none).
    test_size, val_size : float, default 0.2
        As given to :func:`stratified_split`.
    leakage_threshold : float, default 0.99
        Leave-one-out accuracy above which a single feature counts as leakage.
    keep : sequence of str
        Columns never dropped by these checks (they are still warned about).
    seed : int
        Seed of the leakage sample and tie-breaking.
    rare_min_frequency : int, default 5
        The preprocessor's ``rare_min_frequency`` (for the ``rare_categories`` warning).

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> from polyclass.datasets import load_penguins
    >>> from polyclass.data import infer_schema
    >>> df = load_penguins()
    >>> result = check_data(df, "species", infer_schema(df, "species"))
    >>> sorted({w.code for w in result.warnings})
    ['missing_values']
    """
    options = _Options(
        n_splits, test_size, val_size, leakage_threshold, frozenset(keep), seed, rare_min_frequency
    )
    state = _State(df, target, schema, options)
    for step in _STEPS:
        step(state)
    return _result(state)
