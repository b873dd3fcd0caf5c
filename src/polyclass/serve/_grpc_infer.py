"""ModelInfer over gRPC: the request's tensors as rows, the prediction as a response.

Inputs come as typed ``contents`` or as ``raw_input_contents`` (one bytes per input,
the layout of the REST binary extension); both become the tensors the JSON path checks
(:func:`polyclass.serve._protocol_v2.tensor_table`), so every route refuses the same
values with the same sentences. The response carries its outputs in
``raw_output_contents`` when the request used raw inputs (as Triton answers), else in
typed ``contents``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from polyclass.preprocess import Table
from polyclass.serve._binary import classes_json, decode_values, model_label_datatype, output_bytes
from polyclass.serve._errors import RequestError, unprocessable
from polyclass.serve._protocol_v2 import OUTPUTS, Tensor, tensor_table
from polyclass.serve._served import Prediction, ServedModel

__all__ = ["infer_response", "infer_table", "requested_outputs"]

#: The typed field of ``InferTensorContents`` holding each datatype, and its value range.
_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_DATATYPES = [*_FIELDS, "FP16"]
_NARROW = {t: np.iinfo(t.lower()) for t in ("INT8", "INT16", "UINT8", "UINT16")}


def _header(i: int, tensor: Any) -> tuple[str, list[int], str]:
    loc: list[str | int] = ["inputs", i]
    name, datatype = tensor.name, tensor.datatype
    shape = [int(d) for d in tensor.shape]
    if not name:
        raise unprocessable(f"Input {i} has no name.", *loc, "name")
    if datatype not in _DATATYPES:
        raise unprocessable(
            f"Input {name!r} has datatype {datatype!r}; expected one of {sorted(_DATATYPES)}.",
            *loc,
            "datatype",
        )
    if any(d < 0 for d in shape):
        raise unprocessable(
            f"The shape of input {name!r} must hold non-negative sizes; got {shape}.",
            *loc,
            "shape",
        )
    return name, shape, datatype


def _typed(i: int, name: str, shape: list[int], datatype: str, tensor: Any) -> Any:
    """The values of a tensor sent in typed ``contents``."""
    loc: list[str | int] = ["inputs", i, "contents"]
    if datatype == "FP16":
        raise unprocessable(
            f"Input {name!r} is FP16, which has no typed contents field; send it in "
            "raw_input_contents.",
            *loc,
        )
    field = _FIELDS[datatype]
    others = [f.name for f, _ in tensor.contents.ListFields() if f.name != field]
    if others:  # a value in a second field would be silently ignored
        raise unprocessable(
            f"Input {name!r} is {datatype} but has values in contents.{others[0]}; a "
            f"{datatype} tensor's values go in {field} only.",
            *loc,
            others[0],
        )
    values = getattr(tensor.contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise unprocessable(
            f"Input {name!r} has shape {shape} ({count} values) but contents.{field} holds "
            f"{len(values)}; a {datatype} tensor's values go in {field}.",
            *loc,
            field,
        )
    if datatype == "BYTES":
        out = []
        for j, raw in enumerate(values):
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise unprocessable(
                    f"Element {j} of input {name!r} (BYTES) is not UTF-8 text.", *loc, field, j
                ) from None
        return out
    if datatype == "BOOL":
        return list(values)
    array = np.asarray(values, dtype=np.float64 if datatype[0] == "F" else None)
    limits = _NARROW.get(datatype)
    if limits is not None and count:
        bad = np.flatnonzero((array < limits.min) | (array > limits.max))
        if bad.size:
            j = int(bad[0])
            raise unprocessable(
                f"Input {name!r} is {datatype} but element {j} is {int(array[j])}, outside "
                f"the {datatype} range [{limits.min}, {limits.max}].",
                *loc,
                field,
                j,
            )
    return array


def infer_table(request: Any, model: ServedModel) -> Table:
    """The rows of a ``ModelInferRequest`` for ``model``, or a RequestError with its place."""
    inputs = request.inputs
    if not inputs:
        raise unprocessable("The request has no inputs.", "inputs")
    raw = request.raw_input_contents
    if raw and len(raw) != len(inputs):
        raise unprocessable(
            f"raw_input_contents holds {len(raw)} entries for {len(inputs)} inputs; send one "
            "per input, in order.",
            "raw_input_contents",
        )
    tensors: list[Tensor] = []
    for i, tensor in enumerate(inputs):
        name, shape, datatype = _header(i, tensor)
        if raw:
            if tensor.HasField("contents"):
                raise unprocessable(
                    f"Input {name!r} has contents while the request uses raw_input_contents; "
                    "use one or the other.",
                    "inputs",
                    i,
                    "contents",
                )
            values = decode_values(name, shape, datatype, raw[i], ["raw_input_contents", i])
        else:
            values = _typed(i, name, shape, datatype, tensor)
        tensors.append((name, shape, datatype, values))
    return tensor_table(tensors, model.plan, root=[])


def requested_outputs(request: Any) -> list[str]:
    """The outputs asked for, in order (both when none is named)."""
    if not request.outputs:
        return list(OUTPUTS)
    names = []
    for i, output in enumerate(request.outputs):
        if output.name not in OUTPUTS:
            raise RequestError(
                422,
                f"Unknown output {output.name!r}; this model has the outputs {list(OUTPUTS)}.",
                ["outputs", i, "name"],
            )
        names.append(output.name)
    return names


def infer_response(
    messages: dict[str, Any],
    request_id: str,
    request: Any,
    model: ServedModel,
    prediction: Prediction,
    outputs: list[str],
) -> Any:
    """The ``ModelInferResponse`` carrying ``request_id`` (the id logged): raw outputs when
    the request sent raw inputs."""
    response = messages["ModelInferResponse"](
        model_name=model.name, model_version=model.version_label, id=request_id
    )
    raw = bool(request.raw_input_contents)
    n = len(prediction.index)
    for name in outputs:
        tensor = response.outputs.add()
        tensor.name = name
        if name == "label":
            tensor.datatype = model_label_datatype(model)
            tensor.shape.append(n)
        else:
            tensor.datatype = "FP64"
            tensor.shape.extend((n, len(model.classes)))
            tensor.parameters["classes"].string_param = classes_json(model)
        if raw:
            response.raw_output_contents.append(output_bytes(model, prediction, name))
        elif name == "probabilities":
            tensor.contents.fp64_contents.extend(prediction.proba.ravel().tolist())
        else:
            _typed_labels(tensor, model, prediction)
    return response


def _typed_labels(tensor: Any, model: ServedModel, prediction: Prediction) -> None:
    labels = model.class_array[prediction.index].tolist()
    datatype = tensor.datatype
    if datatype == "BYTES":
        tensor.contents.bytes_contents.extend(str(v).encode("utf-8") for v in labels)
    elif datatype == "BOOL":
        tensor.contents.bool_contents.extend(labels)
    elif datatype == "INT64":
        tensor.contents.int64_contents.extend(labels)
    else:
        tensor.contents.fp64_contents.extend(labels)
