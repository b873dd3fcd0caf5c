"""Canary and shadow in the server (in process): split, stickiness, logging, routing changes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from _serve_helpers import ROW, Trained, read_log
from polyclass.cli import app
from polyclass.serve import ServeConfig, create_app
from polyclass.serve._canary import bucket, parse_canary, parse_shadow


@contextmanager
def _client(trained: Trained, logs: Path, **routing: Any) -> Iterator[TestClient]:
    config = ServeConfig(
        "penguins@production",
        registry=str(trained.registry),
        log_dir=str(logs),
        poll_interval=0,
        monitor_interval=0,
        access_log=False,
        **routing,
    )
    with TestClient(create_app(config)) as client:
        yield client


def _ask(client: TestClient, key: str | None = None) -> Any:
    headers = {"x-routing-key": key} if key is not None else {}
    res = client.post("/invocations", json={"dataframe_records": [ROW]}, headers=headers)
    assert res.status_code == 200, res.text
    return res


def test_bucket_is_stable_and_uniform() -> None:
    assert bucket("user-1") == bucket("user-1")
    values = np.array([bucket(f"k{i}") for i in range(4000)])
    assert 0 <= values.min() and values.max() < 100
    assert abs(np.mean(values < 30) - 0.30) < 0.03


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("penguins:2=150", "from 0 to 100"),
        ("penguins:2=-1", "from 0 to 100"),
        ("penguins:2=ten", "from 0 to 100"),
        ("penguins:2", "REF=PCT"),
    ],
)
def test_canary_option_errors_name_the_fix(text: str, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        parse_canary(text)


def test_shadow_option_defaults_to_every_request() -> None:
    assert parse_shadow("penguins:2") == ("penguins:2", 100.0)
    assert parse_shadow("penguins@challenger=25") == ("penguins@challenger", 25.0)


def test_canary_split_is_sticky_and_both_versions_are_logged(
    trained: Trained, tmp_path: Path
) -> None:
    with _client(trained, tmp_path, canary="penguins:2=50") as client:
        first = {k: _ask(client, f"user-{k}").headers["x-model-version"] for k in range(60)}
        again = {k: _ask(client, f"user-{k}").headers["x-model-version"] for k in range(60)}
        expected = {k: "2" if bucket(f"user-{k}") < 50 else "1" for k in range(60)}
        assert first == again == expected
        assert set(first.values()) == {"1", "2"}
        # without a routing key the request id decides
        assert _ask(client).headers["x-model-version"] in ("1", "2")
        routing = client.get("/admin/routing").json()
        assert routing["canary"] == {"ref": "penguins:2", "version": "2", "percent": 50.0}
        # the split changes live; 0 sends everyone back to the served version
        assert client.post("/admin/routing", json={"canary_percent": 0}).status_code == 200
        assert {_ask(client, f"user-{k}").headers["x-model-version"] for k in range(20)} == {"1"}
        bad = client.post("/admin/routing", json={"canary_percent": 101})
        assert bad.status_code == 422 and "between 0 and 100" in bad.json()["error"]
        assert _ask(client).status_code == 200  # still serving
    table = read_log(tmp_path / "logs" / "penguins" / "predictions")
    versions = table.column("model_version").to_numpy()
    assert set(versions.tolist()) == {1, 2} and len(versions) == 142


def test_shadow_predicts_off_the_response_path_and_is_logged_not_returned(
    trained: Trained, tmp_path: Path
) -> None:
    with _client(trained, tmp_path, shadow="penguins:2") as client:
        ids = [_ask(client, f"u{k}").headers for k in range(30)]
        assert {h["x-model-version"] for h in ids} == {"1"}
    table = read_log(tmp_path / "logs" / "penguins" / "predictions")
    rows = table.select(["request_id", "model_version"]).to_pylist()
    by_version: dict[int, set[str]] = {}
    for r in rows:
        by_version.setdefault(r["model_version"], set()).add(r["request_id"])
    served = {h["x-request-id"] for h in ids}
    assert by_version[1] == served
    assert by_version[2] == served  # every request shadowed (dropped ones would be counted)


def test_routing_without_canary_or_shadow_is_404(trained: Trained, tmp_path: Path) -> None:
    with _client(trained, tmp_path) as client:
        res = client.get("/admin/routing")
        assert res.status_code == 404 and "--canary" in res.json()["error"]


def test_serve_cli_refuses_a_bad_canary_with_one_line(trained: Trained) -> None:
    runner = CliRunner()
    args = ["serve", "penguins@production", "--registry", str(trained.registry)]
    res = runner.invoke(app, [*args, "--canary", "penguins:2=150"])
    assert res.exit_code == 2
    assert "--canary takes a percentage from 0 to 100" in " ".join(res.output.split())
    res = runner.invoke(app, [*args, "--canary", "penguins:9=10"])
    assert res.exit_code == 2 and "error:" in res.output and "9" in res.output


def test_split_changes_and_promotion_under_load_drop_no_request(
    trained: Trained, tmp_path: Path
) -> None:
    import shutil
    import threading

    import httpx

    from _serve_helpers import ServerProcess
    from polyclass.registry import Registry

    registry = tmp_path / "registry"
    shutil.copytree(trained.registry, registry)
    server = ServerProcess(
        ["penguins@production", "--registry", str(registry), "--log-dir", str(tmp_path),
         "--poll-interval", "0.2", "--no-access-log", "--monitor-interval", "0",
         "--canary", "penguins:2=30"],
        cwd=tmp_path,
    )  # fmt: skip
    server.wait_ready()
    stop = threading.Event()
    failures: list[str] = []
    answered: dict[str, str] = {}
    lock = threading.Lock()

    def load(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            i = 0
            while not stop.is_set():
                i += 1
                key = {"x-routing-key": f"w{worker}-{i % 17}"}
                try:
                    r = client.post("/invocations", json={"dataframe_records": [ROW]}, headers=key)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    failures.append(f"{r.status_code}: {r.text}")
                    continue
                with lock:
                    answered[r.headers["x-request-id"]] = r.headers["x-model-version"]

    def count() -> int:
        with lock:
            return len(answered)

    def settle() -> None:
        start = count()
        while count() < start + 20:
            time.sleep(0.02)

    import time

    threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        settle()
        for pct in (0, 100, 50):
            res = httpx.post(server.url + "/admin/routing", json={"canary_percent": pct})
            assert res.status_code == 200
            settle()
        with Registry(str(registry)) as reg:
            reg.promote("penguins", 2)  # the canary's version becomes the served one
        deadline = time.monotonic() + 60
        while httpx.get(server.url + "/version").json()["model_version"] != "2":
            assert time.monotonic() < deadline, "the server never switched"
            time.sleep(0.05)
        settle()
    finally:
        stop.set()
        for t in threads:
            t.join()
        assert server.stop() in (0, -15), server.stderr
    assert not failures, failures[:3]
    table = read_log(tmp_path / "logs" / "penguins" / "predictions")
    logged: dict[str, set[int]] = {}
    for r in table.select(["request_id", "model_version"]).to_pylist():
        logged.setdefault(r["request_id"], set()).add(r["model_version"])
    for request_id, version in answered.items():
        assert int(version) in logged[request_id]  # every answer logged under its version
    assert set(answered.values()) == {"1", "2"}


def test_routing_post_is_refused_with_several_workers(trained: Trained, tmp_path: Path) -> None:
    # each worker process holds its own split: a change would reach one of them only
    with _client(trained, tmp_path, canary="penguins:2=50", workers=2) as client:
        res = client.post("/admin/routing", json={"canary_percent": 80})
        assert res.status_code == 409 and "--workers 1" in res.json()["error"]
        assert client.get("/admin/routing").json()["canary"]["percent"] == 50.0
        assert _ask(client).status_code == 200


def test_routing_get_needs_the_token_when_tokens_are_set(trained: Trained, tmp_path: Path) -> None:
    token = "t" * 32
    (tmp_path / "tok.txt").write_text(token + "\n")
    with _client(
        trained, tmp_path, canary="penguins:2=50", token_file=str(tmp_path / "tok.txt")
    ) as c:
        assert c.get("/admin/routing").status_code == 401
        res = c.get("/admin/routing", headers={"authorization": f"Bearer {token}"})
        assert res.status_code == 200 and res.json()["canary"]["version"] == "2"


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        (
            {"canary": "penguins@production=10"},
            "--canary penguins@production resolves to version 1",
        ),
        ({"shadow": "penguins:1"}, "--shadow penguins:1 resolves to version 1"),
        ({"canary": "penguins:2=10", "shadow": "penguins:2"}, "the canary's version"),
    ],
)
def test_canary_or_shadow_of_the_served_version_or_each_other_is_refused(
    trained: Trained, tmp_path: Path, routing: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message), _client(trained, tmp_path, **routing):
        pass


def test_model_metadata_names_the_served_version_under_a_canary(
    trained: Trained, tmp_path: Path
) -> None:
    with _client(trained, tmp_path, canary="penguins:2=50") as client:
        seen = {tuple(client.get("/v2/models/penguins").json()["versions"]) for _ in range(30)}
        assert seen == {("1",)}
        assert client.get("/v2/models/penguins/versions/2").json()["versions"] == ["2"]


def test_swaps_of_the_canary_are_announced(
    trained: Trained, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from polyclass.registry import Registry

    registry = tmp_path / "registry"
    shutil.copytree(trained.registry, registry)
    with Registry(str(registry)) as reg:
        reg.set_alias("penguins", "challenger", 2)
    config = ServeConfig(
        "penguins@production",
        registry=str(registry),
        log_dir=str(tmp_path),
        poll_interval=0,
        monitor_interval=0,
        access_log=False,
        canary="penguins@challenger=10",
    )
    with TestClient(create_app(config)) as client:
        capfd.readouterr()
        with Registry(str(registry)) as reg:
            reg.set_alias("penguins", "challenger", 1)  # an old version now takes 10%
        assert client.post("/admin/reload").status_code == 200
        err = capfd.readouterr().err
    assert "canary penguins@challenger -> version 1 (was 2)" in err
    assert "now the same version as the served" in err
