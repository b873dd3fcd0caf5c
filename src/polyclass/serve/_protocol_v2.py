"""The Open Inference Protocol (KServe V2), REST/JSON: infer requests, metadata, responses.

An infer request carries either one numeric tensor of shape ``[n, n_features]``
(FP16/FP32/FP64, INT*, UINT*; columns in the model's feature order; for models whose
inputs are all numeric) or one tensor per input column, named after it, of shape
``[n]`` or ``[n, 1]``: numeric columns as FP*/INT*/UINT*, categorical text as BYTES,
boolean columns as BOOL. ``null`` marks a missing value. The response has the outputs
``label`` (shape ``[n]``) and ``probabilities`` (shape ``[n, n_classes]``, FP64, the
class order in its ``parameters.classes``, a JSON-encoded list of the labels as text).
With ``parameters: {"contributions": true}`` (or the output asked for by name) it also
has ``contributions``: each preprocessed feature's exact share of each raw score (linear
and boosting models; see ``Model.contributions``), shape ``[n, n_scores, n_features + 1]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from polyclass import __version__
from polyclass.preprocess import InputPlan, Table
from polyclass.serve._errors import bad_request, unprocessable
from polyclass.serve._served import Prediction, ServedModel
from polyclass.serve._tables import check_names

__all__ = [
    "OUTPUTS",
    "Tensor",
    "infer_response",
    "label_datatype",
    "model_metadata",
    "parse_infer",
    "server_metadata",
    "tensor_header",
    "tensor_table",
]

OUTPUTS = ("label", "probabilities")
#: Outputs answered only when asked for (by name, or by the request parameter of that name).
EXTRA_OUTPUTS = ("contributions",)
_FLOAT = {"FP16", "FP32", "FP64"}
_INT = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_DATATYPES = _FLOAT | _INT | {"BOOL", "BYTES"}


def server_metadata() -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": "polyclass", "version": __version__, "extensions": ["binary_tensor_data"]}


def label_datatype(classes: list[Any]) -> str:
    if all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if all(isinstance(c, float) for c in classes):
        return "FP64"
    return "BYTES"


def _input_datatype(plan: InputPlan, name: str) -> str:
    if plan.kinds[name] == "numeric":
        return "FP64"
    return {"str": "BYTES", "bool": "BOOL", "int": "INT64", "float": "FP64"}[plan.value_types[name]]


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs, outputs and the loaded version."""
    plan = model.plan
    meta: dict[str, Any] = {
        "name": model.name,
        "versions": [model.version_label],
        "platform": "polyclass",
        "inputs": [
            {"name": f, "datatype": _input_datatype(plan, f), "shape": [-1]}
            for f in plan.feature_names
        ],
        "outputs": [
            {"name": "label", "datatype": label_datatype(model.classes), "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(model.classes)]},
        ],
        "parameters": {"classes": model.classes, "model_version": model.version_label},
    }
    if plan.all_numeric:
        meta["parameters"]["tensor_input"] = {
            "datatype": "FP64",
            "shape": [-1, len(plan.feature_names)],
            "columns": plan.feature_names,
        }
    return meta


Loc = list[str | int]
#: An input tensor once its JSON form is checked: name, shape, datatype and data.
Tensor = tuple[str, list[int], str, Any]
#: The values each integer datatype holds; the largest magnitude each float one holds.
_INT_RANGE = {t: (int(np.iinfo(t.lower()).min), int(np.iinfo(t.lower()).max)) for t in _INT}
_FLOAT_MAX = {t: float(np.finfo(t.replace("FP", "float").lower()).max) for t in _FLOAT}


def _flatten(data: list[Any]) -> list[Any]:
    """Nested row-major lists (any depth) as one flat list."""
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def _place(data: list[Any], j: int) -> list[int]:
    """Where flat element ``j`` sits in ``data``: [row, column] for nested rows, else [j]."""
    dims = []
    item: Any = data
    while isinstance(item, list) and item:
        dims.append(len(item))
        item = item[0]
    if len(dims) > 1 and math.prod(dims) == len(_flatten(data)):
        return [int(i) for i in np.unravel_index(j, dims)]
    return [j]


def _tensor(i: int, tensor: Any) -> Tensor:
    name, shape, datatype = tensor_header(i, tensor, ["body"], data=True)
    data = tensor["data"]
    if not isinstance(data, list | np.ndarray):  # an array: decoded from binary data
        raise unprocessable(
            f"'data' must be a list; got {type(data).__name__}.", "body", "inputs", i, "data"
        )
    return name, shape, datatype, data


def tensor_header(i: int, tensor: Any, root: Loc, *, data: bool) -> tuple[str, list[int], str]:
    """The checked name, shape and datatype of input ``i`` (and that it has ``data``)."""
    loc: Loc = [*root, "inputs", i]
    if not isinstance(tensor, dict):
        raise unprocessable(
            f"Input {i} must be an object with name, shape, datatype and "
            f"data; got {type(tensor).__name__}.",
            *loc,
        )
    for key in ("name", "shape", "datatype", "data") if data else ("name", "shape", "datatype"):
        if key not in tensor:
            raise unprocessable(
                f"Input {i} lacks {key!r}; a tensor has name, shape, datatype and data.", *loc
            )
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    if not isinstance(name, str):
        raise unprocessable("The input name must be a string.", *loc, "name")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise unprocessable(
            f"The shape of input {name!r} must be a list of non-negative integers; got {shape!r}.",
            *loc,
            "shape",
        )
    if not isinstance(datatype, str) or datatype not in _DATATYPES:
        raise unprocessable(
            f"Input {name!r} has datatype {datatype!r}; expected one of {sorted(_DATATYPES)}.",
            *loc,
            "datatype",
        )
    return name, shape, datatype


def _count_error(name: str, shape: list[int], got: int, loc: Loc) -> Exception:
    return unprocessable(
        f"Input {name!r} has shape {shape} ({math.prod(shape)} values) "
        f"but its data holds {got} values.",
        *loc,
    )


def _value_error(
    name: str, datatype: str, data: list[Any], j: int, v: Any, loc: Loc, why: str = ""
) -> Exception:
    place = _place(data, j)
    where = f"element {place[0] if len(place) == 1 else place}"
    return unprocessable(
        f"Input {name!r} is {datatype} but {where} is {v!r} "
        f"({type(v).__name__}){why}. Send {datatype} values, or null for "
        "a missing value.",
        *loc,
        *place,
    )


def _exact_numbers(
    name: str, datatype: str, data: list[Any], flat: list[Any], loc: Loc
) -> NDArray[np.float64]:
    """Value by value: JSON numbers that fit ``datatype`` (null = missing), or a 422."""
    integer = datatype in _INT
    low, high = _INT_RANGE.get(datatype, (0, 0))
    limit = _FLOAT_MAX.get(datatype, math.inf)
    for j, v in enumerate(flat):
        kind = type(v)
        if v is None:
            continue
        if kind is not int and kind is not float:  # bool, str, list, object
            raise _value_error(name, datatype, data, j, v, loc)
        if integer:
            if kind is float and not v.is_integer():
                raise _value_error(name, datatype, data, j, v, loc)
            if not low <= v <= high:
                raise _value_error(
                    name,
                    datatype,
                    data,
                    j,
                    v,
                    loc,
                    f", outside the {datatype} range [{low}, {high}]",
                )
        elif abs(v) > limit:
            raise _value_error(
                name, datatype, data, j, v, loc, f", beyond the largest {datatype} ({limit:g})"
            )
    return np.array([math.nan if v is None else v for v in flat], dtype=np.float64)


def _numbers(
    name: str, datatype: str, data: Any, count: int, shape: list[int], loc: Loc
) -> NDArray[np.float64]:
    """The tensor's ``count`` values as float64 (NaN = missing), checked against ``datatype``."""
    if isinstance(data, np.ndarray):  # decoded from bytes: every value fits its datatype
        if data.size != count:
            raise _count_error(name, shape, data.size, loc)
        return data.reshape(-1).astype(np.float64, copy=False)
    flat = _flatten(data)
    if len(flat) != count:
        raise _count_error(name, shape, len(flat), loc)
    return _exact_numbers(name, datatype, data, flat, loc)


def _size(data: Any) -> int:
    """How many values a tensor's data holds (nested JSON lists, or a decoded array)."""
    if isinstance(data, np.ndarray):
        return int(data.size)
    return len(data) if not data or type(data[0]) is not list else len(_flatten(data))


def _column(name: str, datatype: str, data: Any, shape: list[int], loc: Loc) -> Any:
    """A column's values, checked against its datatype (a NumPy array when numeric)."""
    count = math.prod(shape)
    if datatype in _FLOAT or datatype in _INT:
        return _numbers(name, datatype, data, count, shape, loc)
    flat = _flatten(data)
    if len(flat) != count:
        raise _count_error(name, shape, len(flat), loc)
    ok: Any = str if datatype == "BYTES" else bool
    for j, v in enumerate(flat):
        if v is not None and not isinstance(v, ok):
            raise _value_error(name, datatype, data, j, v, loc)
    return flat


def _matrix_input(
    plan: InputPlan, name: str, shape: list[int], datatype: str, data: Any, root: Loc
) -> Table:
    loc: Loc = [*root, "inputs", 0, "data"]
    p = len(plan.feature_names)
    if datatype not in _FLOAT | _INT:
        raise unprocessable(
            f"A single input tensor must be numeric (FP64, FP32, INT64...); "
            f"got {datatype}. Send one input per column for text and "
            "boolean columns.",
            *root,
            "inputs",
            0,
            "datatype",
        )
    if not plan.all_numeric:
        raise unprocessable(
            "This model has categorical or boolean columns, so it takes one input per "
            f"column (named {plan.feature_names}), not one numeric tensor.",
            *root,
            "inputs",
        )
    if len(shape) != 2 or shape[1] != p:
        raise unprocessable(
            f"The input tensor has shape {shape}; expected [n_rows, {p}] "
            f"(columns {plan.feature_names}).",
            *root,
            "inputs",
            0,
            "shape",
        )
    values = _numbers(name, datatype, data, shape[0] * p, shape, loc)
    return Table(
        shape[0],
        matrix=values.reshape(shape[0], p),
        matrix_loc=loc,
        matrix_keys={f: j for j, f in enumerate(plan.feature_names)},
    )


def parse_infer(document: Any, plan: InputPlan) -> tuple[Table, list[str], Any]:
    """The rows of an infer request, the outputs asked for, and its id (or None)."""
    if not isinstance(document, dict):
        raise bad_request(
            f"The body must be a JSON object with 'inputs'; got a {type(document).__name__}.",
            "body",
        )
    unknown = sorted(set(document) - {"id", "inputs", "outputs", "parameters"})
    if unknown:
        raise unprocessable(
            f"Unknown key(s) {unknown}; an infer request takes 'id', "
            "'inputs', 'outputs' and 'parameters'.",
            "body",
            unknown[0],
        )
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise unprocessable("'id' must be a string.", "body", "id")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise unprocessable("'inputs' must be a non-empty list of tensors.", "body", "inputs")
    outputs = _requested_outputs(document.get("outputs"))
    if _asks_contributions(document.get("parameters")) and "contributions" not in outputs:
        outputs.append("contributions")
    tensors = [_tensor(i, t) for i, t in enumerate(inputs)]
    return tensor_table(tensors, plan), outputs, request_id


def tensor_table(tensors: list[Tensor], plan: InputPlan, root: Loc | None = None) -> Table:
    """The rows of checked input tensors: one numeric matrix, or one tensor per column.

    A tensor's data is a JSON list, or values already decoded from bytes (a NumPy array
    for a numeric datatype, a list of str or bool otherwise); ``root`` is where
    ``inputs`` sits in the request (``["body"]`` for JSON, ``[]`` for gRPC).
    """
    root = ["body"] if root is None else root
    if len(tensors) == 1 and tensors[0][0] not in plan.kinds:
        name, shape, datatype, data = tensors[0]
        return _matrix_input(plan, name, shape, datatype, data, root)
    check_names([t[0] for t in tensors], plan, [*root, "inputs"])
    n_rows = None
    columns: dict[str, Any] = {}
    locs: dict[str, tuple[Loc, Loc]] = {}
    for i, (name, shape, datatype, data) in enumerate(tensors):
        loc: Loc = [*root, "inputs", i]
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise unprocessable(
                f"Input {name!r} has shape {shape}; a column input has shape "
                "[n_rows] or [n_rows, 1].",
                *loc,
                "shape",
            )
        count = _size(data)
        if count != math.prod(shape):
            raise _count_error(name, shape, count, [*loc, "data"])
        if n_rows is None:
            n_rows = shape[0]
        elif shape[0] != n_rows:
            raise unprocessable(
                f"Input {name!r} has {shape[0]} rows; the first input has "
                f"{n_rows}. Send the same number of rows in every input.",
                *loc,
                "shape",
            )
        expected = _input_datatype(plan, name)
        allowed = {
            "FP64": _FLOAT | _INT,
            "INT64": _INT | {"BYTES"},
            "BYTES": {"BYTES"},
            "BOOL": {"BOOL"},
        }[expected]
        if datatype not in allowed:
            raise unprocessable(
                f"Input {name!r} is {plan.kinds[name]} and takes "
                f"{sorted(allowed)}; got {datatype}.",
                *loc,
                "datatype",
            )
        columns[name] = _column(name, datatype, data, shape, [*loc, "data"])
        locs[name] = ([*loc, "data"], [])
    return Table(n_rows or 0, columns, locs)


def _requested_outputs(outputs: Any) -> list[str]:
    if outputs is None:
        return list(OUTPUTS)
    if not isinstance(outputs, list):
        raise unprocessable(
            "'outputs' must be a list of {\"name\": ...} objects.", "body", "outputs"
        )
    names = []
    for i, out in enumerate(outputs):
        name = out.get("name") if isinstance(out, dict) else None
        if name not in OUTPUTS + EXTRA_OUTPUTS:
            raise unprocessable(
                f"Unknown output {name!r}; this model has the outputs "
                f"{list(OUTPUTS + EXTRA_OUTPUTS)}.",
                "body",
                "outputs",
                i,
            )
        names.append(name)
    return names


def _asks_contributions(parameters: Any) -> bool:
    """Whether the request parameter ``contributions`` is true (it must be a boolean)."""
    if not isinstance(parameters, dict) or "contributions" not in parameters:
        return False
    flag = parameters["contributions"]
    if type(flag) is not bool:
        raise unprocessable(
            f"contributions must be true or false; got {flag!r}.",
            "body",
            "parameters",
            "contributions",
        )
    return flag


def contributions_tensor(model: ServedModel, prediction: Prediction) -> dict[str, Any]:
    """The ``contributions`` output: per row, score and feature, the exact share."""
    parts = model.contributions(prediction.encoded.X)
    scores = model.class_strs[1:] if parts.shape[1] == 1 else model.class_strs
    if parts.shape[1] not in (1, len(model.classes)):  # one-vs-one: a score per pair
        pairs = [(a, b) for i, a in enumerate(model.class_strs) for b in model.class_strs[i + 1 :]]
        scores = [f"{a} vs {b}" for a, b in pairs]
    return {
        "name": "contributions",
        "datatype": "FP64",
        "shape": list(parts.shape),
        "parameters": {
            "scores": orjson.dumps(scores).decode(),
            "features": orjson.dumps([*model.feature_names_out, "(base)"]).decode(),
        },
        "data": parts.ravel(),
    }


def infer_response(
    model: ServedModel, prediction: Prediction, outputs: list[str], request_id: Any
) -> bytes:
    """The JSON body of an infer response."""
    n = len(prediction.index)
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.version_label}
    if request_id is not None:
        body["id"] = request_id
    tensors: list[dict[str, Any]] = []
    for name in outputs:
        if name == "label":
            tensors.append(
                {
                    "name": "label",
                    "datatype": label_datatype(model.classes),
                    "shape": [n],
                    "data": model.class_array[prediction.index].tolist(),
                }
            )
        elif name == "contributions":
            tensors.append(contributions_tensor(model, prediction))
        else:
            k = len(model.classes)
            tensors.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": [n, k],
                    "parameters": {"classes": orjson.dumps(model.class_strs).decode()},
                    "data": prediction.proba.ravel(),
                }
            )
    body["outputs"] = tensors
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
