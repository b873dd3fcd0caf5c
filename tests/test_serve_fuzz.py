"""Thousands of malformed requests: never a 5xx, always a JSON error with a place, and the
server still answers correctly afterwards. Schemathesis drives our own OpenAPI document
(bounded examples, derandomised); a seeded mutation fuzzer covers bodies the schema
cannot describe (broken JSON, wrong nesting, odd types, wrong content types)."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from _serve_helpers import ROW, ROW2, Trained, expected_proba, oip_inputs
from polyclass.serve import ServeConfig, create_app

INFER = "/v2/models/penguins/infer"


def _app(trained: Trained, tmp_path: Path) -> Any:
    config = ServeConfig(
        "penguins:1",
        registry=str(trained.registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        access_log=False,
        max_body_bytes=200_000,
    )
    return create_app(config)


def test_schemathesis_finds_no_server_error(trained: Trained, tmp_path: Path) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", _app(trained, tmp_path))
    n_operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        n_operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (case.path, case.body, response.text)
            if response.status_code >= 400 and response.status_code != 405:
                body = response.json()
                assert isinstance(body["error"], str)
                assert isinstance(body.get("loc", []), list)

        check()
    assert n_operations == 19  # every route but /openapi.json itself


def _valid_bodies() -> list[tuple[str, Any]]:
    rows = [ROW, ROW2]
    return [
        (INFER, {"id": "x", "inputs": oip_inputs(rows)}),
        (
            "/invocations",
            {"dataframe_split": {"columns": list(ROW), "data": [list(r.values()) for r in rows]}},
        ),
        ("/invocations", {"dataframe_records": rows}),
        ("/invocations", {"instances": [list(r.values()) for r in rows]}),
        ("/invocations", {"inputs": {k: [r[k] for r in rows] for k in ROW}}),
        ("/feedback", [{"request_id": "a", "label": "Adelie", "row": 0}]),
    ]


_ODD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**70,
    1e308,
    -0.0,
    "",
    "x" * 300,
    "Dream",
    [],
    [[]],
    {},
    {"a": 1},
    [None],
    ["Dream", 1],
    3.5,
    "NaN",
    [1, [2, [3]]],
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _odd(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(_ODD))


def _mutate(body: Any, rng: random.Random) -> Any:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(body)
        path = rng.choice(paths)
        if not path:
            return _odd(rng)
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = _odd(rng)
        elif action < 0.8:
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "inputs", "data", "shape", "name"])] = _odd(rng)
        else:
            parent.append(_odd(rng))
    return body


@pytest.mark.slow
def test_seeded_fuzzer_gets_only_4xx_and_the_server_keeps_answering(
    trained: Trained, tmp_path: Path
) -> None:
    rng = random.Random(20240605)
    valid = _valid_bodies()
    statuses: dict[int, int] = {}
    with TestClient(_app(trained, tmp_path)) as client:
        for i in range(2500):
            path, body = rng.choice(valid)
            headers = {
                "content-type": rng.choice(
                    ["application/json"] * 8 + ["text/csv", "text/plain", ""]
                )
            }
            kind = rng.random()
            if kind < 0.75:
                content = json.dumps(_mutate(body, rng)).encode()
            elif kind < 0.9:
                raw = json.dumps(body).encode()
                cut = rng.randrange(len(raw))
                content = raw[:cut] + bytes([rng.randrange(256)]) + raw[cut + 1 :]
            else:
                content = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            if rng.random() < 0.05:
                path = rng.choice(
                    [
                        "/v2/models/x/infer",
                        "/v2/models/penguins/versions/0/infer",
                        "/invocations/extra",
                        "/v2/models/penguins",
                    ]
                )
            r = client.post(path, content=content, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (i, path, content[:300], r.text)
            if r.status_code >= 400 and r.status_code != 405:
                assert "error" in r.json() and "loc" in r.json(), r.text
        assert sum(n for code, n in statuses.items() if code >= 400) > 1000
        r = client.post(INFER, json={"inputs": oip_inputs([ROW, ROW2])})
        np.testing.assert_allclose(
            np.reshape(r.json()["outputs"][1]["data"], (2, 3)),
            expected_proba(trained.model_dir, [ROW, ROW2]),
            atol=1e-12,
        )
        assert client.post("/invocations", json={"instances": [ROW]}).json() == {
            "predictions": ["Adelie"]
        }


# ------------------------------------------------------ the binary tensor extension
def _binary_body(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    """A valid binary request for ``rows``: its JSON document and the bytes after it."""
    document: dict[str, Any] = {"inputs": [], "parameters": {"binary_data_output": True}}
    tail = b""
    for tensor in oip_inputs(rows):
        if tensor["datatype"] == "BYTES":
            raw = b"".join(
                len(v.encode()).to_bytes(4, "little") + v.encode() for v in tensor["data"]
            )
        else:
            raw = np.array(tensor["data"], dtype="<f8").tobytes()
        tensor = {k: v for k, v in tensor.items() if k != "data"}
        tensor["parameters"] = {"binary_data_size": len(raw)}
        document["inputs"].append(tensor)
        tail += raw
    return document, tail


@pytest.mark.slow
def test_binary_fuzzer_gets_only_4xx(trained: Trained, tmp_path: Path) -> None:
    rng = random.Random(20261207)
    rows = [ROW, {**ROW2, "sex": "female"}]
    document, tail = _binary_body(rows)
    statuses: dict[int, int] = {}
    with TestClient(_app(trained, tmp_path)) as client:
        for i in range(800):
            doc, raw = copy.deepcopy(document), bytearray(tail)
            kind = rng.random()
            if kind < 0.4:
                doc = _mutate(doc, rng)
            elif kind < 0.7 and raw:
                for _ in range(rng.randint(1, 4)):
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
            elif kind < 0.85:
                tensor = rng.choice(doc["inputs"])
                tensor["parameters"]["binary_data_size"] += rng.choice([-9, -4, -1, 1, 4, 8])
            else:
                raw = raw[: rng.randrange(len(raw) + 1)]
            head = json.dumps(doc).encode()
            header = str(len(head))
            if rng.random() < 0.1:
                header = rng.choice(["", "-1", "x", str(len(head) + rng.randint(-5, 5)), "9" * 30])
            r = client.post(
                INFER,
                content=head + bytes(raw),
                headers={"inference-header-content-length": header},
            )
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (i, head[:300], r.text)
            if r.status_code >= 400:
                assert "error" in r.json() and "loc" in r.json(), r.text
        assert statuses.get(200, 0) > 20 and sum(n for c, n in statuses.items() if c >= 400) > 300
        head = json.dumps(document).encode()
        r = client.post(
            INFER, content=head + tail, headers={"inference-header-content-length": str(len(head))}
        )
        size = int(r.headers["inference-header-content-length"])
        n_label = json.loads(r.content[:size])["outputs"][0]
        proba = np.frombuffer(r.content[size + n_label["parameters"]["binary_data_size"] :], "<f8")
        np.testing.assert_allclose(
            proba.reshape(2, 3), expected_proba(trained.model_dir, rows), atol=1e-12
        )


# --------------------------------------------------------------------------- gRPC
_DATATYPES = ["FP64", "FP32", "FP16", "INT8", "INT32", "INT64", "UINT8", "UINT64", "BOOL"]
_DATATYPES += ["BYTES", "", "fp64", "COMPLEX"]


def _valid_request(raw: bool) -> Any:
    """A good ModelInferRequest for two rows: typed contents, or raw_input_contents."""
    from polyclass.serve._grpc_proto import messages

    request = messages()["ModelInferRequest"](model_name="penguins")
    for tensor in oip_inputs([ROW, {**ROW2, "sex": "female"}]):
        t = request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=[2])
        if tensor["datatype"] == "BYTES":
            values = [v.encode() for v in tensor["data"]]
            if raw:
                request.raw_input_contents.append(
                    b"".join(len(v).to_bytes(4, "little") + v for v in values)
                )
            else:
                t.contents.bytes_contents.extend(values)
        elif raw:
            request.raw_input_contents.append(np.array(tensor["data"], "<f8").tobytes())
        else:
            t.contents.fp64_contents.extend(tensor["data"])
    return request


@st.composite
def _infer_requests(draw: Any) -> Any:
    """A good request with up to three things changed (names, datatypes, shapes, bytes)."""
    raw = draw(st.booleans())
    request = _valid_request(raw)
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.integers(0, len(request.inputs) - 1)) if request.inputs else None
        action = draw(st.integers(0, 8))
        if action == 0:
            request.model_name = draw(st.sampled_from(["x", "", "penguins "]))
        elif action == 1:
            request.model_version = draw(st.sampled_from(["1", "2", "v", " "]))
        elif action == 2 and k is not None:
            request.inputs[k].datatype = draw(st.sampled_from(_DATATYPES))
        elif action == 3 and k is not None:
            shape = draw(st.lists(st.integers(-2, 4) | st.just(2**40), max_size=3))
            del request.inputs[k].shape[:]
            request.inputs[k].shape.extend(shape)
        elif action == 4 and k is not None:
            request.inputs[k].name = draw(st.sampled_from([*ROW, "extra", ""]))
        elif action == 5 and raw and k is not None:
            data = bytearray(request.raw_input_contents[k])
            cut = draw(st.integers(0, len(data)))
            request.raw_input_contents[k] = bytes(data[:cut]) + draw(st.binary(max_size=9))
        elif action == 6 and not raw and k is not None:
            contents = request.inputs[k].contents
            contents.fp64_contents.extend(draw(st.lists(st.floats(), max_size=2)))
            contents.int_contents.extend(draw(st.lists(st.integers(-300, 300), max_size=2)))
            contents.bytes_contents.extend(draw(st.lists(st.binary(max_size=4), max_size=2)))
        elif action == 7 and k is not None:
            del request.inputs[k]
            if raw:
                del request.raw_input_contents[k]
        elif action == 8:
            request.outputs.add(name=draw(st.sampled_from(["label", "probabilities", "x"])))
    return request


def test_grpc_fuzzer_gets_only_client_errors(trained: Trained, tmp_path: Path) -> None:
    import grpc

    from polyclass.serve._grpc_proto import SERVICE, messages

    config = ServeConfig(
        "penguins:1",
        registry=str(trained.registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        access_log=False,
        grpc_port=0,
    )
    app = create_app(config)
    codes: dict[str, int] = {}
    with TestClient(app), grpc.insecure_channel(f"127.0.0.1:{app.state.grpc.port}") as channel:
        infer = channel.unary_unary(
            f"/{SERVICE}/ModelInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=messages()["ModelInferResponse"].FromString,
        )

        @given(request=_infer_requests())
        @settings(
            max_examples=250,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(request: Any) -> None:
            try:
                infer(request, timeout=30)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
                assert exc.code() in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.NOT_FOUND,
                ), (request, exc.details())
                assert exc.details(), request
            codes[code] = codes.get(code, 0) + 1

        check()
        assert codes.get("INVALID_ARGUMENT", 0) > 80 and codes.get("OK", 0) > 20, codes
        request = messages()["ModelInferRequest"](model_name="penguins")
        for tensor in oip_inputs([ROW]):
            t = request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=[1])
            if tensor["datatype"] == "BYTES":
                t.contents.bytes_contents.append(tensor["data"][0].encode())
            else:
                t.contents.fp64_contents.append(tensor["data"][0])
        response = infer(request, timeout=30)
        np.testing.assert_allclose(
            np.reshape(response.outputs[1].contents.fp64_contents, (1, 3)),
            expected_proba(trained.model_dir, [ROW]),
            atol=1e-12,
        )
