"""The binary tensor data extension on the REST routes: tritonclient.http with its defaults
(binary inputs and outputs) against a real server, every datatype against the JSON answer,
and malformed binary bodies answered 4xx with the place of the problem."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from _serve_helpers import ROW, ROW2, ServerProcess, Trained, expected_proba, read_log
from polyclass import LogisticRegression
from polyclass.data import infer_schema
from polyclass.model import Model
from polyclass.preprocess import Preprocessor
from polyclass.serve import ServeConfig, create_app

HEADER = "Inference-Header-Content-Length"
TEXT = ("island", "sex")


def _bytes_tensor(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def binary_body(
    tensors: list[tuple[str, str, list[int], bytes]], **extra: Any
) -> tuple[bytes, int]:
    """A binary infer body: the JSON with binary_data_size per input, then the bytes."""
    document = {
        "inputs": [
            {"name": n, "datatype": t, "shape": s, "parameters": {"binary_data_size": len(raw)}}
            for n, t, s, raw in tensors
        ],
        **extra,
    }
    head = json.dumps(document).encode()
    return head + b"".join(raw for *_, raw in tensors), len(head)


def _post(client: TestClient, path: str, body: bytes, size: int | None) -> Any:
    headers = {"content-type": "application/octet-stream"}
    if size is not None:
        headers[HEADER] = str(size)
    return client.post(path, content=body, headers=headers)


def split_response(response: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The JSON of a binary response and each binary output's bytes."""
    size = int(response.headers[HEADER.lower()])
    head = json.loads(response.content[:size])
    tail = response.content[size:]
    out = {}
    for tensor in head["outputs"]:
        n = tensor.get("parameters", {}).get("binary_data_size")
        if n is not None:
            out[tensor["name"]], tail = tail[:n], tail[n:]
    assert tail == b""
    return head, out


# ---------------------------------------------------------------- a real server
@pytest.fixture(scope="module")
def server(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("binary-server")
    proc = ServerProcess(
        [
            "penguins:1",
            "--registry",
            str(trained.registry),
            "--log-dir",
            str(tmp),
            "--poll-interval",
            "0",
            "--no-access-log",
            "--log-rotate-seconds",
            "0.2",
        ],
        cwd=tmp,
    )
    proc.wait_ready()
    yield proc
    proc.stop()


def _triton_inputs(triton: Any, rows: list[dict[str, Any]], float_type: str) -> list[Any]:
    inputs = []
    for feature in ROW:
        values = [r[feature] for r in rows]
        if feature in TEXT:
            array = np.array(values, dtype=object)
            tensor = triton.InferInput(feature, [len(rows)], "BYTES")
        elif feature == "year":
            array = np.array(values, dtype=np.int64)
            tensor = triton.InferInput(feature, [len(rows)], "INT64")
        else:
            array = np.array(values, dtype=np.float32 if float_type == "FP32" else np.float64)
            tensor = triton.InferInput(feature, [len(rows)], float_type)
        tensor.set_data_from_numpy(array)  # binary_data=True: the client's default
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("float_type", ["FP64", "FP32"])
def test_tritonclient_http_with_its_defaults(
    server: ServerProcess, trained: Trained, float_type: str
) -> None:
    import tritonclient.http as triton

    rows = [ROW, {**ROW2, "sex": "female"}, {**ROW, "island": "Torgersen", "year": 2007}]
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        inputs = _triton_inputs(triton, rows, float_type)
        sent = rows
        if float_type == "FP32":  # the model sees the float32 values, widened exactly
            sent = [
                {
                    k: float(np.float32(v)) if k not in TEXT and k != "year" else v
                    for k, v in r.items()
                }
                for r in rows
            ]
        expected = expected_proba(trained.model_dir, sent)
        # outputs=None: the client asks every output in binary (binary_data_output)
        result = client.infer("penguins", inputs, request_id="bin-1")
        response = result.get_response()
        assert response["id"] == "bin-1" and response["model_version"] == "1"
        assert all("binary_data_size" in o["parameters"] for o in response["outputs"])
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-12)
        labels = [v.decode() for v in result.as_numpy("label")]
        assert labels == [["Adelie", "Chinstrap", "Gentoo"][i] for i in expected.argmax(axis=1)]
        # named outputs, the client's default binary_data=True, one of them JSON
        outputs = [
            triton.InferRequestedOutput("probabilities"),
            triton.InferRequestedOutput("label", binary_data=False),
        ]
        result = client.infer("penguins", inputs, outputs=outputs)
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-12)
        assert [str(v) for v in result.as_numpy("label")] == labels
        assert "data" in result.get_output("label")
        with pytest.raises(triton.InferenceServerException, match="No model named"):
            client.infer("nope", inputs)
    finally:
        client.close()


