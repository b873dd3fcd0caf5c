"""MLflow's scoring format: ``POST /invocations`` bodies in, ``{"predictions": ...}`` out.

JSON bodies carry exactly one of ``dataframe_split`` (``columns`` + ``data`` rows),
``dataframe_records`` (a list of row objects), ``instances`` or ``inputs`` (row
objects, positional rows in the model's column order, or an object of columns), with
an optional ``params`` object. ``text/csv`` bodies have a header line.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from polyclass.preprocess import InputPlan, Table
from polyclass.serve._errors import RequestError, bad_request, unprocessable
from polyclass.serve._fastjson import numeric_rows
from polyclass.serve._jsonbody import duplicate_key
from polyclass.serve._served import Prediction, ServedModel
from polyclass.serve._tables import check_names, from_columns, from_records, from_rows

__all__ = ["FORMATS", "mlflow_response", "parse_invocation"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def parse_json(body: bytes) -> Any:
    """Decode a JSON body, or a 400 naming where it breaks."""
    if not body:
        raise bad_request("The request body is empty; send a JSON object.", "body")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"Malformed JSON: {exc}. Send a valid JSON document (NaN and "
            "Infinity are not JSON; use null for a missing value).",
            "body",
        ) from None
    repeat = duplicate_key(body, document)
    if repeat is not None:
        key, loc = repeat
        raise bad_request(
            f"The key {key!r} appears more than once in one JSON object; send each key "
            "once (which value was meant is ambiguous).",
            "body",
            *loc,
            key,
        )
    return document


def _parse_split(value: Any, plan: InputPlan) -> Table:
    loc: list[str | int] = ["body", "dataframe_split"]
    if not isinstance(value, dict):
        raise unprocessable(
            "dataframe_split must be an object with 'columns' and 'data' "
            f"(pandas' orient='split'); got {type(value).__name__}.",
            *loc,
        )
    unknown = sorted(set(value) - {"columns", "data", "index"})
    if unknown:
        raise unprocessable(
            f"dataframe_split has unknown key(s) {unknown}; it takes "
            "'columns', 'data' and optionally 'index'.",
            *loc,
            unknown[0],
        )
    if "data" not in value:
        raise unprocessable("dataframe_split lacks 'data', the list of rows.", *loc)
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise unprocessable(
            "dataframe_split 'columns' must be a list of column names.", *loc, "columns"
        )
    data = value["data"]
    return from_rows(data, columns, plan, [*loc, "data"])


def _parse_any(key: str, value: Any, plan: InputPlan) -> Table:
    loc: list[str | int] = ["body", key]
    if isinstance(value, dict):
        return from_columns(value, plan, loc)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return from_records(value, plan, loc)
    if isinstance(value, list) and value and not isinstance(value[0], (list, dict)):
        if len(plan.feature_names) == 1:  # one column: each scalar is a row
            return from_rows([[v] for v in value], None, plan, loc)
        return from_rows([value], None, plan, loc)
    return from_rows(value, None, plan, loc)


def _csv_value(plan: InputPlan, name: str, text: str, line: int) -> Any:
    if text == "":
        return None
    kind = plan.kinds[name]
    vt = plan.value_types[name]
    try:
        if kind == "numeric" or vt == "float":
            return float(text)
        if vt == "int":
            number = float(text)
            return int(number) if number.is_integer() else number
        if vt == "bool":
            lower = text.strip().lower()
            if lower in _TRUE or lower in _FALSE:
                return lower in _TRUE
            return text
    except ValueError:
        if name in plan.text_numbers:  # the plan reads it as missing, as training did
            return text
        raise unprocessable(
            f"Column {name!r} expects numbers, but line {line} of the CSV "
            f"holds {text!r}. Send a number, or leave it empty for a missing "
            "value.",
            "body",
            "csv",
            line,
            name,
        ) from None
    return text


def _parse_csv(body: bytes, plan: InputPlan) -> Table:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_request(f"The CSV body is not UTF-8 ({exc}).", "body") from None
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise bad_request(f"Malformed CSV: {exc}.", "body") from None
    if not lines:
        raise bad_request("The CSV body is empty; send a header line and rows.", "body")
    header = [h.strip() for h in lines[0]]
    check_names(header, plan, ["body", "csv", 1])
    rows = [r for r in lines[1:] if r]
    columns: dict[str, list[Any]] = {n: [] for n in header}
    for i, row in enumerate(rows):
        line = i + 2
        if len(row) != len(header):
            raise unprocessable(
                f"Line {line} of the CSV has {len(row)} fields; the header has {len(header)}.",
                "body",
                "csv",
                line,
            )
        for name, field in zip(header, row, strict=True):
            columns[name].append(_csv_value(plan, name, field, line))
    locs: dict[str, tuple[list[str | int], list[str | int]]] = {
        n: (["body", "csv"], [n]) for n in header
    }
    return _CsvTable(len(rows), columns, locs)


class _CsvTable(Table):
    def loc(self, name: str, row: int) -> list[str | int]:
        return ["body", "csv", row + 2, name]  # CSV places are line numbers (1 = header)


def parse_invocation(body: bytes, content_type: str, plan: InputPlan) -> tuple[Table, Any]:
    """The request's rows as a Table, and its ``params`` (or None).

    Raises
    ------
    RequestError
        415 for another content type, 400 for a body that is not JSON/CSV or has no
        single format key, 422 for values that do not fit the model.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return _parse_csv(body, plan), None
    if media not in ("", "application/json", "application/*", "*/*") and not media.endswith(
        "+json"
    ):
        raise RequestError(
            415,
            f"Content type {media!r} is not supported; send "
            "application/json (MLflow's formats) or text/csv.",
            ["header", "content-type"],
        )
    if plan.all_numeric:
        fast = numeric_rows(body, plan.feature_names)
        if fast is not None:  # plain number rows in the model's order, straight to floats
            key, matrix = fast
            loc: list[str | int] = (
                ["body", key, "data"] if key == "dataframe_split" else ["body", key]
            )
            return Table(
                len(matrix),
                matrix=matrix,
                matrix_loc=loc,
                matrix_keys={name: j for j, name in enumerate(plan.feature_names)},
            ), None
    document = parse_json(body)
    if not isinstance(document, dict):
        raise bad_request(
            f"The body must be a JSON object with one of the keys {list(FORMATS)}"
            f"; got a {type(document).__name__}.",
            "body",
        )
    keys = [k for k in FORMATS if k in document]
    unknown = sorted(set(document) - set(FORMATS) - {"params"})
    if unknown:
        raise bad_request(
            f"Unknown key(s) {unknown}; the body takes one of {list(FORMATS)} "
            "and optionally 'params'.",
            "body",
            unknown[0],
        )
    if len(keys) != 1:
        raise bad_request(
            f"The body must hold exactly one of {list(FORMATS)}; it holds {keys or 'none'}.", "body"
        )
    key = keys[0]
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise unprocessable("'params' must be an object.", "body", "params")
    value = document[key]
    if key == "dataframe_split":
        return _parse_split(value, plan), params
    if key == "dataframe_records":
        return from_records(value, plan, ["body", key]), params
    return _parse_any(key, value, plan), params


def mlflow_response(model: ServedModel, prediction: Prediction, *, proba: bool) -> bytes:
    """``{"predictions": [label, ...]}``; with ``proba``, also probabilities and classes."""
    labels = model.class_array[prediction.index].tolist()
    body: dict[str, Any] = {"predictions": labels}
    if proba:
        body["probabilities"] = prediction.proba
        body["classes"] = model.classes
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
