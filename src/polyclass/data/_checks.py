"""Checks of a training table before anything is fitted: fatal errors and warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.data._errors import DataError
from polyclass.data._schema import Feature, Schema, missing_column_error, to_python
from polyclass.data._split import min_class_size

__all__ = ["CheckResult", "DataIssue", "check_data"]

#: Rows used for the leakage test on large tables (a seeded sample; said in the message).
LEAKAGE_SAMPLE = 200_000
_MIN_ROWS_LEAKAGE = 20
_MIN_ROWS_ID = 10
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
        ``'target_leakage'``, ``'unsupported_dtype'``, ``'class_imbalance'``.
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

        Selecting columns does not copy data (pandas copy-on-write); only dropping
        rows does.
        """
        out = df[[*self.schema.feature_names, self.schema.target]]
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


def _check_target(y: pd.Series, target: str) -> None:
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
    s: pd.Series, feature: Feature, y: NDArray[np.intp], n_classes: int, rng: np.random.Generator
) -> tuple[float, int]:
    present = s.notna().to_numpy()
    n = int(present.sum())
    if n < _MIN_ROWS_LEAKAGE:
        return 0.0, n
    yp = y[present]
    if feature.kind != "numeric" or s.nunique(dropna=True) <= 32:
        g, _ = pd.factorize(s[present])
        return _loo_group_accuracy(g.astype(np.intp), yp, n_classes), n
    x = s.to_numpy(dtype=np.float64, na_value=np.nan)[present]
    finite = np.isfinite(x)
    return _loo_nn_accuracy(x[finite], yp[finite], rng), n


