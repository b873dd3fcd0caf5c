"""The binary tensor data extension of the Open Inference Protocol's REST routes.

A request whose ``Inference-Header-Content-Length`` header is ``N`` carries its JSON
infer request in the first ``N`` bytes of the body; an input with the parameter
``binary_data_size`` has no ``data`` and its values follow the JSON, input after input,
as little-endian bytes (BOOL one byte per value; BYTES each element after its length as
a 4-byte little-endian integer). An output asked for with ``{"binary_data": true}`` (or
every output, with the request parameter ``binary_data_output``) is answered the same
way: the response's JSON names its ``binary_data_size`` and the bytes follow.

The same byte layouts are what gRPC's ``raw_input_contents`` and ``raw_output_contents``
hold, so :mod:`polyclass.serve._grpc_infer` decodes and encodes with these functions.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

from polyclass.serve._errors import RequestError, bad_request, unprocessable
from polyclass.serve._protocol_v2 import OUTPUTS, label_datatype, tensor_header
from polyclass.serve._served import Prediction, ServedModel

__all__ = [
    "HEADER",
    "NUMPY_TYPES",
    "binary_outputs",
    "classes_json",
    "decode_values",
    "encode_outputs",
    "model_label_datatype",
    "output_bytes",
    "split_body",
    "split_tensors",
]

#: The header naming the length of the JSON part of a binary request or response.
HEADER = "inference-header-content-length"

#: The little-endian NumPy type of each fixed-size datatype.
NUMPY_TYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("u1"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

Loc = list[str | int]


def split_body(body: bytes, header: str) -> tuple[bytes, bytes]:
    """The JSON part and the binary part of a body whose JSON is ``header`` bytes long."""
    loc: Loc = ["header", HEADER]
    if not header.isdigit():
        raise bad_request(
            f"The {HEADER} header must be the byte length of the JSON part of the body; "
            f"got {header!r}.",
            *loc,
        )
    size = int(header)
    if size == 0:
        raise bad_request(
            f"The {HEADER} header is 0, but the JSON part cannot be empty: set it to the byte "
            "length of the JSON request at the start of the body.",
            *loc,
        )
    if size > len(body):
        raise bad_request(
            f"The {HEADER} header says the JSON part is {size} bytes, but the body has "
            f"{len(body)}. Send the JSON request, then the tensors' bytes.",
            *loc,
        )
    return body[:size], body[size:]


def _binary_size(i: int, tensor: Any, root: Loc) -> int | None:
    """The ``binary_data_size`` parameter of input ``i`` (None when its data is JSON)."""
    params = tensor.get("parameters") if isinstance(tensor, dict) else None
    if not isinstance(params, dict) or "binary_data_size" not in params:
        return None
    size = params["binary_data_size"]
    loc = [*root, "inputs", i, "parameters", "binary_data_size"]
    if type(size) is not int or size < 0:
        raise unprocessable(
            f"binary_data_size must be a non-negative integer (bytes); got {size!r}.", *loc
        )
    if "data" in tensor:
        raise unprocessable(
            "An input with binary_data_size has its values after the JSON, not in 'data'; "
            "send one or the other.",
            *root,
            "inputs",
            i,
            "data",
        )
    return size


def split_tensors(document: Any, tail: bytes) -> Any:
    """``document`` with each binary input's values decoded into its ``data``.

    ``tail`` is cut into each input's bytes, in order; a length that does not add up,
    or bytes that do not fit the input's datatype and shape, are refused. The rest of
    the checks (names, rows, datatypes a column takes) stay with the JSON path.
    """
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        return document  # the JSON path names the problem
    _check_rows(document["inputs"])
    offset = 0
    inputs = []
    for i, tensor in enumerate(document["inputs"]):
        size = _binary_size(i, tensor, ["body"])
        if size is None:
            inputs.append(tensor)
            continue
        name, shape, datatype = tensor_header(i, tensor, ["body"], data=False)
        if offset + size > len(tail):
            raise bad_request(
                f"Input {name!r} declares binary_data_size {size} at byte {offset} of the "
                f"binary part, which has only {len(tail)} bytes.",
                "body",
                "inputs",
                i,
                "parameters",
                "binary_data_size",
            )
        raw = tail[offset : offset + size]
        offset += size
        values = decode_values(name, shape, datatype, raw, ["body", "inputs", i, "data"])
        inputs.append({**tensor, "data": values})
    if offset != len(tail):
        raise bad_request(
            f"The binary part of the body has {len(tail)} bytes but the inputs' "
            f"binary_data_size add up to {offset}.",
            "body",
        )
    return {**document, "inputs": inputs}


def _check_rows(inputs: list[Any]) -> None:
    """Refuse binary inputs whose shapes disagree on the row count before decoding any:
    the shapes alone show it, and decoding megabytes first would hold the worker."""
    first: tuple[str, int] | None = None
    for i, tensor in enumerate(inputs):
        if _binary_size(i, tensor, ["body"]) is None:
            continue
        name, shape, _ = tensor_header(i, tensor, ["body"], data=False)
        if not shape:
            continue
        if first is None:
            first = (name, shape[0])
        elif shape[0] != first[1]:
            raise unprocessable(
                f"Input {name!r} has {shape[0]} rows; input {first[0]!r} has {first[1]}. "
                "Send the same number of rows in every input.",
                "body",
                "inputs",
                i,
                "shape",
            )


def decode_values(name: str, shape: list[int], datatype: str, raw: bytes, loc: Loc) -> Any:
    """The values in ``raw``: a NumPy array for numbers, a list of bool or str otherwise."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(name, shape, count, raw, loc)
    dtype = NUMPY_TYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise unprocessable(
            f"Input {name!r} is {datatype} of shape {shape}: {count} values of "
            f"{dtype.itemsize} byte(s) are {count * dtype.itemsize} bytes, but it has "
            f"{len(raw)}.",
            *loc,
        )
    values = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        if values.size and values.max() > 1:
            j = int(np.argmax(values > 1))
            raise unprocessable(
                f"Input {name!r} is BOOL but byte {j} is {int(values[j])}; a BOOL value is "
                "one byte, 0 or 1.",
                *loc,
                j,
            )
        return values.astype(bool).tolist()
    return values


