"""The Preprocessor: impute, add missing indicators, standardise, one-hot."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from polyclass.data import DataError, DataWarning, Schema, date_features, describe_bad
from polyclass.preprocess._imputer import fit_median, impute_numeric
from polyclass.preprocess._input import (
    MISSING_CODE,
    UNSEEN_CODE,
    ColumnSource,
    _sorted_values,
    as_source,
    show,
)
from polyclass.preprocess._onehot import OneHotColumn
from polyclass.preprocess._scaler import fit_scale, guard_scale

if TYPE_CHECKING:
    import scipy.sparse

__all__ = ["SPARSE_MAX_DENSITY", "SPARSE_MIN_ONEHOT", "Preprocessor"]

STATE_TYPE = "polyclass.preprocess.Preprocessor"
STATE_VERSION = 1
#: ``sparse='auto'`` gives CSR output when the one-hot block has at least this many columns ...
SPARSE_MIN_ONEHOT = 256
#: ... and at most this fraction of the output entries can be non-zero.
SPARSE_MAX_DENSITY = 0.1

Indicators = Literal["auto"] | bool


def _check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed or isinstance(value, bool) != any(
        isinstance(a, bool) and a == value for a in allowed
    ):
        raise ValueError(
            f"The {name!r} parameter of Preprocessor must be one of "
            f"{', '.join(repr(a) for a in allowed)}. Got {value!r} instead."
        )


class Preprocessor:
    """Turn a table into the numeric matrix a linear model needs.

    Numeric columns: missing values (NaN, None, ±inf) are replaced by the training
    median, then standardised to zero mean and unit variance (a column with no
    spread is only centred). A numeric column read from text (``text_numbers`` in
    the schema) reads text that is not a number as missing, with a
    :class:`~polyclass.data.DataWarning`. Date/time columns become the numbers their
    schema entry lists (``date.year``, ``date.month``, ``date.day_of_week``,
    ``date.day_of_year_sin``/``_cos``, ``date.hour``), then are treated as numeric
    columns; values that are not dates are missing, with a warning.
    Missing-indicator columns (1.0 where the value was missing) are added per
    ``add_missing_indicators``. Categorical and boolean
    columns: missing values become the most frequent training category, then
    one-hot encoded; categories seen fewer than ``rare_min_frequency`` times in
    training (after imputation) share one ``name=__rare__`` column; categories never
    seen give all zeros (``handle_unknown='ignore'``) or an error.

    Output columns: scaled numeric columns (schema order), then date features,
    then missing indicators, then each categorical column's one-hot block (see
    :meth:`get_feature_names_out`). The fitted state is plain numbers
    (:meth:`to_state`), and :meth:`transform` of a dict or a list of dicts uses
    NumPy only.

    Parameters
    ----------
    schema : Schema
        The input columns and their kinds (from :func:`polyclass.data.infer_schema`).
    rare_min_frequency : int, default 5
        Categories with fewer training rows are merged into ``__rare__``; 0 or 1
        turns merging off.
    add_missing_indicators : 'auto', True or False, default 'auto'
        ``'auto'``: an indicator for every numeric column that had at least one
        missing value in the training data (where missingness can carry signal;
        the same rule as sklearn's ``SimpleImputer(add_indicator=True)``).
        ``True``: for every numeric column. ``False``: none.
    handle_unknown : {'ignore', 'error'}, default 'ignore'
        What an unseen category does at transform: all zeros, or a DataError.
    missing : {'impute', 'error'}, default 'impute'
        ``'error'``: a missing value in a column whose schema entry has
        ``allow_missing=False`` (no missing values in training) raises a DataError.
    dtype : {'float64', 'float32'}, default 'float64'
        Output dtype.
    sparse : 'auto', True or False, default 'auto'
        CSR output (``scipy.sparse.csr_matrix``) instead of a dense array.
        ``'auto'``: CSR when the one-hot block has at least 256 columns and at most
        10% of the output entries can be non-zero; otherwise dense.

    Examples
    --------
    >>> from polyclass.data import infer_schema
    >>> from polyclass.datasets import load_penguins
    >>> df = load_penguins()
    >>> pre = Preprocessor(infer_schema(df, "species")).fit(df)
    >>> pre.transform(df).shape
    (344, 14)
    >>> row = {"island": "Dream", "bill_length_mm": 40.1, "bill_depth_mm": 18.0,
    ...        "flipper_length_mm": 190.0, "body_mass_g": 3800.0, "sex": "male", "year": 2008}
    >>> pre.transform([row]).shape
    (1, 14)
    """

    def __init__(
        self,
        schema: Schema,
        *,
        rare_min_frequency: int = 5,
        add_missing_indicators: Indicators = "auto",
        handle_unknown: Literal["ignore", "error"] = "ignore",
        missing: Literal["impute", "error"] = "impute",
        dtype: Literal["float64", "float32"] = "float64",
        sparse: Literal["auto"] | bool = "auto",
    ) -> None:
        if not isinstance(schema, Schema):
            raise TypeError(
                f"schema must be a polyclass.data.Schema. Got {type(schema).__name__} instead."
            )
        if (
            isinstance(rare_min_frequency, bool)
            or not isinstance(rare_min_frequency, int)
            or (rare_min_frequency < 0)
        ):
            raise ValueError(
                "The 'rare_min_frequency' parameter of Preprocessor must be an "
                f"integer >= 0. Got {rare_min_frequency!r} instead."
            )
        _check_choice("add_missing_indicators", add_missing_indicators, ("auto", True, False))
        _check_choice("handle_unknown", handle_unknown, ("ignore", "error"))
        _check_choice("missing", missing, ("impute", "error"))
        _check_choice("dtype", dtype, ("float64", "float32"))
        _check_choice("sparse", sparse, ("auto", True, False))
        self.schema = schema
        self.rare_min_frequency = rare_min_frequency
        self.add_missing_indicators = add_missing_indicators
        self.handle_unknown = handle_unknown
        self.missing = missing
        self.dtype = dtype
        self.sparse = sparse
        self._fitted = False

    # ------------------------------------------------------------------ fit
    @property
    def numeric_columns(self) -> list[str]:
        """Numeric input columns, in schema order."""
        return [f.name for f in self.schema.features if f.kind == "numeric"]

    @property
    def date_columns(self) -> list[str]:
        """Date/time input columns, in schema order."""
        return [f.name for f in self.schema.features if f.kind == "datetime"]

    @property
    def categorical_columns(self) -> list[str]:
        """Categorical and boolean input columns, in schema order."""
        return [f.name for f in self.schema.features if f.kind in ("categorical", "boolean")]

    @property
    def scaled_columns(self) -> list[str]:
        """Numeric columns, then the date features (``'name.part'``): imputed and scaled."""
        dates = [
            f"{f.name}.{part}"
            for f in self.schema.features
            if f.kind == "datetime"
            for part in f.date_parts or ()
        ]
        return [*self.numeric_columns, *dates]

    def _scaled_inputs(self, source: ColumnSource, *, warn: bool) -> Iterator[NDArray[np.float64]]:
        """Raw values of each of :attr:`scaled_columns` (NaN where missing or unreadable)."""
        for name in self.numeric_columns:
            feature = self.schema.feature(name)
            if not feature.text_numbers:
                yield source.numeric(name)
                continue
            x, bad = source.numbers(name)
            if warn and bad.any():
                message = describe_bad(name, "numbers", bad, source.values(name))
                warnings.warn(message, DataWarning, stacklevel=4)
            yield x
        for name in self.date_columns:
            times, bad = source.times(name)
            if warn and bad.any():
                message = describe_bad(name, "dates or times", bad, source.values(name))
                warnings.warn(message, DataWarning, stacklevel=4)
            yield from date_features(times, self.schema.feature(name).date_parts or ()).T

    def fit(self, df: Any, y: Any = None) -> Preprocessor:
        """Learn medians, means, scales, categories and modes from ``df``.

        Parameters
        ----------
        df : DataFrame, dict of column -> array, or list of dicts
            Training rows; columns not in the schema are ignored.
        y : ignored
            Accepted for symmetry with sklearn.

        Returns
        -------
        Preprocessor
            ``self``.
        """
        source = as_source(df, self.schema.feature_names)
        if source.n_rows == 0:
            raise DataError("Cannot fit the preprocessor on an empty table (0 rows).")
        medians, means, scales, indicators = [], [], [], []
        inputs = self._scaled_inputs(source, warn=False)
        for name, x in zip(self.scaled_columns, inputs, strict=True):
            median = fit_median(name, x)
            imputed, was_missing = impute_numeric(x, median)
            mean, scale = fit_scale(imputed)
            medians.append(median)
            means.append(mean)
            scales.append(scale)
            if self.add_missing_indicators is True or (
                self.add_missing_indicators == "auto" and bool(was_missing.any())
            ):
                indicators.append(name)
        onehots = []
        for name in self.categorical_columns:
            value_type = self.schema.feature(name).value_type
            categories, counts, n_missing = source.category_counts(name, value_type)
            onehots.append(
                OneHotColumn.fit(
                    name, value_type, categories, counts, n_missing, self.rare_min_frequency
                )
            )
        self._set_fitted(
            np.array(medians, dtype=np.float64),
            np.array(means, dtype=np.float64),
            np.array(scales, dtype=np.float64),
            indicators,
            onehots,
        )
        return self

    # ---------------------------------------------- mergeable statistics
    def scaled_inputs(self, data: Any) -> list[NDArray[np.float64]]:
        """Raw values of each of :attr:`scaled_columns` in ``data`` (NaN where missing or
        unreadable), for statistics computed elsewhere and merged (``polyclass.scale``)."""
        source = as_source(data, self.schema.feature_names)
        return list(self._scaled_inputs(source, warn=False))

    def category_counts(self, data: Any) -> list[tuple[list[Any], NDArray[np.int64], int]]:
        """``(categories, counts, n_missing)`` of each of :attr:`categorical_columns`."""
        source = as_source(data, self.schema.feature_names)
        return [
            source.category_counts(name, self.schema.feature(name).value_type)
            for name in self.categorical_columns
        ]

    @staticmethod
    def merge_category_counts(
        parts: list[tuple[list[Any], NDArray[np.int64], int]],
    ) -> tuple[list[Any], NDArray[np.int64], int]:
        """One column's :meth:`category_counts` of several blocks, summed, categories in
        the order :meth:`fit` sorts them."""
        merged: dict[Any, int] = {}
        n_missing = 0
        for categories, counts, missing in parts:
            for value, count in zip(categories, np.asarray(counts).tolist(), strict=True):
                merged[value] = merged.get(value, 0) + int(count)
            n_missing += int(missing)
        values = _sorted_values(list(merged))
        return values, np.array([merged[v] for v in values], dtype=np.int64), n_missing

    def fit_from_statistics(
        self,
        medians: NDArray[np.float64],
        means: NDArray[np.float64],
        stds: NDArray[np.float64],
        n_missing: NDArray[np.int64],
        category_counts: list[tuple[list[Any], NDArray[np.int64], int]],
    ) -> Preprocessor:
        """Fit from merged statistics instead of rows: the state :meth:`fit` reaches on
        the whole table.

        Parameters
        ----------
        medians : ndarray of shape (n_scaled,)
            Median of the finite values of each of :attr:`scaled_columns`.
        means, stds : ndarray of shape (n_scaled,)
            Mean and population standard deviation of each column *after* imputation by
            its median.
        n_missing : ndarray of shape (n_scaled,)
            Missing (NaN, ±inf, unreadable) values per column.
        category_counts : list
            Per categorical column, ``(sorted categories, counts, n_missing)`` as
            :meth:`category_counts` gives them, summed over the table.

        Returns
        -------
        Preprocessor
            ``self``.
        """
        names = self.scaled_columns
        if not len(medians) == len(means) == len(stds) == len(n_missing) == len(names):
            raise ValueError(
                f"fit_from_statistics needs one median, mean, std and missing count per "
                f"scaled column ({len(names)}); got {len(medians)}, {len(means)}, "
                f"{len(stds)}, {len(n_missing)}."
            )
        if len(category_counts) != len(self.categorical_columns):
            raise ValueError(
                f"fit_from_statistics needs category counts for {len(self.categorical_columns)} "
                f"categorical columns; got {len(category_counts)}."
            )
        scales = [guard_scale(float(m), float(s)) for m, s in zip(means, stds, strict=True)]
        indicators = [
            name
            for name, k in zip(names, np.asarray(n_missing).tolist(), strict=True)
            if self.add_missing_indicators is True
            or (self.add_missing_indicators == "auto" and k > 0)
        ]
        onehots = [
            OneHotColumn.fit(
                name,
                self.schema.feature(name).value_type,
                categories,
                np.asarray(counts, dtype=np.int64),
                int(missing),
                self.rare_min_frequency,
            )
            for name, (categories, counts, missing) in zip(
                self.categorical_columns, category_counts, strict=True
            )
        ]
        self._set_fitted(
            np.asarray(medians, dtype=np.float64),
            np.asarray(means, dtype=np.float64),
            np.asarray(scales, dtype=np.float64),
            indicators,
            onehots,
        )
        return self

    def _set_fitted(
        self,
        medians: NDArray[np.float64],
        means: NDArray[np.float64],
        scales: NDArray[np.float64],
        indicators: list[str],
        onehots: list[OneHotColumn],
    ) -> None:
        self.medians_ = medians
        self.means_ = means
        self.scales_ = scales
        self.indicator_columns_ = indicators
        self.onehots_ = onehots
        self._indicator_pos = [self.scaled_columns.index(n) for n in indicators]
        self._lookups = [oh.lookup() for oh in onehots]
        self._fill_codes = [oh.fill_code() for oh in onehots]
        self._fitted = True

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(
                "This Preprocessor is not fitted yet. Call fit(df) first, or "
                "restore it with Preprocessor.from_state(meta, arrays)."
            )

    # ------------------------------------------------------------ outputs
    @property
    def n_dense_(self) -> int:
        """Scaled numeric and date columns plus indicator columns."""
        return len(self.scaled_columns) + len(self.indicator_columns_)

    @property
    def n_features_out_(self) -> int:
        """Width of the output."""
        self._check_fitted()
        return self.n_dense_ + sum(oh.width for oh in self.onehots_)

    def get_feature_names_out(self) -> NDArray[np.object_]:
        """Output column names.

        Numeric columns keep their name; indicators are ``'name__missing'``; one-hot
        columns are ``'name=value'`` and ``'name=__rare__'``.
        """
        self._check_fitted()
        names = [*self.scaled_columns, *(f"{n}__missing" for n in self.indicator_columns_)]
        for oh in self.onehots_:
            names.extend(oh.output_names())
        return np.asarray(names, dtype=object)

    def _use_sparse(self) -> bool:
        if self.sparse != "auto":
            return bool(self.sparse)
        onehot_width = self.n_features_out_ - self.n_dense_
        nnz_per_row = self.n_dense_ + len(self.onehots_)
        return onehot_width >= SPARSE_MIN_ONEHOT and (
            nnz_per_row <= SPARSE_MAX_DENSITY * self.n_features_out_
        )

    # ---------------------------------------------------------- transform
    def _numeric_into(self, source: ColumnSource, out: NDArray[Any]) -> None:
        """Write scaled numeric columns and indicators into ``out`` (n, n_dense)."""
        names = self.scaled_columns
        n_num = len(names)
        for j, x in enumerate(self._scaled_inputs(source, warn=True)):
            imputed, was_missing = impute_numeric(x, float(self.medians_[j]))
            name = names[j] if j < len(self.numeric_columns) else self.date_column_of(names[j])
            if self.missing == "error" and not self.schema.feature(name).allow_missing:
                self._refuse_missing(name, was_missing)
            np.subtract(imputed, self.means_[j], out=imputed)
            np.divide(imputed, self.scales_[j], out=imputed)
            out[:, j] = imputed
            if j in self._indicator_pos:
                out[:, n_num + self._indicator_pos.index(j)] = was_missing

    def date_column_of(self, scaled: str) -> str:
        """The date column a date feature (``'name.part'``) is made from."""
        return scaled.rsplit(".", 1)[0]

    def _refuse_missing(self, name: str, was_missing: NDArray[np.bool_]) -> None:
        if was_missing.any():
            row = int(np.flatnonzero(was_missing)[0])
            raise DataError(
                f"Column {name!r} has a missing value in row {row}, but the schema allows "
                "none there (it had no missing values in training) and the preprocessor was "
                "built with missing='error'. Fill the value, or use missing='impute'."
            )

    def _onehot_columns(self, source: ColumnSource, k: int) -> NDArray[np.int64]:
        """Output column (within the block) of each row for categorical column ``k``; -1 = none."""
        oh = self.onehots_[k]
        codes = source.category_codes(oh.name, oh.value_type, oh.categories)
        was_missing = codes == MISSING_CODE
        if self.missing == "error" and not self.schema.feature(oh.name).allow_missing:
            self._refuse_missing(oh.name, was_missing)
        codes[was_missing] = self._fill_codes[k]
        unseen = codes == UNSEEN_CODE
        if unseen.any() and self.handle_unknown == "error":
            row = int(np.flatnonzero(unseen)[0])
            known = list(oh.categories[:10]) + (["..."] if len(oh.categories) > 10 else [])
            raise DataError(
                f"Column {oh.name!r} has the unseen category {show(source.value_at(oh.name, row))} "
                f"in row {row}. Known categories: {known}. Fix the value, or build the "
                "preprocessor with handle_unknown='ignore' to encode it as all zeros."
            )
        lookup = self._lookups[k]
        return np.where(unseen, -1, lookup[np.where(unseen, 0, codes)])

    def transform(self, data: Any) -> NDArray[Any] | scipy.sparse.csr_matrix:
        """Encode rows with the fitted state.

        Parameters
        ----------
        data : DataFrame, dict of column -> array/list, or list of dicts
            Rows to encode; columns not in the schema are ignored. For a list of
            dicts, a key absent from some rows is a missing value there; absent from
            every row it is a missing column.

        Returns
        -------
        ndarray of shape (n_rows, n_features_out_) or scipy.sparse.csr_matrix
            ``float64`` (or ``float32``); sparse per the ``sparse`` parameter.

        Raises
        ------
        DataError
            A column is missing (named, with the expected columns), a value has the
            wrong type (column and 0-based row named), an unseen category with
            ``handle_unknown='error'``, or a missing value where the schema allows
            none with ``missing='error'``.
        """
        self._check_fitted()
        source = as_source(data, self.schema.feature_names)
        n = source.n_rows
        width = self.n_features_out_
        dtype = np.dtype(self.dtype)
        if self._use_sparse():
            return self._transform_sparse(source, n, width, dtype)
        out = np.empty((n, width), dtype=dtype)
        self._numeric_into(source, out[:, : self.n_dense_])
        start = self.n_dense_
        rows = np.arange(n)
        for k, oh in enumerate(self.onehots_):
            block = out[:, start : start + oh.width]
            block[...] = 0
            cols = self._onehot_columns(source, k)
            hit = cols >= 0
            block[rows[hit], cols[hit]] = 1
            start += oh.width
        return out

    def _transform_sparse(
        self, source: ColumnSource, n: int, width: int, dtype: np.dtype[Any]
    ) -> scipy.sparse.csr_matrix:
        import scipy.sparse

        n_dense = self.n_dense_
        per_row = n_dense + len(self.onehots_)
        values = np.empty((n, per_row), dtype=dtype)
        indices = np.empty((n, per_row), dtype=np.int64)
        self._numeric_into(source, values[:, :n_dense])
        indices[:, :n_dense] = np.arange(n_dense)
        start = n_dense
        for k, oh in enumerate(self.onehots_):
            cols = self._onehot_columns(source, k)
            hit = cols >= 0
            indices[:, n_dense + k] = np.where(hit, start + cols, start)
            values[:, n_dense + k] = hit
            start += oh.width
        indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int64)
        matrix = scipy.sparse.csr_matrix(
            (values.ravel(), indices.ravel(), indptr), shape=(n, width)
        )
        matrix.eliminate_zeros()
        return matrix

    def fit_transform(self, df: Any, y: Any = None) -> NDArray[Any] | scipy.sparse.csr_matrix:
        """``fit(df).transform(df)``."""
        return self.fit(df, y).transform(df)

    # -------------------------------------------------------------- state
    def to_state(self) -> tuple[dict[str, Any], dict[str, NDArray[np.float64]]]:
        """The fitted state as JSON-able metadata and float64 arrays (no pickle needed).

        Returns
        -------
        meta : dict
            Schema, parameters, indicator columns, categories, rare categories and
            fill values, output names.
        arrays : dict of str -> ndarray
            ``'median'``, ``'mean'``, ``'scale'`` of the numeric columns.
        """
        self._check_fitted()
        meta = {
            "type": STATE_TYPE,
            "version": STATE_VERSION,
            "schema": self.schema.to_dict(),
            "params": {
                "rare_min_frequency": self.rare_min_frequency,
                "add_missing_indicators": self.add_missing_indicators,
                "handle_unknown": self.handle_unknown,
                "missing": self.missing,
                "dtype": self.dtype,
                "sparse": self.sparse,
            },
            "numeric_columns": self.numeric_columns,
            "indicator_columns": list(self.indicator_columns_),
            "onehot": [oh.to_dict() for oh in self.onehots_],
            "feature_names_out": self.get_feature_names_out().tolist(),
        }
        arrays = {
            "median": self.medians_.copy(),
            "mean": self.means_.copy(),
            "scale": self.scales_.copy(),
        }
        return meta, arrays

    @classmethod
    def from_state(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
    ) -> Preprocessor:
        """Rebuild a fitted Preprocessor from :meth:`to_state` output.

        Raises
        ------
        DataError
            The state is of another type or version, or its parts disagree.
        """
        if meta.get("type") != STATE_TYPE or meta.get("version") != STATE_VERSION:
            raise DataError(
                f"Not a preprocessor state this version can read: expected type {STATE_TYPE!r} "
                f"version {STATE_VERSION}, got type {meta.get('type')!r} version "
                f"{meta.get('version')!r}."
            )
        try:
            pre = cls(Schema.from_dict(meta["schema"]), **dict(meta["params"]))
            onehots = [OneHotColumn.from_dict(d) for d in meta["onehot"]]
            indicators = [str(n) for n in meta["indicator_columns"]]
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"Malformed preprocessor state: missing or wrong entry {exc}."
            ) from None
        n_num = len(pre.scaled_columns)
        stats = []
        for key in ("median", "mean", "scale"):
            if key not in arrays:
                raise DataError(f"Preprocessor state lacks the array {key!r}.")
            arr = np.asarray(arrays[key], dtype=np.float64)
            if arr.shape != (n_num,):
                raise DataError(
                    f"Preprocessor state array {key!r} has shape {arr.shape}; "
                    f"expected ({n_num},) for the numeric and date columns."
                )
            stats.append(arr.copy())
        if [oh.name for oh in onehots] != pre.categorical_columns or not set(indicators) <= set(
            pre.scaled_columns
        ):
            raise DataError("Malformed preprocessor state: its columns disagree with its schema.")
        pre._set_fitted(stats[0], stats[1], stats[2], indicators, onehots)
        if list(meta.get("feature_names_out", [])) != pre.get_feature_names_out().tolist():
            raise DataError("Malformed preprocessor state: output names disagree with the state.")
        return pre

    def __repr__(self) -> str:
        state = "fitted" if self._fitted else "not fitted"
        return (
            f"Preprocessor({len(self.numeric_columns)} numeric, "
            f"{len(self.categorical_columns)} categorical, {state})"
        )