def test_binary_requests_are_logged(server: ServerProcess, trained: Trained) -> None:
    import httpx

    body, size = binary_body(
        [
            ("island", "BYTES", [2], _bytes_tensor(["Dream", "Biscoe"])),
            ("bill_length_mm", "FP64", [2], np.array([40.1, 47.5]).tobytes()),
            ("bill_depth_mm", "FP64", [2], np.array([18.0, 14.8]).tobytes()),
            ("flipper_length_mm", "FP64", [2], np.array([190.0, 217.0]).tobytes()),
            ("body_mass_g", "FP64", [2], np.array([3800.0, 5200.0]).tobytes()),
            ("sex", "BYTES", [2], _bytes_tensor(["male", "female"])),
            ("year", "INT32", [2], np.array([2008, 2009], dtype="<i4").tobytes()),
        ]
    )
    r = httpx.post(
        server.url + "/v2/models/penguins/infer",
        content=body,
        headers={HEADER: str(size), "x-request-id": "binary-logged-1"},
    )
    assert r.status_code == 200, r.text
    folder = Path(server.stderr_path).parent / "logs" / "penguins" / "predictions"
    table = None
    for _ in range(300):
        table = read_log(folder)
        if table is not None and "binary-logged-1" in table.column("request_id").to_pylist():
            break
        time.sleep(0.05)
    assert table is not None
    ids = table.column("request_id").to_pylist()
    assert ids.count("binary-logged-1") == 2