def _decode_bytes(name: str, shape: list[int], count: int, raw: bytes, loc: Loc) -> list[str]:
    out: list[str] = []
    offset = 0
    unpack = struct.Struct("<I").unpack_from
    while offset < len(raw):
        j = len(out)
        if offset + 4 > len(raw):
            raise unprocessable(
                f"Input {name!r} (BYTES) ends inside the 4-byte length of element {j}.", *loc, j
            )
        (size,) = unpack(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise unprocessable(
                f"Element {j} of input {name!r} (BYTES) declares {size} bytes but only "
                f"{len(raw) - offset} remain.",
                *loc,
                j,
            )
        try:
            out.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise unprocessable(
                f"Element {j} of input {name!r} (BYTES) is not UTF-8 text; category "
                "values are text.",
                *loc,
                j,
            ) from None
        offset += size
    if len(out) != count:
        raise unprocessable(
            f"Input {name!r} has shape {shape} ({count} values) but its bytes hold "
            f"{len(out)} elements.",
            *loc,
        )
    return out


def binary_outputs(document: dict[str, Any], names: list[str]) -> set[str]:
    """The outputs to answer in binary: those with ``binary_data`` true, or every one
    when the request parameter ``binary_data_output`` is true."""
    params = document.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise unprocessable("'parameters' must be an object.", "body", "parameters")
    everything = (params or {}).get("binary_data_output", False)
    if type(everything) is not bool:
        raise unprocessable(
            f"binary_data_output must be true or false; got {everything!r}.",
            "body",
            "parameters",
            "binary_data_output",
        )
    chosen = set(names) if everything else set()
    for i, out in enumerate(document.get("outputs") or []):
        output_params = out.get("parameters") if isinstance(out, dict) else None
        if output_params is None:
            continue
        loc: Loc = ["body", "outputs", i, "parameters"]
        if not isinstance(output_params, dict):
            raise unprocessable("An output's 'parameters' must be an object.", *loc)
        flag = output_params.get("binary_data", False)
        if type(flag) is not bool:
            raise unprocessable(
                f"binary_data must be true or false; got {flag!r}.", *loc, "binary_data"
            )
        unknown = sorted(set(output_params) - {"binary_data"})
        if unknown:
            raise unprocessable(
                f"Unknown output parameter(s) {unknown}; an output takes 'binary_data'.",
                *loc,
                unknown[0],
            )
        if flag:
            chosen.add(out["name"])
        else:
            chosen.discard(out["name"])
    return chosen


def label_bytes(model: ServedModel, index: np.ndarray[Any, Any]) -> bytes:
    """The label output's values as the bytes of its datatype."""
    datatype = model_label_datatype(model)
    if datatype == "BYTES":
        encoded = _class_bytes(model)
        return b"".join([encoded[i] for i in index.tolist()])
    dtype = NUMPY_TYPES[datatype]
    return bytes(np.asarray(model.classes, dtype=dtype)[index].tobytes())


def model_label_datatype(model: ServedModel) -> str:
    """The datatype of the model's label output (computed once per model)."""
    datatype: str | None = model.cache.get("label_datatype")
    if datatype is None:
        datatype = model.cache["label_datatype"] = label_datatype(model.classes)
    return datatype


def classes_json(model: ServedModel) -> str:
    """The class labels as a JSON list of text, the ``classes`` parameter of probabilities."""
    text: str | None = model.cache.get("classes_json")
    if text is None:
        text = model.cache["classes_json"] = orjson.dumps(model.class_strs).decode()
    return text


def _class_bytes(model: ServedModel) -> list[bytes]:
    """Each class as a BYTES element (length, then UTF-8), cached on the model."""
    cached: list[bytes] | None = model.cache.get("class_bytes")
    if cached is None:
        cached = []
        for label in model.class_strs:
            raw = label.encode("utf-8")
            cached.append(struct.pack("<I", len(raw)) + raw)
        model.cache["class_bytes"] = cached
    return cached


def output_bytes(model: ServedModel, prediction: Prediction, name: str) -> bytes:
    """One output's values as bytes (``label`` or ``probabilities``, float64 row-major)."""
    if name == "label":
        return label_bytes(model, prediction.index)
    return np.ascontiguousarray(prediction.proba, dtype="<f8").tobytes()


def encode_outputs(
    model: ServedModel,
    prediction: Prediction,
    outputs: list[str],
    request_id: Any,
    binary: set[str],
) -> tuple[bytes, int]:
    """The body of an infer response with the ``binary`` outputs after its JSON, and the
    JSON part's length (for the ``Inference-Header-Content-Length`` header)."""
    n = len(prediction.index)
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.version_label}
    if request_id is not None:
        body["id"] = request_id
    tensors: list[dict[str, Any]] = []
    tail: list[bytes] = []
    for name in outputs:
        if name not in OUTPUTS:  # pragma: no cover - the parser allows only these
            raise RequestError(422, f"Unknown output {name!r}.", ["body", "outputs"])
        tensor: dict[str, Any]
        if name == "label":
            tensor = {"name": "label", "datatype": model_label_datatype(model), "shape": [n]}
            params: dict[str, Any] = {}
        else:
            tensor = {"name": name, "datatype": "FP64", "shape": [n, len(model.classes)]}
            params = {"classes": classes_json(model)}
        if name in binary:
            raw = output_bytes(model, prediction, name)
            params["binary_data_size"] = len(raw)
            tail.append(raw)
        elif name == "label":
            tensor["data"] = model.class_array[prediction.index].tolist()
        else:
            tensor["data"] = prediction.proba.ravel()
        if params:
            tensor["parameters"] = params
        tensors.append(tensor)
    body["outputs"] = tensors
    head = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return head + b"".join(tail), len(head)
