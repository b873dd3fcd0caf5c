"""Load, describe, check, explore and split a labelled table.

``Schema``, ``Feature`` and ``DataError`` import without pandas (the serving
path needs them); the table functions import pandas when first used.

Examples
--------
>>> from polyclass.data import check_data, explore, infer_schema, load_table, stratified_split
>>> from polyclass.datasets import penguins_path
>>> df = load_table(penguins_path())
>>> schema = infer_schema(df, "species")
>>> checked = check_data(df, "species", schema)
>>> split = stratified_split(checked.apply(df)["species"], test_size=0.2, val_size=0.2, seed=0)
>>> len(split.train) + len(split.val) + len(split.test)
344
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach
from polyclass.data._errors import DataError, DataWarning
from polyclass.data._schema import (
    KINDS,
    Feature,
    FeatureKind,
    Schema,
    ValueType,
    datetime_values,
    infer_schema,
)
from polyclass.data._values import (
    DATE_PARTS,
    date_features,
    describe_bad,
    parse_datetimes,
    parse_numbers,
)

if TYPE_CHECKING:
    from polyclass.data._checks import CheckResult, DataIssue, check_data
    from polyclass.data._explore import explore
    from polyclass.data._load import SUPPORTED_EXTENSIONS, iter_table_chunks, load_table
    from polyclass.data._split import (
        SplitIndices,
        min_class_size,
        split_sizes,
        stratified_split,
    )

__all__ = [
    "DATE_PARTS",
    "KINDS",
    "SUPPORTED_EXTENSIONS",
    "CheckResult",
    "DataError",
    "DataIssue",
    "DataWarning",
    "Feature",
    "FeatureKind",
    "Schema",
    "SplitIndices",
    "ValueType",
    "check_data",
    "date_features",
    "datetime_values",
    "describe_bad",
    "explore",
    "infer_schema",
    "iter_table_chunks",
    "load_table",
    "min_class_size",
    "parse_datetimes",
    "parse_numbers",
    "split_sizes",
    "stratified_split",
]

# names whose modules import pandas: loaded on first use
_LAZY: dict[str, str] = {
    "CheckResult": "polyclass.data._checks",
    "DataIssue": "polyclass.data._checks",
    "check_data": "polyclass.data._checks",
    "explore": "polyclass.data._explore",
    "SUPPORTED_EXTENSIONS": "polyclass.data._load",
    "iter_table_chunks": "polyclass.data._load",
    "load_table": "polyclass.data._load",
    "SplitIndices": "polyclass.data._split",
    "min_class_size": "polyclass.data._split",
    "split_sizes": "polyclass.data._split",
    "stratified_split": "polyclass.data._split",
}


__getattr__, __dir__ = attach(__name__, _LAZY, __all__)
