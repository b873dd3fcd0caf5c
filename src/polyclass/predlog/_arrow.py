"""Arrow columns of the prediction log, built from NumPy buffers.

Built with ``pyarrow.Array.from_buffers`` on NumPy memory: zero-copy for numbers, and
no ``pyarrow.array`` call, which imports pandas (tens of MB) on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "bool_column",
    "dictionary",
    "dictionary_columns",
    "primitive",
    "statistics_columns",
    "strings",
    "text_column",
]


def _buffer(values: NDArray[Any]) -> Any:
    import pyarrow as pa

    return pa.py_buffer(np.ascontiguousarray(values))


def _validity(valid: NDArray[np.bool_] | None) -> Any:
    """A validity bitmap (None when every value is present)."""
    if valid is None or valid.all():
        return None
    return _buffer(np.packbits(valid, bitorder="little"))


def primitive(type_: Any, values: NDArray[Any], valid: NDArray[np.bool_] | None = None) -> Any:
    import pyarrow as pa

    return pa.Array.from_buffers(type_, len(values), [_validity(valid), _buffer(values)])


def _offsets(lengths: NDArray[np.int64]) -> NDArray[np.int32]:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("A prediction-log row group holds more than 2 GB of text.")
    return offsets.astype(np.int32)


def strings(values: Sequence[str]) -> Any:
    """A string array of Python strings (no missing values)."""
    import pyarrow as pa

    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [None, _buffer(_offsets(lengths)), pa.py_buffer(b"".join(encoded))],
    )


def dictionary(codes: NDArray[Any], dictionary: Any) -> Any:
    """``dictionary[codes]`` as a dictionary array; code -1 gives null.

    Parquet stores it as is (its dictionary page and codes): no string is repeated per
    row, and the writer hashes nothing. Read back, it is a plain string column (the
    segments are written without the Arrow schema, see ``_write_group``).
    """
    import pyarrow as pa

    valid = codes >= 0
    if valid.all():
        indices = pa.Array.from_buffers(
            pa.int32(), len(codes), [None, _buffer(codes.astype(np.int32, copy=False))]
        )
    else:
        indices = pa.Array.from_buffers(
            pa.int32(),
            len(codes),
            [_validity(valid), _buffer(np.where(valid, codes, 0).astype(np.int32))],
        )
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def text_column(values: list[Any]) -> Any:
    """A string array of logged values (str(v); None = null), encoded once per distinct value."""
    seen: dict[Any, int] = {}
    setdefault = seen.setdefault
    codes = np.fromiter(
        (-1 if v is None else setdefault(v, len(seen)) for v in values),
        dtype=np.int32,
        count=len(values),
    )
    texts = [v if isinstance(v, str) else str(v) for v in seen]
    return dictionary(codes, strings(texts))


def bool_column(values: list[Any]) -> Any:
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=len(values))
    flags = np.fromiter((bool(v) for v in values), dtype=np.bool_, count=len(values))
    bits = _buffer(np.packbits(flags, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [_validity(valid), bits])


#: Columns with min/max statistics: readers skip a segment by its time range.
_STATISTICS = ("row", "ts", "model_version")


def statistics_columns(schema: Any) -> list[str]:
    """Min/max statistics for times, rows and versions only.

    Not for the float inputs nor for text: no reader looks at them, and computing them
    costs the writer time.
    """
    return [f.name for f in schema if f.name in _STATISTICS]


def dictionary_columns(schema: Any) -> list[str]:
    """Dictionary-encode text columns only (trying it on floats costs time for nothing)."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_dictionary(f.type)]