# ----------------------------------------------------- every datatype, in process
@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with a number, a boolean and a text column."""
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    flag = rng.random(n) > 0.5
    color = rng.choice(["red", "green", "blue"], n)
    y = np.where(x + flag > 0.5, "yes", "no")
    y[(color == "blue") & (x < -0.5)] = "maybe"
    df = pd.DataFrame({"x": x, "flag": flag, "color": color, "target": y})
    schema = infer_schema(df, "target")
    pre = Preprocessor(schema).fit(df)
    est = LogisticRegression(max_iter=300).fit(pre.transform(df), y)
    return Model(schema=schema, preprocessor=pre, estimator=est).save(
        tmp_path_factory.mktemp("mixed") / "mixed"
    )


@pytest.fixture(scope="module")
def mixed(mixed_dir: Path) -> Iterator[TestClient]:
    config = ServeConfig(str(mixed_dir), prediction_log=False, access_log=False, poll_interval=0)
    with TestClient(create_app(config)) as c:
        yield c


MIXED_INFER = "/v2/models/mixed/infer"
X = [0.25, -1.5, 2.0, -0.75]
FLAG = [True, False, True, False]
COLOR = ["red", "blue", "green", "blue"]


def _json_answer(client: TestClient) -> dict[str, Any]:
    r = client.post(
        MIXED_INFER,
        json={
            "inputs": [
                {"name": "x", "datatype": "FP64", "shape": [4], "data": X},
                {"name": "flag", "datatype": "BOOL", "shape": [4], "data": FLAG},
                {"name": "color", "datatype": "BYTES", "shape": [4], "data": COLOR},
            ]
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_bool_bytes_and_floats_in_binary_equal_json(mixed: TestClient) -> None:
    expected = _json_answer(mixed)
    body, size = binary_body(
        [
            ("x", "FP64", [4, 1], np.array(X).tobytes()),
            ("flag", "BOOL", [4], np.array(FLAG, dtype=np.uint8).tobytes()),
            ("color", "BYTES", [4], _bytes_tensor(COLOR)),
        ],
        outputs=[{"name": "label", "parameters": {"binary_data": True}}, {"name": "probabilities"}],
    )
    r = _post(mixed, MIXED_INFER, body, size)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    head, raw = split_response(r)
    labels = [v.decode() for v in _split_bytes(raw["label"])]
    assert labels == expected["outputs"][0]["data"]
    assert head["outputs"][1]["data"] == expected["outputs"][1]["data"]
    # every output in binary through the request parameter
    body, size = binary_body(
        [
            ("x", "FP64", [4], np.array(X).tobytes()),
            ("flag", "BOOL", [4], np.array(FLAG, dtype=np.uint8).tobytes()),
            ("color", "BYTES", [4], _bytes_tensor(COLOR)),
        ],
        parameters={"binary_data_output": True},
    )
    head, raw = split_response(_post(mixed, MIXED_INFER, body, size))
    proba = np.frombuffer(raw["probabilities"], dtype="<f8").reshape(4, -1)
    np.testing.assert_array_equal(proba.ravel(), expected["outputs"][1]["data"])
    assert (
        head["outputs"][1]["parameters"]["classes"]
        == expected["outputs"][1]["parameters"]["classes"]
    )


def _split_bytes(raw: bytes) -> list[bytes]:
    out = []
    while raw:
        (n,) = struct.unpack_from("<I", raw)
        out.append(raw[4 : 4 + n])
        raw = raw[4 + n :]
    return out


@pytest.mark.parametrize(
    "datatype", ["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]
)
def test_integer_datatypes_in_binary(mixed: TestClient, datatype: str) -> None:
    values = [0, 1, 2, 1]
    dtype = np.dtype(datatype.lower()).newbyteorder("<")
    r_json = mixed.post(
        MIXED_INFER,
        json={
            "inputs": [
                {"name": "x", "datatype": "FP64", "shape": [4], "data": values},
                {"name": "flag", "datatype": "BOOL", "shape": [4], "data": FLAG},
                {"name": "color", "datatype": "BYTES", "shape": [4], "data": COLOR},
            ]
        },
    )
    body, size = binary_body(
        [
            ("x", datatype, [4], np.array(values, dtype=dtype).tobytes()),
            ("flag", "BOOL", [4], np.array(FLAG, dtype=np.uint8).tobytes()),
            ("color", "BYTES", [4], _bytes_tensor(COLOR)),
        ]
    )
    r = _post(mixed, MIXED_INFER, body, size)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == r_json.json()["outputs"]


def _good() -> list[tuple[str, str, list[int], bytes]]:
    return [
        ("x", "FP64", [4], np.array(X).tobytes()),
        ("flag", "BOOL", [4], np.array(FLAG, dtype=np.uint8).tobytes()),
        ("color", "BYTES", [4], _bytes_tensor(COLOR)),
    ]


@pytest.mark.parametrize(
    ("change", "status", "loc", "words"),
    [
        (
            lambda t: [*t[:2], ("color", "BYTES", [4], _bytes_tensor(COLOR)[:-2])],
            422,
            ["body", "inputs", 2, "data", 3],
            "declares",
        ),
        (
            lambda t: [*t[:2], ("color", "BYTES", [4], _bytes_tensor(COLOR)[:9])],
            422,
            ["body", "inputs", 2, "data", 1],
            "4-byte length",
        ),
        (
            lambda t: (
                [
                    *t[:2],
                    (
                        "color",
                        "BYTES",
                        [4],
                        _bytes_tensor(["r", "ÿ", "a", "b"]).replace(b"\xc3\xbf", b"\xff\xfe"),
                    ),
                ]
            ),
            422,
            ["body", "inputs", 2, "data"],
            "",
        ),
        (
            lambda t: [("x", "FP64", [4], np.array(X).tobytes()[:-8]), *t[1:]],
            422,
            ["body", "inputs", 0, "data"],
            "32 bytes",
        ),
        (
            lambda t: [t[0], ("flag", "BOOL", [4], bytes([1, 0, 2, 0])), *t[2:]],
            422,
            ["body", "inputs", 1, "data", 2],
            "0 or 1",
        ),
        (
            lambda t: [t[0], ("flag", "FP64", [4], np.zeros(4).tobytes()), *t[2:]],
            422,
            ["body", "inputs", 1, "datatype"],
            "boolean",
        ),
        (
            lambda t: [t[0], ("flag", "BOOL", [2], bytes([1, 0])), *t[2:]],
            422,
            ["body", "inputs", 1, "shape"],
            "rows",
        ),
        (  # the rows disagree: refused from the shapes, before any bytes are decoded
            lambda t: [
                ("x", "FP64", [4], np.array(X).tobytes()[:-8]),
                t[1],
                ("color", "BYTES", [3], _bytes_tensor(COLOR[:3])),
            ],
            422,
            ["body", "inputs", 2, "shape"],
            "has 3 rows; input 'x' has 4",
        ),
        (
            lambda t: [("x", "FP99", [4], np.array(X).tobytes()), *t[1:]],
            422,
            ["body", "inputs", 0, "datatype"],
            "FP99",
        ),
    ],
)
def test_malformed_binary_inputs_are_4xx_with_a_place(
    mixed: TestClient, change: Any, status: int, loc: list[Any], words: str
) -> None:
    body, size = binary_body(change(_good()))
    r = _post(mixed, MIXED_INFER, body, size)
    assert r.status_code == status, r.text
    assert r.json()["loc"][: len(loc)] == loc, r.json()
    assert words in r.json()["error"]


def test_malformed_binary_framing_is_4xx(mixed: TestClient) -> None:
    body, size = binary_body(_good())
    cases = [
        (body, "abc", 400, ["header", "inference-header-content-length"]),
        (body, str(len(body) + 1), 400, ["header", "inference-header-content-length"]),
        (body + b"extra", str(size), 400, ["body"]),
        (body[:-3], str(size), 400, ["body", "inputs", 2, "parameters", "binary_data_size"]),
        (body, str(size - 1), 400, ["body"]),  # the JSON cut short
        (body, "0", 400, ["header", "inference-header-content-length"]),
    ]
    for content, header, status, loc in cases:
        r = mixed.post(MIXED_INFER, content=content, headers={HEADER: header})
        assert r.status_code == status, (header, r.text)
        assert r.json()["loc"] == loc, (header, r.json())
    r = mixed.post(MIXED_INFER, content=body, headers={HEADER: "0"})
    assert "header is 0, but the JSON part cannot be empty" in r.json()["error"]
    for wrong in (size - 5, size + 5):
        r = mixed.post(MIXED_INFER, content=body, headers={HEADER: str(wrong)})
        assert f"the first {wrong} bytes of the body" in r.json()["error"], r.text
    document = json.loads(body[:size])
    document["inputs"][0]["data"] = X
    head = json.dumps(document).encode()
    r = mixed.post(MIXED_INFER, content=head + body[size:], headers={HEADER: str(len(head))})
    assert r.status_code == 422 and r.json()["loc"] == ["body", "inputs", 0, "data"]
    for params, where in [
        ({"binary_data_output": "yes"}, ["body", "parameters", "binary_data_output"]),
        ([], ["body", "parameters"]),
    ]:
        body2, size2 = binary_body(_good(), parameters=params)
        r = _post(mixed, MIXED_INFER, body2, size2)
        assert r.status_code == 422 and r.json()["loc"] == where, r.text
    body3, size3 = binary_body(
        _good(), outputs=[{"name": "label", "parameters": {"binary_data": 1}}]
    )
    r = _post(mixed, MIXED_INFER, body3, size3)
    assert r.status_code == 422, r.text
    assert r.json()["loc"] == ["body", "outputs", 0, "parameters", "binary_data"]
    assert mixed.post(MIXED_INFER, json={"inputs": []}).status_code == 422
    import gzip

    r = mixed.post(
        MIXED_INFER,
        content=gzip.compress(body),
        headers={HEADER: str(size), "content-encoding": "gzip"},
    )
    assert r.status_code == 415 and r.json()["loc"] == ["header", "content-encoding"], r.text
    assert _json_answer(mixed)["model_name"] == "mixed"  # still serving
