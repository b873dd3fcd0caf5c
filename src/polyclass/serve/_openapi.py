"""The OpenAPI 3.1 document of the server (``GET /openapi.json``), with the served
model's columns in its examples, and the HTML docs page made from it (``GET /docs``).
"""

from __future__ import annotations

import html
import json
from typing import Any

from polyclass import __version__
from polyclass.serve._served import ServedModel

__all__ = ["docs_page", "openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "Malformed body (not JSON, wrong top-level shape).",
        401: "Missing or wrong bearer token.",
        404: "Unknown model name or version.",
        409: "The new version could not be loaded; the old one is still served.",
        413: "Body larger than the limit (10 MB by default).",
        415: "Unsupported content type.",
        422: "Values that do not fit the model: shape, datatype, columns, categories, "
        "missing values. `loc` gives the place.",
    }
    return {
        str(c): {"description": words[c], "content": {"application/json": {"schema": _ERROR}}}
        for c in codes
    }


def _ok(schema: dict[str, Any], description: str = "OK", example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"200": {"description": description, "content": {"application/json": content}}}


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def _tensor_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {
                "type": "string",
                "enum": [
                    "BOOL",
                    "BYTES",
                    "FP16",
                    "FP32",
                    "FP64",
                    "INT8",
                    "INT16",
                    "INT32",
                    "INT64",
                    "UINT8",
                    "UINT16",
                    "UINT32",
                    "UINT64",
                ],
            },
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }


def _oip_example(model: ServedModel) -> dict[str, Any]:
    row = model.plan.example_row()
    inputs = []
    for name, value in row.items():
        kind = model.plan.kinds[name]
        datatype = (
            "FP64"
            if kind == "numeric"
            else ("BOOL" if model.plan.value_types[name] == "bool" else "BYTES")
        )
        inputs.append({"name": name, "shape": [1], "datatype": datatype, "data": [value]})
    return {"id": "req-1", "inputs": inputs}


