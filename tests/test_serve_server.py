"""Real ``polyclass serve`` processes on 127.0.0.1: a real Open Inference Protocol
client, zero-downtime promotion and rollback under load, SIGTERM without losing a
logged prediction, several workers, and refusing a tampered artifact."""

from __future__ import annotations

import itertools
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from _serve_helpers import (
    ROW,
    ROW2,
    ServerProcess,
    Trained,
    expected_proba,
    oip_inputs,
    read_log,
)

INFER = "/v2/models/penguins/infer"


@pytest.fixture()
def registry_copy(trained: Trained, tmp_path: Path) -> Path:
    registry = tmp_path / "registry"
    shutil.copytree(trained.registry, registry)
    return registry


@pytest.fixture()
def server(registry_copy: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        [
            "penguins@production",
            "--registry",
            str(registry_copy),
            "--log-dir",
            str(tmp_path),
            "--poll-interval",
            "0.2",
            "--no-access-log",
        ],
        cwd=tmp_path,
    )
    proc.wait_ready()
    yield proc
    proc.stop()


def test_tritonclient_speaks_to_the_server(server: ServerProcess, trained: Trained) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("penguins")
        meta = client.get_model_metadata("penguins")
        assert meta["versions"] == ["1"]
        rows = [ROW, {**ROW2, "sex": "female"}]
        inputs = []
        for feature in ROW:
            values = np.array(
                [r[feature] for r in rows],
                dtype=object if feature in ("island", "sex") else np.float64,
            )
            tensor = triton.InferInput(feature, [2], "BYTES" if values.dtype == object else "FP64")
            tensor.set_data_from_numpy(values, binary_data=False)
            inputs.append(tensor)
        outputs = [
            triton.InferRequestedOutput("label", binary_data=False),
            triton.InferRequestedOutput("probabilities", binary_data=False),
        ]
        result = client.infer("penguins", inputs, outputs=outputs, request_id="tc-1")
        assert result.get_response()["model_version"] == "1"
        assert result.get_response()["id"] == "tc-1"
        labels = result.as_numpy("label")
        assert [str(v) for v in labels] == ["Adelie", "Gentoo"]
        np.testing.assert_allclose(
            result.as_numpy("probabilities"), expected_proba(trained.model_dir, rows), atol=1e-12
        )
        with pytest.raises(triton.InferenceServerException, match="No model named"):
            client.infer("nope", inputs)
    finally:
        client.close()


def test_promotion_and_rollback_under_load(
    server: ServerProcess, registry_copy: Path, trained: Trained
) -> None:
    from polyclass.registry import Registry

    rows = [ROW, ROW2]
    expected = {
        "1": expected_proba(trained.model_dir, rows),
        "2": expected_proba(trained.v2_dir, rows),
    }
    stop = threading.Event()
    failures: list[str] = []
    seen: list[str] = []
    lock = threading.Lock()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                try:
                    r = client.post(INFER, json={"inputs": oip_inputs(rows)})
                except httpx.HTTPError as exc:
                    failures.append(f"transport: {exc!r}")
                    continue
                if r.status_code != 200:
                    failures.append(f"{r.status_code}: {r.text}")
                    continue
                body = r.json()
                version = r.headers["x-model-version"]
                proba = np.reshape(body["outputs"][1]["data"], (2, 3))
                if body["model_version"] != version or not np.allclose(
                    proba, expected[version], atol=1e-12
                ):
                    failures.append(f"mixed response: header {version}, body {body}")
                with lock:
                    seen.append(version)

    def wait_for(version: str, timeout: float = 60) -> None:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            with lock:
                if seen and seen[-1] == version:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the server never served version {version}")

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for("1")
        with Registry(str(registry_copy)) as reg:
            reg.promote("penguins", 2)
            wait_for("2")
            time.sleep(0.3)
            reg.rollback("penguins")
            wait_for("1")
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert {"1", "2"} <= set(seen)
    switches = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert switches >= 2
    metrics = httpx.get(server.url + "/metrics").text
    assert 'polyclass_model_switches_total{model="penguins"} 2.0' in metrics


def test_sigterm_finishes_in_flight_requests_and_loses_no_logged_prediction(
    registry_copy: Path, tmp_path: Path
) -> None:
    proc = ServerProcess(
        [
            "penguins:1",
            "--registry",
            str(registry_copy),
            "--log-dir",
            str(tmp_path),
            "--no-access-log",
        ],
        cwd=tmp_path,
    )
    proc.wait_ready()
    batch = {"dataframe_records": [ROW, ROW2] * 1500}
    answered: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=proc.url, timeout=60) as client:
            i = 0
            while not stop.is_set():
                rid = f"w{worker}-{i}"
                i += 1
                try:
                    r = client.post("/invocations", json=batch, headers={"x-request-id": rid})
                except httpx.HTTPError:
                    return  # the server stopped listening
                if r.status_code == 200:
                    with lock:
                        answered[rid] = len(r.json()["predictions"])

    threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    while len(answered) < 6:
        time.sleep(0.02)
    code = proc.stop()  # SIGTERM while requests are in flight
    stop.set()
    for t in threads:
        t.join()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees it
    assert code in (0, -signal.SIGTERM), proc.stderr
    table = read_log(tmp_path / "logs" / "penguins" / "predictions")
    logged = table.group_by("request_id").aggregate([("row", "count")]).to_pylist()
    counts = {r["request_id"]: r["row_count"] for r in logged}
    missing = {rid: n for rid, n in answered.items() if counts.get(rid) != n}
    assert missing == {}
    assert not list((tmp_path / "logs").rglob(".part-*"))


@pytest.mark.slow
def test_two_workers_answer_and_sum_metrics(registry_copy: Path, tmp_path: Path) -> None:
    proc = ServerProcess(
        [
            "penguins@production",
            "--registry",
            str(registry_copy),
            "--log-dir",
            str(tmp_path),
            "--workers",
            "2",
            "--no-access-log",
        ],
        cwd=tmp_path,
    )
    try:
        proc.wait_ready()
        with httpx.Client(base_url=proc.url) as client:
            for _ in range(20):
                r = client.post("/invocations", json={"instances": [ROW]})
                assert r.status_code == 200 and r.headers["x-model-version"] == "1"
            text = client.get("/metrics").text
        total = [
            line
            for line in text.splitlines()
            if line.startswith('polyclass_http_requests_total{method="POST",route="/invocations"')
        ]
        assert total and float(total[0].rsplit(" ", 1)[1]) == 20.0
    finally:
        assert proc.stop() in (0, -signal.SIGTERM), proc.stderr
    table = read_log(tmp_path / "logs" / "penguins" / "predictions")
    assert table.num_rows == 20


def test_cli_refuses_a_tampered_artifact(trained: Trained, tmp_path: Path) -> None:
    from polyclass.cli import app

    copy = tmp_path / "model"
    shutil.copytree(trained.model_dir, copy)
    coef = np.load(copy / "est.coef.npy")
    np.save(copy / "est.coef.npy", coef + 1)
    result = CliRunner().invoke(app, ["serve", str(copy), "--port", "1"])
    assert result.exit_code == 2
    assert "est.coef.npy" in result.output
