"""A stable content hash of a table, recorded as the lineage of a trained model."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass.artifact._errors import ArtifactError

_SCHEME = b"polyclass.fingerprint_table/v1\0"
_RAW_KINDS = frozenset("biufcmM")


def fingerprint_table(data: Any) -> str:
    """Return a stable SHA-256 fingerprint of a table's content.

    The fingerprint covers the column names in order, each column's values in row
    order, and the dtype of numeric columns. It ignores the index. Missing values
    hash alike (every NaN is one NaN; ``None``, ``NaN`` and ``pd.NA`` in text columns
    are one missing value). Text, categorical and other non-numeric columns hash
    their values, so ``object``, ``str`` and ``category`` dtypes of the same values
    agree, and a DataFrame agrees with the dict of its columns' NumPy arrays.

    Parameters
    ----------
    data : pandas.DataFrame, mapping of str to 1-D array-like, or numpy.ndarray
        The table. A 2-D array's columns are named ``"0"``, ``"1"``...; a 1-D array
        is one column named ``"0"``.

    Returns
    -------
    str
        64 lowercase hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> a = fingerprint_table({"x": np.array([1.0, 2.0]), "y": np.array(["a", "b"])})
    >>> b = fingerprint_table({"x": np.array([1.0, 2.0]), "y": np.array(["a", "c"])})
    >>> len(a), a == b
    (64, False)
    """
    digest = hashlib.sha256(_SCHEME)
    columns = list(_columns(data))
    rows = {len(values) for _, values in columns}
    if len(rows) > 1:
        raise ArtifactError(
            f"fingerprint_table got columns of different lengths {sorted(rows)}; a table's "
            "columns must all have one length."
        )
    digest.update(json.dumps([len(columns), rows.pop() if rows else 0]).encode())
    for name, values in columns:
        tag, payload = _column_payload(values)
        digest.update(b"\0" + json.dumps([name, tag, len(values)]).encode() + b"\0")
        digest.update(payload)
    return digest.hexdigest()


def _columns(data: Any) -> Iterator[tuple[str, Any]]:
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        for position, name in enumerate(data.columns):
            yield str(name), data.iloc[:, position]
        return
    if isinstance(data, Mapping):
        for name, values in data.items():
            column = values if _is_series(values) else np.asarray(values)
            if getattr(column, "ndim", 1) != 1:
                raise ArtifactError(
                    f"fingerprint_table: column {name!r} has {column.ndim} dimensions; "
                    "expected one value per row (a 1-D array)."
                )
            yield str(name), column
        return
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            yield "0", data
            return
        if data.ndim == 2:
            for j in range(data.shape[1]):
                yield str(j), data[:, j]
            return
    raise ArtifactError(
        f"fingerprint_table got a {type(data).__name__}"
        f"{f' with {data.ndim} dimensions' if isinstance(data, np.ndarray) else ''}; "
        "expected a pandas DataFrame, a dict of column name -> 1-D array, or a 1-D/2-D "
        "NumPy array."
    )


def _is_series(values: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(values, pandas.Series)


def _column_payload(values: Any) -> tuple[str, Any]:
    """(dtype tag, bytes-like) for one column."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _RAW_KINDS:
        array: NDArray[Any] = np.ascontiguousarray(values, dtype=dtype.newbyteorder("<"))
        if dtype.kind in "fc":
            missing = np.isnan(array)
            if missing.any():
                array = array.copy()
                array[missing] = np.nan
        return array.dtype.str, array.view(np.uint8)
    return "values", _hash_values(values)


def _hash_values(values: ArrayLike) -> NDArray[np.uint8]:
    """One 64-bit hash per value for text and other non-numeric columns (via pandas)."""
    import pandas as pd

    objects = np.asarray(values, dtype=object)
    missing = pd.isna(objects)
    if missing.any():
        objects = objects.copy()
        objects[missing] = None
    hashed = pd.util.hash_array(objects, categorize=True)  # same values, faster
    return np.ascontiguousarray(hashed, dtype="<u8").view(np.uint8)
