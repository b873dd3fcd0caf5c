"""What `deploy check` and `deploy up` refuse or say: tokens off loopback, Envoy's admin on
loopback, bad endpoint ports, a taken router port, a replica's own start error; and that
replicas under `deploy up` name the registry version and guard /feedback with tokens."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _chaos import Deployment
from _deploy_helpers import Replicated, topology_text

from polyclass.deploy import TopologyError, check_topology, load_topology, require_tokens
from polyclass.deploy._local import LocalDeployment, free_port
from polyclass.deploy._router import DeployError

BASE = """model = "penguins@production"
[router]
listen = "{listen}"
{extra}
[[regions]]
name = "eu-west"
cloud = "aws"
store = "s3://models-eu/polyclass"
endpoints = {endpoints}
"""


def topo(
    tmp_path: Path, listen: str = "127.0.0.1:9000", extra: str = "", endpoints: str = "[]"
) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(BASE.format(listen=listen, extra=extra, endpoints=endpoints), encoding="utf-8")
    return path


def deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("url", ["http://x:99999", "http://x:abc", "http://x:0"])
def test_an_endpoint_with_a_bad_port_is_a_problem_not_a_crash(tmp_path: Path, url: str) -> None:
    with pytest.raises(TopologyError) as info:
        load_topology(topo(tmp_path, endpoints=f'["{url}"]'))
    (problem,) = info.value.problems
    assert f"endpoint {url!r} must be http://HOST:PORT" in problem
    out = deploy("check", str(tmp_path / "t.toml"), "--offline")
    assert (
        out.returncode == 2 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    )


def test_off_loopback_the_router_needs_tokens_and_envoy_admin_stays_on_loopback(
    tmp_path: Path,
) -> None:
    open_router = load_topology(topo(tmp_path, listen="0.0.0.0:19000"))
    assert (open_router.router.admin_host, open_router.router.admin_port) == ("127.0.0.1", 19001)
    with pytest.raises(TopologyError, match=r"not loopback.*token_file"):
        require_tokens(open_router)
    require_tokens(open_router, "tokens.txt")  # the CLI's --token-file
    guarded = load_topology(topo(tmp_path, "0.0.0.0:19000", 'token_file = "tokens.txt"'))
    assert guarded.router.token_file == str(tmp_path / "tokens.txt")  # beside the file
    require_tokens(guarded)
    require_tokens(load_topology(topo(tmp_path)))  # loopback: no tokens needed
    with pytest.raises(TopologyError, match=r"'admin' '0\.0\.0\.0:19001' is not a loopback"):
        load_topology(topo(tmp_path, "127.0.0.1:19000", 'admin = "0.0.0.0:19001"'))
    assert load_topology(topo(tmp_path, "[::1]:19000")).router.address == "[::1]:19000"
    out = deploy("check", str(topo(tmp_path, listen="0.0.0.0:19000")), "--offline")
    assert out.returncode == 2 and "add token_file" in out.stderr
    out = deploy("check", str(tmp_path / "t.toml"), "--offline", "--token-file", "x")
    assert out.returncode == 0, out.stderr
    out = deploy("check", str(tmp_path / "t.toml"), "--offline", "--json")
    assert out.returncode == 2
    failure = json.loads(out.stdout)  # a script asking for JSON can parse its failure
    assert failure["ok"] is False and "not loopback" in failure["problems"][0]


def test_up_says_at_once_that_the_router_port_is_taken(
    tmp_path: Path, replicated: Replicated
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "busy.toml"
        text = topology_text(replicated, port=port, admin=free_port(), replicas=1, regions=1)
        path.write_text(text, encoding="utf-8")
        out = deploy("up", str(path), "--local")
    assert out.returncode == 2
    assert f"[router] listen 127.0.0.1:{port} cannot be bound" in out.stderr
    assert "pick another [router] listen" in out.stderr


def test_a_replica_that_cannot_start_reports_its_own_error(
    tmp_path: Path, replicated: Replicated
) -> None:
    path = tmp_path / "bad-store.toml"
    text = topology_text(replicated, port=free_port(), admin=free_port(), replicas=1, regions=1)
    path.write_text(text, encoding="utf-8")
    checked = check_topology(load_topology(path))
    empty = tmp_path / "empty-store"
    empty.mkdir()
    region = dataclasses.replace(checked.topology.regions[0], store=f"file://{empty}")
    broken = dataclasses.replace(checked.topology, regions=(region,))
    deployment = LocalDeployment(dataclasses.replace(checked, topology=broken))
    old = deployment.folder / "replicas" / f"{region.name}-0.log"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text("polyclass serve: penguins version 1 from an earlier run\n")
    with pytest.raises(DeployError) as info:
        deployment.start(ready_timeout=120)
    message = str(info.value)  # its only region is down: nothing to serve
    assert message.startswith("no region started: region 'eu-west': 1 replica(s) did not start")
    assert "earlier run" not in message
    assert "No store holds a whole copy of penguins:1" in message  # the last line: the cause


DATATYPES = {str: "BYTES", float: "FP64", int: "INT64"}


def request(
    url: str, body: dict[str, object] | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.slow
def test_up_replicas_name_the_registry_version_and_guard_feedback(
    tmp_path: Path, replicated: Replicated
) -> None:
    port, admin = free_port(), free_port()
    (tmp_path / "tokens.txt").write_text("s3cret-token-0123456789abcdef\n", encoding="utf-8")
    text = topology_text(replicated, port=port, admin=admin, replicas=1, regions=1)
    path = tmp_path / "guarded.toml"
    path.write_text(text.replace("[router]\n", '[router]\ntoken_file = "tokens.txt"\n'))
    deployment = Deployment(path, tmp_path / ".polyclass-deploy" / "guarded")
    router = f"http://127.0.0.1:{port}"
    try:
        deployment.wait_ready()
        status, model = request(f"{router}/v2/models/penguins")
        assert status == 200 and model["versions"] == ["1"], model
        row = {
            "island": "Biscoe",
            "bill_length_mm": 45.0,
            "bill_depth_mm": 15.0,
            "flipper_length_mm": 210,
            "body_mass_g": 4500,
            "sex": "female",
            "year": 2008,
        }
        body = {
            "inputs": [
                {"name": k, "shape": [1], "datatype": DATATYPES[type(v)],
                 "data": [v]}
                for k, v in row.items()
            ]
        }  # fmt: skip
        status, answer = request(f"{router}/v2/models/penguins/versions/1/infer", body)
        assert status == 200 and answer["model_version"] == "1", answer
        feedback = {"request_id": "x", "label": "Gentoo"}
        assert request(f"{router}/feedback", feedback)[0] == 401
        assert request(f"{router}/admin/reload", {})[0] == 401
        assert (
            request(f"{router}/feedback", feedback, token="s3cret-token-0123456789abcdef")[0] != 401
        )
    finally:
        code = deployment.stop()
    assert code == 0  # SIGTERM stopped everything


@pytest.mark.slow
def test_a_rollout_whose_new_replicas_cannot_start_rolls_back(
    tmp_path: Path, replicated: Replicated
) -> None:
    from polyclass.deploy._rollout import run_rollout

    path = tmp_path / "roll.toml"
    port = free_port()
    text = topology_text(replicated, port=port, admin=free_port(), replicas=1, regions=1)
    path.write_text(text, encoding="utf-8")
    checked = check_topology(load_topology(path))
    region = checked.topology.regions[0]
    copy = tmp_path / "store-copy"  # this region's store lacks version 2
    shutil.copytree(str(region.store).removeprefix("file://"), copy)
    shutil.rmtree(copy / "models" / "penguins" / "2")
    region = dataclasses.replace(region, store=f"file://{copy}")
    topology = dataclasses.replace(checked.topology, regions=(region,))
    deployment = LocalDeployment(dataclasses.replace(checked, topology=topology))
    deployment.start()
    try:
        report = run_rollout(deployment, "penguins:2", watch=0.5, ready_timeout=120)
        assert report.state == "rolled-back", report
        (entry,) = report.regions
        assert entry["state"] == "rolled-back"
        assert entry["reasons"] == ["the new replicas did not become ready"]
        assert [r.version for r in deployment.replicas] == ["penguins:1"]  # the old one stays
        status, model = request(f"http://127.0.0.1:{port}/v2/models/penguins")
        assert status == 200 and model["versions"] == ["1"]
    finally:
        deployment.stop()
