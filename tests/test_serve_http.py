"""The server in process (Starlette's TestClient): every route, format, header and error."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from _serve_helpers import (
    ROW,
    ROW2,
    Trained,
    expected_proba,
    oip_inputs,
    read_log,
)
from polyclass.serve import ServeConfig, create_app

INFER = "/v2/models/penguins/infer"


@pytest.fixture()
def served(trained: Trained, tmp_path: Path) -> Iterator[tuple[TestClient, io.StringIO, Path]]:
    log = io.StringIO()
    config = ServeConfig(
        "penguins@production",
        registry=str(trained.registry),
        log_dir=str(tmp_path),
        poll_interval=0,
    )
    with TestClient(create_app(config, access_stream=log)) as client:
        yield client, log, tmp_path


def test_oip_metadata_and_health(served: Any) -> None:
    client, _, _ = served
    assert client.get("/v2").json()["name"] == "polyclass"
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2/models/penguins").json()
    assert meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(ROW)
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["island"] == "BYTES"
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
    assert client.get("/v2/models/penguins/versions/1").status_code == 200
    assert client.get("/v2/models/penguins/ready").json() == {"name": "penguins", "ready": True}
    assert client.get("/v2/models/penguins/versions/1/ready").status_code == 200


def test_oip_infer_matches_the_loaded_model(served: Any, trained: Trained) -> None:
    client, _, _ = served
    r = client.post(INFER, json={"id": "q1", "inputs": oip_inputs([ROW, ROW2])})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "penguins" and body["model_version"] == "1"
    assert body["id"] == "q1"
    assert r.headers["x-model-version"] == "1"
    label, proba = body["outputs"]
    assert label["shape"] == [2] and proba["shape"] == [2, 3]
    assert json.loads(proba["parameters"]["classes"]) == ["Adelie", "Chinstrap", "Gentoo"]
    expected = expected_proba(trained.model_dir, [ROW, ROW2])
    np.testing.assert_allclose(np.reshape(proba["data"], (2, 3)), expected, atol=1e-12)
    assert label["data"] == ["Adelie", "Gentoo"]
    only = client.post(
        INFER, json={"inputs": oip_inputs([ROW]), "outputs": [{"name": "label"}]}
    ).json()
    assert [o["name"] for o in only["outputs"]] == ["label"]
    assert (
        client.post(
            "/v2/models/penguins/versions/1/infer", json={"inputs": oip_inputs([ROW])}
        ).status_code
        == 200
    )


def test_mlflow_formats_agree(served: Any) -> None:
    client, _, _ = served
    rows = [ROW, ROW2]
    bodies = [
        {"dataframe_split": {"columns": list(ROW), "data": [list(r.values()) for r in rows]}},
        {
            "dataframe_split": {
                "columns": list(ROW)[::-1],
                "data": [list(r.values())[::-1] for r in rows],
            }
        },
        {"dataframe_records": rows},
        {"instances": rows},
        {"instances": [list(r.values()) for r in rows]},
        {"inputs": {k: [r[k] for r in rows] for k in ROW}},
        {"inputs": rows, "params": {"anything": 1}},
    ]
    for body in bodies:
        r = client.post("/invocations", json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json() == {"predictions": ["Adelie", "Gentoo"]}
    csv = (
        ",".join(ROW)
        + "\n"
        + "\n".join(",".join("" if v is None else str(v) for v in r.values()) for r in rows)
        + "\n"
    )
    r = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert r.json() == {"predictions": ["Adelie", "Gentoo"]}
    r = client.post("/invocations?probabilities=true", json={"dataframe_records": rows})
    assert r.json()["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert np.allclose(np.sum(r.json()["probabilities"], axis=1), 1.0)
    single = client.post("/invocations", json={"inputs": dict(ROW)})
    assert single.json() == {"predictions": ["Adelie"]}
    for path in ("/ping", "/health", "/version"):
        assert client.get(path).json()["model_version"] == "1"


def _err(client: TestClient, path: str, body: Any, ctype: str = "application/json") -> Any:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, content=content, headers={"content-type": ctype})


BAD: list[tuple[str, Any, int, list[Any], str]] = [
    ("/invocations", b"{not json", 400, ["body"], "Malformed JSON"),
    ("/invocations", b"", 400, ["body"], "empty"),
    ("/invocations", [1, 2], 400, ["body"], "JSON object"),
    ("/invocations", {"rows": []}, 400, ["body", "rows"], "Unknown key"),
    ("/invocations", {"instances": [ROW], "inputs": [ROW]}, 400, ["body"], "exactly one"),
    (
        "/invocations",
        {"dataframe_records": [{**ROW, "island": 3}]},
        422,
        ["body", "dataframe_records", 0, "island"],
        "expects text",
    ),
    (
        "/invocations",
        {"dataframe_records": [{**ROW, "year": "2008"}]},
        422,
        ["body", "dataframe_records", 0, "year"],
        "expects numbers",
    ),
    (
        "/invocations",
        {"dataframe_records": [{**ROW, "species": "Adelie"}]},
        422,
        ["body", "dataframe_records"],
        "Unknown column",
    ),
    (
        "/invocations",
        {"dataframe_records": [{k: v for k, v in ROW.items() if k != "sex"}]},
        422,
        ["body", "dataframe_records"],
        "Missing column",
    ),
    (
        "/invocations",
        {"dataframe_split": {"columns": list(ROW), "data": [[1, 2]]}},
        422,
        ["body", "dataframe_split", "data", 0],
        "expected a list of 7",
    ),
    (
        "/invocations",
        {"dataframe_split": {"columns": [*list(ROW)[:-1], "island"], "data": []}},
        422,
        ["body", "dataframe_split", "columns", 6],
        "twice",
    ),
    (
        "/invocations",
        {"inputs": {**{k: [v] for k, v in ROW.items()}, "year": [1, 2]}},
        422,
        ["body", "inputs"],
        "different lengths",
    ),
    ("/invocations", "a,b\n1,2\n", 422, ["body", "csv", 1], "Unknown column"),
    (INFER, {"inputs": []}, 422, ["body", "inputs"], "non-empty"),
    (
        INFER,
        {"inputs": [{"name": "x", "shape": [1, 7], "datatype": "FP64", "data": [1] * 7}]},
        422,
        ["body", "inputs"],
        "categorical",
    ),
    (INFER, {"inputs": oip_inputs([ROW])[:-1]}, 422, ["body", "inputs"], "Missing column"),
    (
        INFER,
        {
            "inputs": [
                *oip_inputs([ROW]),
                {"name": "zz", "shape": [1], "datatype": "FP64", "data": [1.0]},
            ]
        },
        422,
        ["body", "inputs"],
        "Unknown column",
    ),
    (
        INFER,
        {"inputs": [{**t, "shape": [2]} if t["name"] == "year" else t for t in oip_inputs([ROW])]},
        422,
        ["body", "inputs", 6, "data"],
        "holds 1 values",
    ),
    (
        INFER,
        {
            "inputs": [
                {**t, "datatype": "FP64"} if t["name"] == "island" else t for t in oip_inputs([ROW])
            ]
        },
        422,
        ["body", "inputs", 0, "datatype"],
        "BYTES",
    ),
    (
        INFER,
        {"inputs": [{**t, "data": ["x"]} if t["name"] == "year" else t for t in oip_inputs([ROW])]},
        422,
        ["body", "inputs", 6, "data", 0],
        "FP64",
    ),
    (
        INFER,
        {"inputs": oip_inputs([ROW]), "outputs": [{"name": "logits"}]},
        422,
        ["body", "outputs", 0],
        "Unknown output",
    ),
    (
        "/v2/models/other/infer",
        {"inputs": oip_inputs([ROW])},
        404,
        ["path", "name"],
        "No model named",
    ),
    (
        "/v2/models/penguins/versions/9/infer",
        {"inputs": oip_inputs([ROW])},
        404,
        ["path", "version"],
        "not loaded",
    ),
    ("/feedback", {"label": "Adelie"}, 422, ["body", "request_id"], "request_id"),
    ("/feedback", {"items": []}, 422, ["body", "items"], "non-empty"),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD)])
def test_bad_input_is_4xx_with_its_place(
    served: Any, case: tuple[str, Any, int, list[Any], str]
) -> None:
    client, _, _ = served
    path, body, status, loc, words = case
    ctype = "text/csv" if isinstance(body, str) else "application/json"
    r = _err(client, path, body, ctype)
    assert r.status_code == status, r.text
    assert r.json()["loc"] == loc
    assert words in r.json()["error"]
    assert r.headers["x-model-version"] == "1"


def test_wrong_content_type_route_and_method(served: Any) -> None:
    client, _, _ = served
    binary = client.post(
        INFER,
        content=b"{}\x00\x01",
        headers={
            "inference-header-content-length": "2",
            "content-type": "application/octet-stream",
        },
    )
    # the binary tensor extension is read (tests/test_serve_binary.py): here, no inputs
    assert binary.status_code == 422 and binary.json()["loc"] == ["body", "inputs"]
    assert _err(client, "/invocations", b"x", "application/xml").status_code == 415
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["loc"] == ["path"]
    assert client.get("/invocations").status_code == 405


def test_request_id_and_size_limit(trained: Trained, tmp_path: Path) -> None:
    config = ServeConfig(
        str(trained.model_dir), log_dir=str(tmp_path), max_body_bytes=2000, access_log=False
    )
    with TestClient(create_app(config)) as client:
        r = client.post(
            "/invocations", json={"dataframe_records": [ROW]}, headers={"x-request-id": "order-17"}
        )
        assert r.headers["x-request-id"] == "order-17"
        assert r.headers["x-model-version"].startswith("sha256-")
        generated = client.get("/ping", headers={"x-request-id": "bad id {}"})
        assert len(generated.headers["x-request-id"]) == 32
        big = client.post("/invocations", json={"dataframe_records": [ROW] * 40})
        assert big.status_code == 413 and big.json()["loc"] == ["header", "content-length"]

        def chunks() -> Iterator[bytes]:  # no content-length: counted while read
            yield b'{"dataframe_records": ['
            for _ in range(40):
                yield json.dumps(ROW).encode() + b","
            yield json.dumps(ROW).encode() + b"]}"

        streamed = client.post(
            "/invocations", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.json()["loc"] == ["body"]


def test_tokens_guard_admin_and_feedback(trained: Trained, tmp_path: Path) -> None:
    token = "t0ken-" + "x" * 20
    (tmp_path / "tokens").write_text(f"# ops team\n{token}\n")
    config = ServeConfig(
        str(trained.model_dir),
        log_dir=str(tmp_path),
        token_file=str(tmp_path / "tokens"),
        access_log=False,
    )
    with TestClient(create_app(config)) as client:
        body = {"request_id": "r1", "label": "Adelie"}
        assert client.post("/feedback", json=body).status_code == 401
        wrong = client.post("/feedback", json=body, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["loc"] == ["header", "authorization"]
        ok = client.post("/feedback", json=body, headers={"authorization": f"Bearer {token}"})
        assert ok.json() == {"accepted": 1}
        assert client.post("/admin/reload").status_code == 401
        assert (
            client.post("/admin/reload", headers={"authorization": f"Bearer {token}"}).status_code
            == 200
        )
        assert client.post("/invocations", json={"inputs": [ROW]}).status_code == 200


def test_metrics_access_log_and_prediction_log(served: Any) -> None:
    client, access, root = served
    ids = []
    for i in range(3):
        r = client.post(
            "/invocations",
            json={"dataframe_records": [ROW, ROW2]},
            headers={"x-request-id": f"req-{i}"},
        )
        ids.append(r.headers["x-request-id"])
    client.post(INFER, json={"inputs": oip_inputs([ROW])}, headers={"x-request-id": "oip-1"})
    client.post(
        "/invocations",
        json={"instances": [{**ROW, "bill_depth_mm": None}]},
        headers={"x-request-id": "gap-1"},
    )
    client.post("/invocations", json={"dataframe_records": [{**ROW, "island": 1}]})
    fb = client.post(
        "/feedback",
        json=[
            {"request_id": "req-0", "label": "Adelie", "row": 0},
            {"request_id": "oip-1", "label": "Chinstrap"},
        ],
    )
    assert fb.json() == {"accepted": 2}
    text = client.get("/metrics").text
    assert (
        'polyclass_http_requests_total{method="POST",route="/invocations",status="200"} 4.0' in text
    )
    assert 'route="/invocations",status="422"' in text
    assert 'polyclass_http_request_duration_seconds_bucket{le="0.005",route=' in text
    assert 'polyclass_predictions_total{label="Gentoo",model="penguins",version="1"} 3.0' in text
    assert "polyclass_http_requests_in_flight 1.0" in text  # this very request
    assert 'polyclass_model_loaded{model="penguins",version="1"} 1.0' in text
    lines = [json.loads(line) for line in access.getvalue().splitlines()]
    first = next(rec for rec in lines if rec["request_id"] == "req-0")
    assert first["route"] == "/invocations" and first["status"] == 200
    assert first["rows"] == 2 and first["model_version"] == "1"
    client.__exit__(None, None, None)  # shutdown flushes the logs
    folder = root / "logs" / "penguins"
    table = read_log(folder / "predictions")
    assert table is not None
    assert sorted(set(table["request_id"].to_pylist())) == sorted([*ids, "oip-1", "gap-1"])
    assert table.num_rows == 8
    gap = table.filter(table["request_id"].to_numpy(zero_copy_only=False) == "gap-1")
    assert gap["in.bill_depth_mm"].to_pylist() == [None]
    assert gap["in.bill_length_mm"].to_pylist() == [40.1]
    assert json.loads(table.schema.metadata[b"classes"]) == ["Adelie", "Chinstrap", "Gentoo"]
    one = table.filter(table["request_id"].to_numpy(zero_copy_only=False) == "req-1")
    assert one["row"].to_pylist() == [0, 1]
    assert one["in.sex"].to_pylist() == ["male", None]
    assert one["in.bill_length_mm"].to_pylist() == [40.1, 47.5]
    assert one["prediction"].to_pylist() == ["Adelie", "Gentoo"]
    assert one["model_version"].to_pylist() == [1, 1]
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    feedback = read_log(folder / "feedback")
    assert feedback["request_id"].to_pylist() == ["req-0", "oip-1"]
    assert feedback["row"].to_pylist() == [0, -1]
    assert not list(folder.rglob(".part-*"))


def test_openapi_and_docs_cover_every_route(served: Any) -> None:
    client, _, _ = served
    document = client.get("/openapi.json").json()
    routes = {route.path for route in client.app.routes}  # type: ignore[attr-defined]
    assert routes == set(document["paths"])
    page = client.get("/docs").text
    for path in routes:
        assert path in page


def test_reload_follows_promotion_and_rollback(trained: Trained, tmp_path: Path) -> None:
    from polyclass.registry import Registry

    registry = tmp_path / "registry"
    shutil.copytree(trained.registry, registry)
    config = ServeConfig(
        "penguins@production",
        registry=str(registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        access_log=False,
    )
    with TestClient(create_app(config)) as client:
        before = client.post(INFER, json={"inputs": oip_inputs([ROW])}).json()
        with Registry(str(registry)) as reg:
            reg.promote("penguins", 2)
        result = client.post("/admin/reload").json()
        assert result["switched"] and result["model_version"] == "2"
        assert result["previous_version"] == "1"
        after = client.post(INFER, json={"inputs": oip_inputs([ROW])})
        assert after.headers["x-model-version"] == "2"
        assert after.json()["outputs"][1]["data"] != before["outputs"][1]["data"]
        np.testing.assert_allclose(
            after.json()["outputs"][1]["data"], expected_proba(trained.v2_dir, [ROW])[0], atol=1e-12
        )
        assert client.get("/v2/models/penguins/versions/1").status_code == 404
        assert (
            'polyclass_model_loaded{model="penguins",version="1"} 0.0'
            in client.get("/metrics").text
        )
        with Registry(str(registry)) as reg:
            reg.rollback("penguins")
        assert client.post("/admin/reload").json()["model_version"] == "1"
        assert client.post("/admin/reload").json()["switched"] is False


def test_metrics_carry_monitoring_gauges_refreshed_in_the_background(
    trained: Trained, tmp_path: Path
) -> None:
    import time

    config = ServeConfig(
        "penguins@production",
        registry=str(trained.registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        rotate_seconds=0.05,
        monitor_interval=0.2,
    )
    with TestClient(create_app(config, access_stream=io.StringIO())) as client:
        assert "polyclass_monitor_" not in client.get("/metrics").text  # not refreshed yet
        for _ in range(20):
            client.post("/invocations", json={"dataframe_records": [ROW, ROW2]})
        # A slow refresh spaces out the next ones, so a loaded machine can take a while.
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline:
            text = client.get("/metrics").text
            if "polyclass_monitor_dataset_drift_share" in text:
                break
            time.sleep(0.1)
        assert "polyclass_monitor_dataset_drift_share" in text
        assert 'polyclass_monitor_up{model="penguins"} 1' in text


def test_monitoring_gauges_in_a_child_process_and_in_process_agree(tmp_path: Path) -> None:
    from polyclass.serve._monitoring import MonitorGauges

    texts = []
    for in_process in (False, True):
        gauges = MonitorGauges(
            lambda: "nothing-registered",
            tmp_path / "logs" / "none",
            str(tmp_path / "registry"),
            60.0,
            in_process=in_process,
        )
        gauges.refresh()
        gauges.stop()
        texts.append(gauges.text())
    assert texts[0] == texts[1]
    assert 'polyclass_monitor_up{model="nothing-registered"} 0' in texts[0]


def test_a_monitoring_child_that_takes_too_long_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import polyclass.serve._monitoring as monitoring

    monkeypatch.setattr(monitoring, "CHILD_TIMEOUT", 0.0)
    gauges = monitoring.MonitorGauges(
        lambda: "nothing-registered", tmp_path / "logs", str(tmp_path / "registry"), 60.0
    )
    gauges.refresh()
    gauges.stop()
    assert gauges.text() == ""  # the last values (none yet) stay
    assert "the monitoring process took over 0 s; stopped it" in capsys.readouterr().err
    assert gauges._child is None  # joined