def openapi_document(model: ServedModel) -> dict[str, Any]:
    """The OpenAPI document, examples built from ``model``'s columns."""
    row = model.plan.example_row()
    names = list(row)
    invocation_examples = {
        "dataframe_split": {
            "value": {"dataframe_split": {"columns": names, "data": [list(row.values())]}}
        },
        "dataframe_records": {"value": {"dataframe_records": [row]}},
        "instances": {"value": {"instances": [row]}},
        "inputs": {"value": {"inputs": {k: [v] for k, v in row.items()}}},
    }
    infer_request = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {
                "type": "object",
                "properties": {
                    "contributions": {
                        "type": "boolean",
                        "description": "Also answer the output `contributions` (linear and "
                        "boosting models): each preprocessed feature's exact share of each "
                        "raw score, `[n, n_scores, n_features + 1]`, the last the base value.",
                    }
                },
            },
            "inputs": {"type": "array", "minItems": 1, "items": _tensor_schema()},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "enum": ["label", "probabilities", "contributions"],
                        }
                    },
                },
            },
        },
    }
    infer_response = {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": _tensor_schema()},
        },
    }
    infer_op = {
        "summary": "Predict (Open Inference Protocol v2)",
        "description": "One numeric tensor `[n, n_features]` (all-numeric models) or one "
        "tensor per column named after it (numeric: FP*/INT*, categorical "
        "text: BYTES, boolean: BOOL; `null` = missing). Outputs `label` and "
        "`probabilities` (`[n, n_classes]`, class order in its parameters). Binary "
        "tensor extension: with the header `Inference-Header-Content-Length: N` the body is "
        "N bytes of JSON, then the bytes of every input whose parameters give "
        "`binary_data_size` (little-endian; BOOL one byte a value; BYTES elements each "
        "after a 4-byte length); outputs asked with `parameters.binary_data` (or all, with "
        "the request parameter `binary_data_output`) follow the response's JSON, whose "
        "length the response's header names. The same calls over gRPC: "
        '`polyclass serve --grpc-port`. With `parameters: {"contributions": true}` '
        "also the output `contributions` (linear and boosting models; its parameters "
        "name the `scores` and `features`).",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": infer_request, "example": _oip_example(model)},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "responses": {**_ok(infer_response), **_errors(400, 404, 413, 415, 422)},
    }
    metadata = {
        "type": "object",
        "required": ["name", "versions", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "platform": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "inputs": {"type": "array"},
            "outputs": {"type": "array"},
        },
    }
    ready = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    }
    plain = {"type": "object"}
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    feedback_item = {
        "type": "object",
        "required": ["request_id", "label"],
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "label": {"type": ["string", "number", "boolean"]},
            "row": {"type": "integer", "minimum": -1},
        },
    }
    paths: dict[str, Any] = {
        "/v2": {"get": {"summary": "Server metadata", "responses": _ok(plain)}},
        "/v2/health/live": {"get": {"summary": "Liveness", "responses": _ok(ready)}},
        "/v2/health/ready": {
            "get": {"summary": "Readiness (503 while shutting down)", "responses": _ok(ready)}
        },
        "/v2/models/{name}": {
            "get": {
                "summary": "Model metadata: inputs, outputs, loaded version",
                "parameters": _path_params("name"),
                "responses": {**_ok(metadata), **_errors(404)},
            }
        },
        "/v2/models/{name}/versions/{version}": {
            "get": {
                "summary": "Metadata of a loaded version",
                "parameters": _path_params("name", "version"),
                "responses": {**_ok(metadata), **_errors(404)},
            }
        },
        "/v2/models/{name}/ready": {
            "get": {
                "summary": "Model readiness",
                "parameters": _path_params("name"),
                "responses": {**_ok(ready), **_errors(404)},
            }
        },
        "/v2/models/{name}/versions/{version}/ready": {
            "get": {
                "summary": "Version readiness",
                "parameters": _path_params("name", "version"),
                "responses": {**_ok(ready), **_errors(404)},
            }
        },
        "/v2/models/{name}/infer": {"post": {**infer_op, "parameters": _path_params("name")}},
        "/v2/models/{name}/versions/{version}/infer": {
            "post": {**infer_op, "parameters": _path_params("name", "version")}
        },
        "/invocations": {
            "post": {
                "summary": "Predict (MLflow scoring format)",
                "description": "JSON with exactly one of `dataframe_split`, `dataframe_records`, "
                "`instances`, `inputs` (optional `params`), or `text/csv` with a "
                'header. Answers `{"predictions": [label, ...]}`; with '
                "`?probabilities=true` also `probabilities` and `classes`.",
                "parameters": [
                    {
                        "name": "probabilities",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object"},
                            "examples": invocation_examples,
                        },
                        "text/csv": {
                            "schema": {"type": "string"},
                            "example": ",".join(names)
                            + "\n"
                            + ",".join(str(v) for v in row.values())
                            + "\n",
                        },
                    },
                },
                "responses": {
                    **_ok(
                        {
                            "type": "object",
                            "required": ["predictions"],
                            "properties": {"predictions": {"type": "array"}},
                        }
                    ),
                    **_errors(400, 404, 413, 415, 422),
                },
            }
        },
        "/ping": {"get": {"summary": "Health (MLflow)", "responses": _ok(plain)}},
        "/health": {"get": {"summary": "Health (MLflow)", "responses": _ok(plain)}},
        "/version": {"get": {"summary": "Server and model versions", "responses": _ok(plain)}},
        "/feedback": {
            "post": {
                "summary": "Ground-truth labels for earlier predictions",
                "description": "`{request_id, label[, row]}`, a list of them, or `{items: "
                "[...]}`. `request_id` is the prediction's `X-Request-ID`. "
                "Needs the bearer token when the server has tokens.",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [feedback_item, {"type": "array", "items": feedback_item}]
                            },
                            "example": {"request_id": "3f2a...", "label": model.classes[0]},
                        }
                    },
                },
                "responses": {
                    **_ok({"type": "object", "properties": {"accepted": {"type": "integer"}}}),
                    **_errors(400, 401, 413, 422),
                },
            }
        },
        "/admin/reload": {
            "post": {
                "summary": "Look up the followed reference now and switch if it moved",
                "security": bearer,
                "responses": {**_ok(plain), **_errors(401, 409)},
            }
        },
        "/admin/routing": {
            "get": {
                "summary": "Canary and shadow: versions, split, shadow agreement and drops",
                "responses": {**_ok(plain), **_errors(404)},
            },
            "post": {
                "summary": 'Change the canary split: {"canary_percent": P}, P from 0 to 100',
                "security": bearer,
                "responses": {**_ok(plain), **_errors(401, 404, 422)},
            },
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": _ok(plain)}},
        "/docs": {
            "get": {
                "summary": "The docs page",
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"polyclass serve: {model.name}",
            "version": __version__,
            "description": f"Serves model {model.name!r} version "
            f"{model.version_label}. Every response has the headers "
            "X-Request-ID and X-Model-Version.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    },
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page describing every route of ``document``."""
    parts = [
        f"<h1>{html.escape(document['info']['title'])}</h1>",
        f"<p>{html.escape(document['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            parts.append(f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>")
            parts.append(f"<p><b>{html.escape(op.get('summary', ''))}</b></p>")
            if "description" in op:
                parts.append(f"<p>{html.escape(op['description'])}</p>")
            if op.get("security"):
                parts.append(
                    "<p>Needs <code>Authorization: Bearer &lt;token&gt;</code> when "
                    "the server has tokens.</p>"
                )
            body = op.get("requestBody", {}).get("content", {})
            for media, spec in body.items():
                examples = spec.get("examples") or (
                    {"example": {"value": spec["example"]}} if "example" in spec else {}
                )
                for label, ex in examples.items():
                    value = ex["value"]
                    text = value if isinstance(value, str) else json.dumps(value, indent=2)
                    parts.append(
                        f"<p>Request ({html.escape(media)}, {html.escape(label)}):"
                        f"</p><pre>{html.escape(text)}</pre>"
                    )
            codes = ", ".join(
                f"{c} ({html.escape(r['description'])})" for c, r in op["responses"].items()
            )
            parts.append(f"<p>Responses: {codes}</p></section>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}"
        "section{border-top:1px solid #ddd}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(document['info']['title'])}</title><style>{style}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
