"""The float matrix of a plain numeric request, straight from its bytes (simdjson).

A 1,000-row ``dataframe_split`` request is 20,000 numbers. Parsed by ``orjson`` they
become 20,000 Python floats in 1,000 lists, which are then copied into an array and
freed. ``simdjson`` (``pysimdjson``) parses the document into its own tape without
Python objects and copies a nested array of numbers out as one buffer of float64.

This module takes only the plainest requests and answers ``None`` for anything else,
which then takes the exact path (``orjson``, value-by-value checks, errors that name
the place of a bad value): the body must be valid JSON with the keys and only the keys
expected (no duplicates), the column names exactly the model's, in its order, and every
row a list of exactly ``width`` numbers (no null, boolean, string or nested list).
Numbers convert as ``orjson`` does them (correctly rounded); a test holds both paths
equal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["numeric_rows", "numeric_tensor"]

_local = threading.local()
_OPEN = ord("[")
_FORMATS = ("dataframe_split", "inputs", "instances")
#: Largest body parsed by the thread's long-lived parser.
REUSE_BYTES = 1 << 20


def _parser() -> Any:
    parser = getattr(_local, "parser", None)
    if parser is None:
        import simdjson

        parser = _local.parser = simdjson.Parser()
    return parser


def _parse(body: bytes) -> Any:
    """The document as a lazy simdjson object, or None when it is not valid JSON.

    A parser keeps the buffers of the largest document it has seen (a few times its size), so
    bodies above ``REUSE_BYTES`` get a parser of their own, dropped with the document.
    A body that starts with a UTF-8 byte-order mark is None too: simdjson skips the
    mark, the exact path refuses it (400), and both paths must answer alike.
    """
    if body.startswith(b"\xef\xbb\xbf"):
        return None
    if len(body) > REUSE_BYTES:
        import simdjson

        try:
            return simdjson.Parser().parse(body)
        except (ValueError, RuntimeError, UnicodeDecodeError):
            return None
    try:
        return _parser().parse(body)
    except RuntimeError:  # the parser is still referenced (by a stray traceback): a new one
        _local.parser = None
        try:
            return _parser().parse(body)
        except (ValueError, RuntimeError, UnicodeDecodeError):
            return None
    except (ValueError, UnicodeDecodeError):
        return None


def _keys(obj: Any, simdjson: Any) -> list[str] | None:
    """The keys of a simdjson object in order; None for another type or repeated keys."""
    if type(obj) is not simdjson.Object:
        return None
    keys = list(obj.keys())
    return keys if len(set(keys)) == len(keys) else None


def _matrix(rows: Any, width: int, simdjson: Any) -> NDArray[np.float64] | None:
    """A simdjson array of ``width``-number lists as an (n, width) matrix, else None."""
    if type(rows) is not simdjson.Array:
        return None
    n = len(rows)
    if not n:
        return None
    array = simdjson.Array
    for row in rows:
        if type(row) is not array or len(row) != width:
            return None
    try:
        flat = np.frombuffer(rows.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):  # null, boolean, string, object, big int
        return None
    if flat.size != n * width:  # a nested list inside a row
        return None
    return flat.reshape(n, width)


def numeric_rows(body: bytes, names: Sequence[str]) -> tuple[str, NDArray[np.float64]] | None:
    """The rows of a plain numeric MLflow request: its format key and its float64 matrix.

    Takes ``{"dataframe_split": {"columns": names, "data": rows}}`` and
    ``{"inputs" | "instances": rows}`` (positional rows in the order of ``names``); the
    matrix, of shape (n, len(names)), is read-only. None whenever the body is anything
    else (the caller then takes its exact path).

    Examples
    --------
    >>> key, matrix = numeric_rows(b'{"inputs": [[1, 2.5], [3, 4]]}', ["a", "b"])
    >>> key, matrix.tolist()
    ('inputs', [[1.0, 2.5], [3.0, 4.0]])
    >>> numeric_rows(b'{"inputs": [[1, null], [3, 4]]}', ["a", "b"]) is None
    True
    """
    raw = np.frombuffer(body, dtype=np.uint8)
    opening = int(np.count_nonzero(raw == _OPEN))  # every "[" of the body
    document = _parse(body)
    if document is None:
        return None
    import simdjson

    keys = _keys(document, simdjson)
    if keys is None or len(keys) != 1 or keys[0] not in _FORMATS:
        return None
    key = keys[0]
    rows = document[key]
    lists = 1  # the row list
    if key == "dataframe_split":
        if _keys(rows, simdjson) not in (["columns", "data"], ["data", "columns"]):
            return None
        columns = rows["columns"]
        if type(columns) is not simdjson.Array or columns.as_list() != list(names):
            return None
        rows = rows["data"]
        lists = 2  # and the column list
    if type(rows) is not simdjson.Array or opening != lists + len(rows):
        return None  # a nested list, or a "[" inside a column name
    matrix = _matrix(rows, len(names), simdjson)
    return None if matrix is None else (key, matrix)


def numeric_tensor(body: bytes, width: int) -> tuple[str, NDArray[np.float64], str | None] | None:
    """The one FP64 tensor of a plain Open Inference Protocol infer request.

    Takes ``{"inputs": [{"name", "shape": [n, width], "datatype": "FP64", "data"}]}``
    (optionally with a string ``"id"``), ``data`` as ``n`` rows of ``width`` numbers or
    ``n * width`` numbers in a flat list. Answers ``(name, matrix, id)``, the matrix
    read-only and of shape (n, width), or None whenever the body is anything else (the
    caller then takes its exact path).

    Examples
    --------
    >>> name, matrix, request_id = numeric_tensor(
    ...     b'{"id": "a", "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64",'
    ...     b' "data": [1, 2, 3, 4.5]}]}', 2)
    >>> name, matrix.tolist(), request_id
    ('x', [[1.0, 2.0], [3.0, 4.5]], 'a')
    """
    raw = np.frombuffer(body, dtype=np.uint8)
    opening = int(np.count_nonzero(raw == _OPEN))
    document = _parse(body)
    if document is None:
        return None
    import simdjson

    keys = _keys(document, simdjson)
    if keys is None or "inputs" not in keys or not set(keys) <= {"inputs", "id"}:
        return None
    request_id = document["id"] if "id" in keys else None
    if request_id is not None and type(request_id) is not str:
        return None
    inputs = document["inputs"]
    if type(inputs) is not simdjson.Array or len(inputs) != 1:
        return None
    tensor: Any = inputs[0]
    tensor_keys = _keys(tensor, simdjson)
    if tensor_keys is None or set(tensor_keys) != {"name", "shape", "datatype", "data"}:
        return None
    name, datatype, shape, data = (
        tensor["name"],
        tensor["datatype"],
        tensor["shape"],
        tensor["data"],
    )
    if type(name) is not str or datatype != "FP64" or type(shape) is not simdjson.Array:
        return None
    dims: list[Any] = shape.as_list()
    if (
        len(dims) != 2
        or any(type(d) is not int for d in dims)
        or dims[1] != width
        or (dims[0] < 1)
        or type(data) is not simdjson.Array
    ):
        return None
    n = int(dims[0])
    if len(data) == n and opening == 3 + n:  # rows: inputs, shape, data and one per row
        matrix = _matrix(data, width, simdjson)
    elif len(data) == n * width and opening == 3:  # flat: no list inside data
        try:
            flat = np.frombuffer(data.as_buffer(of_type="d"), dtype=np.float64)
        except (TypeError, ValueError, RuntimeError):  # null, boolean, string, object
            return None
        matrix = flat.reshape(n, width) if flat.size == n * width else None
    else:
        return None
    return None if matrix is None else (name, matrix, request_id)