def _is_id_like(s: pd.Series, feature: Feature, n_unique: int, n_missing: int) -> bool:
    n = len(s)
    if n < _MIN_ROWS_ID or n_missing or n_unique != n:
        return False
    if feature.value_type == "str":
        return True
    if feature.value_type == "int":
        x = s.to_numpy(dtype=np.int64)
        return bool(
            s.is_monotonic_increasing
            or s.is_monotonic_decreasing
            or int(x.max()) - int(x.min()) + 1 == n
        )
    return False


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
) -> CheckResult:
    """Check a training table; raise on what cannot work, warn about the rest.

    Fatal (:class:`DataError`): the target column is missing (the columns are
    listed and the closest name suggested), a schema feature is missing, the
    target holds non-integer numbers, fewer than two classes remain, or a class
    has fewer rows than the split and ``n_splits``-fold cross-validation need
    (the class and the number needed are named).

    Warnings (:class:`DataIssue`; the column is dropped where said):

    - ``missing_target``: rows without a target are dropped (count and first rows).
    - ``missing_values`` / ``infinite_values``: per feature; ±inf is treated as
      missing by the preprocessor.
    - ``constant_column``: at most one distinct value; dropped.
    - ``id_like_column``: a text column unique per row, or an integer column unique
      per row that is sorted or a run of consecutive numbers; dropped.
    - ``target_leakage``: the feature alone predicts the target with leave-one-out
      accuracy ≥ ``leakage_threshold`` (majority class per value for categorical
      and low-cardinality columns, 1-nearest-neighbour for numeric ones; on a
      seeded sample of 200,000 rows for larger tables); dropped.
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
    if not df.columns.is_unique:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"The table has duplicate column names {dupes}; rename them.")
    columns = [str(c) for c in df.columns]
    if target not in columns:
        raise missing_column_error("Target column", target, columns)
    absent = [f for f in schema.feature_names if f not in columns]
    if absent:
        raise DataError(
            f"Feature column(s) {absent} from the schema are not in the table. Columns: {columns}."
        )
    warnings: list[DataIssue] = []
    for name, why in schema.dropped.items():
        if why == "unsupported_dtype" and name in columns:
            warnings.append(
                DataIssue(
                    name,
                    why,
                    (
                        f"Column {name!r} has dtype {df[name].dtype}, which polyclass cannot use; "
                        "left out. Convert it to numbers or text to use it."
                    ),
                )
            )

    y_all = df[target]
    _check_target(y_all, target)
    target_missing = y_all.isna().to_numpy()
    keep_rows: NDArray[np.bool_] | None = None
    if target_missing.any():
        keep_rows = ~target_missing
        positions = np.flatnonzero(target_missing)
        warnings.append(
            DataIssue(
                target,
                "missing_target",
                (
                    f"{len(positions)} row(s) have no value in target {target!r} and were dropped "
                    f"(rows {_rows(positions)})."
                ),
            )
        )
    y = y_all if keep_rows is None else y_all[keep_rows]
    if len(y) == 0:
        raise DataError(f"No rows with a value in target column {target!r}; nothing to learn.")
    y_codes, classes = pd.factorize(y, sort=True)
    counts = np.bincount(y_codes, minlength=len(classes))
    class_counts = {to_python(c): int(n) for c, n in zip(classes, counts, strict=True)}
    if len(classes) < 2:
        raise DataError(
            f"Target column {target!r} has a single class ({to_python(classes[0])!r}, "
            f"{int(counts[0])} rows); classification needs at least two. Check the target "
            "column or add rows of other classes."
        )
    need = min_class_size(test_size, val_size, n_splits)
    small = [(c, n) for c, n in class_counts.items() if n < need]
    if small:
        desc = ", ".join(f"{c!r} has {n}" for c, n in small)
        raise DataError(
            f"Too few rows in class(es) of {target!r}: {desc}. The split (test_size="
            f"{test_size}, val_size={val_size}) and {n_splits}-fold cross-validation need at "
            f"least {need} rows per class. Add rows, merge or drop those classes, or lower "
            "the number of folds or the split sizes."
        )
    if counts.max() >= 10 * counts.min():
        warnings.append(
            DataIssue(
                target,
                "class_imbalance",
                (
                    f"Classes are imbalanced: the largest has {int(counts.max())} rows, "
                    f"the smallest {int(counts.min())}. "
                    "Prefer macro-averaged or cost-aware metrics."
                ),
            )
        )

    n = len(y)
    sample: NDArray[np.intp] | None = None
    rng = np.random.default_rng(seed)
    if n > LEAKAGE_SAMPLE:
        sample = np.sort(rng.choice(n, LEAKAGE_SAMPLE, replace=False))
    y_leak = (y_codes if sample is None else y_codes[sample]).astype(np.intp)
    keep_set = set(keep)
    original_rows = None if keep_rows is None else np.flatnonzero(keep_rows)
    drop: dict[str, str] = {}
    missing_by: dict[str, int] = {}
    inf_by: dict[str, int] = {}
    for feature in schema.features:
        name = feature.name
        s = df[name] if keep_rows is None else df[name][keep_rows]
        isna = s.isna().to_numpy()
        n_missing = int(isna.sum())
        x: NDArray[np.float64] | None = None
        if feature.kind == "numeric" and pd.api.types.is_float_dtype(s.dtype):
            # floats: min/max tell "constant" without hashing every value
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            present = x[~isna]
            n_unique = 0 if present.size == 0 else 1 if present.min() == present.max() else 2
        else:
            n_unique = int(s.nunique(dropna=True))
        if n_missing:
            missing_by[name] = n_missing
            positions = np.flatnonzero(isna)
            if original_rows is not None:
                positions = original_rows[positions]
            warnings.append(
                DataIssue(
                    name,
                    "missing_values",
                    (
                        f"Column {name!r} has {n_missing} missing value(s) ({n_missing / n:.1%}; "
                        f"rows {_rows(positions)}); they are imputed."
                    ),
                )
            )
        if x is not None:
            n_inf = int(np.isinf(x).sum())
            if n_inf:
                inf_by[name] = n_inf
                warnings.append(
                    DataIssue(
                        name,
                        "infinite_values",
                        (
                            f"Column {name!r} has {n_inf} infinite value(s); they are treated as "
                            "missing and imputed."
                        ),
                    )
                )
        reason: str | None = None
        if n_unique <= 1:
            value = "" if n_unique == 0 else f" ({to_python(s.dropna().iloc[0])!r})"
            what = "is entirely missing" if n_unique == 0 else f"has a single value{value}"
            reason, message = (
                "constant_column",
                (f"Column {name!r} {what}, so it carries no information; dropped."),
            )
        elif _is_id_like(s, feature, n_unique, n_missing):
            reason, message = (
                "id_like_column",
                (
                    f"Column {name!r} has a different value in every row ({n_unique} values, "
                    f"e.g. {to_python(s.iloc[0])!r}); it looks like an identifier; dropped."
                ),
            )
        else:
            s_leak = s if sample is None else s.iloc[sample]
            score, n_used = _leakage_score(s_leak, feature, y_leak, len(classes), rng)
            if score >= leakage_threshold:
                on = (
                    f" on a random sample of {n_used} rows"
                    if sample is not None
                    else f" over {n_used} rows"
                )
                reason, message = (
                    "target_leakage",
                    (
                        f"Column {name!r} alone predicts target {target!r} almost perfectly "
                        f"(leave-one-out accuracy {score:.3f}{on}): it probably duplicates or is "
                        "derived from the target (leakage); dropped."
                    ),
                )
        if reason is not None:
            if name in keep_set:
                message = message.replace("; dropped.", "; kept as asked.")
            else:
                drop[name] = reason
            warnings.append(DataIssue(name, reason, message))
    result_schema = schema.without(drop)
    if not result_schema.features:
        raise DataError(
            f"No usable feature columns left: dropped {drop or schema.dropped}. "
            "Check the warnings above, or pass columns to keep."
        )
    return CheckResult(
        schema=result_schema,
        warnings=warnings,
        keep_rows=keep_rows,
        class_counts=class_counts,
        missing_by_column=missing_by,
        infinite_by_column=inf_by,
    )
