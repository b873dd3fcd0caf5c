"""The Open Inference Protocol over gRPC: tritonclient.grpc against a real ``polyclass serve
--grpc-port`` process (metadata, raw tensors, errors as status codes), the same server's
metrics, prediction log and hot swap shared with HTTP, and the committed descriptor equal
to the .proto compiled again and to the field numbers tritonclient uses."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from _serve_helpers import ROW, ROW2, ServerProcess, Trained, expected_proba, free_port, read_log
from polyclass.serve._grpc_proto import DESCRIPTOR, SERVICE, compile_proto, messages

TEXT = ("island", "sex")


@pytest.fixture(scope="module")
def registry(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("grpc-registry") / "registry"
    shutil.copytree(trained.registry, copy)
    return copy


@pytest.fixture(scope="module")
def server(registry: Path) -> Iterator[tuple[ServerProcess, int]]:
    tmp = registry.parent
    grpc_port = free_port()
    proc = ServerProcess(
        [
            "penguins@production",
            "--registry",
            str(registry),
            "--log-dir",
            str(tmp),
            "--poll-interval",
            "0.2",
            "--log-rotate-seconds",
            "0.2",
            "--max-body-mb",
            "0.05",
            "--grpc-port",
            str(grpc_port),
        ],
        cwd=tmp,
    )
    proc.wait_ready()
    yield proc, grpc_port
    proc.stop()


@pytest.fixture()
def client(server: tuple[ServerProcess, int]) -> Iterator[Any]:
    import tritonclient.grpc as triton

    c = triton.InferenceServerClient(url=f"127.0.0.1:{server[1]}")
    yield c
    c.close()


def _inputs(triton: Any, rows: list[dict[str, Any]]) -> list[Any]:
    inputs = []
    for feature in ROW:
        values = [r[feature] for r in rows]
        if feature in TEXT:
            tensor = triton.InferInput(feature, [len(rows)], "BYTES")
            tensor.set_data_from_numpy(np.array(values, dtype=object))
        else:
            tensor = triton.InferInput(feature, [len(rows), 1], "FP64")
            tensor.set_data_from_numpy(np.array(values, dtype=np.float64).reshape(-1, 1))
        inputs.append(tensor)
    return inputs


def test_tritonclient_grpc_speaks_to_the_server(client: Any, trained: Trained) -> None:
    import tritonclient.grpc as triton

    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("penguins") and client.is_model_ready("penguins", "1")
    meta = client.get_server_metadata()
    assert meta.name == "polyclass" and "binary_tensor_data" in meta.extensions
    model = client.get_model_metadata("penguins")
    assert list(model.versions) == ["1"] and model.platform == "polyclass"
    assert [t.name for t in model.inputs] == list(ROW)
    assert [(t.name, t.datatype, list(t.shape)) for t in model.outputs] == [
        ("label", "BYTES", [-1]),
        ("probabilities", "FP64", [-1, 3]),
    ]
    rows = [ROW, {**ROW2, "sex": "female"}]
    result = client.infer("penguins", _inputs(triton, rows), request_id="g-1")
    response = result.get_response()
    assert response.id == "g-1" and response.model_version == "1"
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected_proba(trained.model_dir, rows), atol=1e-12
    )
    assert [v.decode() for v in result.as_numpy("label")] == ["Adelie", "Gentoo"]
    outputs = [triton.InferRequestedOutput("label")]
    result = client.infer("penguins", _inputs(triton, rows), outputs=outputs)
    assert [o.name for o in result.get_response().outputs] == ["label"]


def _code(exc: Any) -> str:
    return str(exc.status())


@pytest.mark.parametrize(
    ("model", "version", "change", "code", "words"),
    [
        ("nope", "", None, "NOT_FOUND", "No model named 'nope'"),
        ("penguins", "7", None, "NOT_FOUND", "Version '7'"),
        ("penguins", "", ("island", "FP64"), "INVALID_ARGUMENT", "inputs[0].datatype"),
        ("penguins", "", ("year", "BYTES"), "INVALID_ARGUMENT", "inputs[6].datatype"),
        ("penguins", "", ("sex", None), "INVALID_ARGUMENT", "'sex'"),
    ],
)
def test_errors_are_status_codes_naming_the_place(
    client: Any, model: str, version: str, change: Any, code: str, words: str
) -> None:
    import tritonclient.grpc as triton

    inputs = _inputs(triton, [ROW])
    if change is not None:
        name, datatype = change
        k = list(ROW).index(name)
        if datatype is None:
            inputs.pop(k)
        else:
            tensor = triton.InferInput(name, [1], datatype)
            value = np.array(
                [1.5] if datatype == "FP64" else ["x"],
                dtype=object if datatype == "BYTES" else np.float64,
            )
            tensor.set_data_from_numpy(value)
            inputs[k] = tensor
    with pytest.raises(triton.InferenceServerException) as info:
        client.infer(model, inputs, model_version=version)
    assert code in _code(info.value), info.value
    assert words in info.value.message(), info.value.message()
    assert client.is_server_ready()


def _stub(port: int) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    m = messages()

    def call(method: str, request: Any, response: str, **kwargs: Any) -> Any:
        """The answer, and the call (its trailing metadata) when ``with_call`` is true."""
        stub = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=m[response].FromString,
        )
        if kwargs.pop("with_call", False):
            return stub.with_call(request, **kwargs)
        return stub(request, **kwargs)

    return channel, call


def _typed_request(rows: list[dict[str, Any]], **kwargs: Any) -> Any:
    m = messages()
    request = m["ModelInferRequest"](model_name="penguins", **kwargs)
    for feature in ROW:
        tensor = request.inputs.add(name=feature, shape=[len(rows)])
        values = [r[feature] for r in rows]
        if feature in TEXT:
            tensor.datatype = "BYTES"
            tensor.contents.bytes_contents.extend(v.encode() for v in values)
        else:
            tensor.datatype = "FP64"
            tensor.contents.fp64_contents.extend(values)
    return request


def test_typed_contents_in_and_out(server: tuple[ServerProcess, int], trained: Trained) -> None:
    channel, call = _stub(server[1])
    try:
        rows = [ROW, {**ROW2, "sex": "male"}]
        response, rpc = call(
            "ModelInfer",
            _typed_request(rows, id="t-1"),
            "ModelInferResponse",
            metadata=[("x-request-id", "typed-grpc-1")],
            with_call=True,
        )
        # the request's own id wins over the metadata; it is the one logged and answered
        trailing = dict(rpc.trailing_metadata())
        assert trailing == {"x-request-id": "t-1", "x-model-version": "1"}
        assert response.id == "t-1" and not response.raw_output_contents
        label, proba = response.outputs
        assert [v.decode() for v in label.contents.bytes_contents] == ["Adelie", "Gentoo"]
        np.testing.assert_allclose(
            np.reshape(proba.contents.fp64_contents, (2, 3)),
            expected_proba(trained.model_dir, rows),
            atol=1e-12,
        )
        assert proba.parameters["classes"].string_param == '["Adelie","Chinstrap","Gentoo"]'
        bad = _typed_request(rows)
        del bad.inputs[1].contents.fp64_contents[:]
        with pytest.raises(grpc.RpcError) as info:
            call("ModelInfer", bad, "ModelInferResponse")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "fp64_contents holds 0" in info.value.details()
        assert "inputs[1].contents.fp64_contents" in info.value.details()
        response = call(
            "ModelInfer",
            _typed_request(rows),
            "ModelInferResponse",
            metadata=[("x-request-id", "typed-grpc-1")],
        )
        assert response.id == "typed-grpc-1"
        two = _typed_request(rows)
        two.inputs[1].contents.fp32_contents.extend([1.0, 2.0])
        with pytest.raises(grpc.RpcError) as info:
            call("ModelInfer", two, "ModelInferResponse")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "inputs[1].contents.fp32_contents" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            call("ModelInfer", _typed_request(rows, id="has space"), "ModelInferResponse")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "(at id)" in info.value.details(), info.value.details()
        raw = _typed_request(rows)
        raw.raw_input_contents.append(b"\x00" * 16)
        with pytest.raises(grpc.RpcError) as info:
            call("ModelInfer", raw, "ModelInferResponse")
        assert "one per input" in info.value.details()
    finally:
        channel.close()


def test_size_limit_is_resource_exhausted(server: tuple[ServerProcess, int]) -> None:
    channel, call = _stub(server[1])
    try:
        rows = [ROW] * 2000  # about 100 kB against --max-body-mb 0.05
        with pytest.raises(grpc.RpcError) as info:
            call("ModelInfer", _typed_request(rows), "ModelInferResponse")
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        ready = call("ServerReady", messages()["ServerReadyRequest"](), "ServerReadyResponse")
        assert ready.ready
    finally:
        channel.close()


def test_metrics_log_and_hot_swap_are_shared_with_http(
    server: tuple[ServerProcess, int], registry: Path, trained: Trained
) -> None:
    import tritonclient.grpc as triton

    proc, port = server
    client = triton.InferenceServerClient(url=f"127.0.0.1:{port}")
    try:
        result = client.infer(
            "penguins", _inputs(triton, [ROW, ROW2, ROW]), headers={"x-request-id": "grpc-log-1"}
        )
        assert result.get_response().model_version == "1"
        metrics = httpx.get(proc.url + "/metrics").text
        assert 'polyclass_grpc_requests_total{code="OK",method="ModelInfer"}' in metrics
        assert 'polyclass_predictions_total{label="Adelie",model="penguins",version="1"}' in metrics
        folder = registry.parent / "logs" / "penguins" / "predictions"
        table = None
        for _ in range(200):
            table = read_log(folder)
            if table is not None and "grpc-log-1" in table.column("request_id").to_pylist():
                break
            time.sleep(0.05)
        assert table is not None
        assert table.column("request_id").to_pylist().count("grpc-log-1") == 3
        # tritonclient's request_id (ModelInferRequest.id) is the id logged, as X-Request-ID
        result = client.infer("penguins", _inputs(triton, [ROW2]), request_id="grpc-own-1")
        assert result.get_response().id == "grpc-own-1"
        for _ in range(200):
            table = read_log(folder)
            if "grpc-own-1" in table.column("request_id").to_pylist():
                break
            time.sleep(0.05)
        assert table.column("request_id").to_pylist().count("grpc-own-1") == 1
        from polyclass.registry import Registry

        with Registry(str(registry)) as reg:
            reg.promote("penguins", 2)
        version = "1"
        for _ in range(300):
            result = client.infer("penguins", _inputs(triton, [ROW]))
            version = result.get_response().model_version
            if version == "2":
                break
            time.sleep(0.05)
        assert version == "2"
        np.testing.assert_allclose(
            result.as_numpy("probabilities"), expected_proba(trained.v2_dir, [ROW]), atol=1e-12
        )
        assert client.is_model_ready("penguins", "2") and not _ready(client, "1")
    finally:
        client.close()


def _ready(client: Any, version: str) -> bool:
    import tritonclient.grpc as triton

    try:
        return bool(client.is_model_ready("penguins", version))
    except triton.InferenceServerException:
        return False


def test_committed_descriptor_is_the_proto_compiled() -> None:
    assert compile_proto() == DESCRIPTOR, "run: python -m polyclass.serve._grpc_proto"


def test_field_numbers_match_tritonclients() -> None:
    from tritonclient.grpc import service_pb2

    ours = messages()

    def fields(descriptor: Any) -> dict[str, Any]:
        out = {}
        for f in descriptor.fields:
            out[f.name] = (f.number, f.type, f.label if hasattr(f, "label") else None)
        for nested in descriptor.nested_types:
            if not nested.GetOptions().map_entry:
                out[nested.name] = fields(nested)
        return out

    for name, cls in ours.items():
        theirs = getattr(service_pb2, name).DESCRIPTOR
        mine = fields(cls.DESCRIPTOR)
        other = fields(theirs)
        for key, value in mine.items():  # Triton's messages add fields, never renumber ours
            assert other[key] == value if not isinstance(value, dict) else True, (name, key)
            if isinstance(value, dict):
                for k, v in value.items():
                    assert other[key][k] == v, (name, key, k)


def test_cli_refuses_a_bad_grpc_port(tmp_path: Path, trained: Trained) -> None:
    from typer.testing import CliRunner

    from polyclass.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["serve", str(trained.model_dir), "--port", "9123", "--grpc-port", "9123"]
    )
    assert result.exit_code == 2 and "give gRPC a port of its own" in result.output
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", str(trained.model_dir), "--grpc-port", str(port)])
    assert result.exit_code == 2 and f"Cannot listen for gRPC on 127.0.0.1:{port}" in result.output


def test_repository_model_load_reloads_with_a_token(trained: Trained, tmp_path: Path) -> None:
    import tritonclient.grpc as triton
    from starlette.testclient import TestClient

    from polyclass.registry import Registry
    from polyclass.serve import ServeConfig, create_app

    registry = tmp_path / "registry"
    shutil.copytree(trained.registry, registry)
    token = "grpc-token-0123456789abcdef"
    (tmp_path / "tokens").write_text(token + "\n")
    config = ServeConfig(
        "penguins@production",
        registry=str(registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        access_log=False,
        token_file=str(tmp_path / "tokens"),
        grpc_port=0,
    )
    app = create_app(config)
    with TestClient(app):
        client = triton.InferenceServerClient(url=f"127.0.0.1:{app.state.grpc.port}")
        try:
            with Registry(str(registry)) as reg:
                reg.promote("penguins", 2)
            for headers, words in [
                (None, "RepositoryModelLoad needs a token"),
                ({"authorization": "Bearer wrong-token-0123456789"}, "not valid"),
                ({"authorization": token}, "must follow the 'Bearer ' scheme"),
            ]:
                with pytest.raises(triton.InferenceServerException) as info:
                    client.load_model("penguins", headers=headers)
                assert "UNAUTHENTICATED" in _code(info.value) and words in info.value.message()
            assert client.get_model_metadata("penguins").versions == ["1"]
            good = {"authorization": f"Bearer {token}"}
            with pytest.raises(triton.InferenceServerException, match="No model named"):
                client.load_model("other", headers=good)
            client.load_model("penguins", headers=good)
            assert client.get_model_metadata("penguins").versions == ["2"]
            result = client.infer("penguins", _inputs(triton, [ROW]))
            assert result.get_response().model_version == "2"
        finally:
            client.close()


def test_canary_split_applies_to_grpc_calls(trained: Trained, tmp_path: Path) -> None:
    import tritonclient.grpc as triton
    from starlette.testclient import TestClient

    from polyclass.serve import ServeConfig, create_app

    config = ServeConfig(
        "penguins:1",
        registry=str(trained.registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        access_log=False,
        prediction_log=False,
        canary="penguins:2=50",
        grpc_port=0,
    )
    app = create_app(config)
    with TestClient(app) as http:
        client = triton.InferenceServerClient(url=f"127.0.0.1:{app.state.grpc.port}")
        try:
            seen = {}
            for i in range(40):
                key = f"user-{i}"
                result = client.infer(
                    "penguins", _inputs(triton, [ROW]), headers={"x-routing-key": key}
                )
                version = result.get_response().model_version
                again = client.infer(
                    "penguins", _inputs(triton, [ROW]), headers={"x-routing-key": key}
                )
                assert again.get_response().model_version == version  # sticky by key
                seen[key] = version
                rest = http.post(
                    "/v2/models/penguins/infer",
                    json={"inputs": _json_inputs([ROW])},
                    headers={"x-routing-key": key},
                )
                assert rest.json()["model_version"] == version  # the same split as HTTP
            assert set(seen.values()) == {"1", "2"}
            pinned = client.infer("penguins", _inputs(triton, [ROW]), model_version="2")
            assert pinned.get_response().model_version == "2"
        finally:
            client.close()


def _json_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from _serve_helpers import oip_inputs

    return oip_inputs(rows)
