"""One broken region does not stop `deploy up --local`: the healthy regions start and
serve, the broken one is reported down with its replicas' own error, and it joins the
rotation by itself once its store is back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _chaos import Deployment, penguin_requests, wait_until
from _deploy_helpers import REGIONS, Replicated, own_replica

from polyclass.deploy._local import free_port


def status(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", "status", str(path), "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def upstreams(port: int, body: bytes, count: int) -> list[tuple[int, str]]:
    """Status and answering replica of ``count`` requests through the router."""
    seen = []
    for _ in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            seen.append((answer.status, answer.headers["x-polyclass-upstream"]))
    return seen


@pytest.mark.slow
def test_a_region_whose_store_is_down_starts_later_and_the_rest_serve(
    tmp_path: Path, replicated: Replicated
) -> None:
    registry, url = own_replica(tmp_path, replicated, "eu-central")
    store = Path(url.removeprefix("file://"))
    port = free_port()
    lines = [
        f'model = "penguins@production"\nregistry = "{registry}"\npolicy = "round-robin"\n'
        f'[router]\nlisten = "127.0.0.1:{port}"\nadmin = "127.0.0.1:{free_port()}"\n'
    ]
    for name, where in (("eu-west", replicated.stores["eu-west"]), ("eu-central", url)):
        cloud, residency = REGIONS[name]
        lines.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\nstore = "{where}"\n'
            f'residency = "{residency}"\nreplicas = 1\n'
        )
    path = tmp_path / "split.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    hidden = store.rename(store.with_name("unreachable"))  # and the region's cache is cold
    deployment = Deployment(path, tmp_path / ".polyclass-deploy" / "split")
    body = penguin_requests(replicated.trained.model_dir, count=1)[0][0]
    try:
        deployment.wait_ready()
        said = deployment.log.read_text()
        assert f"warning: region 'eu-central': Store {url}: the directory does not" in said
        assert "down: region 'eu-central': 1 replica(s) did not start: " in said
        assert "in 1 of 2 regions" in said
        west, central = deployment.addresses("eu-west")[0], deployment.addresses("eu-central")[0]
        assert set(upstreams(port, body, 4)) == {(200, west)}  # the healthy region serves
        replicas = {r["region"]: r for r in status(path)["replicas"]}
        assert replicas["eu-west"]["healthy"] and replicas["eu-west"]["error"] is None
        down = replicas["eu-central"]
        assert not down["healthy"]
        assert "No store holds a whole copy of penguins:1" in down["error"]  # its own error
        table = subprocess.run(
            [sys.executable, "-m", "polyclass.cli", "deploy", "status", str(path)],
            capture_output=True,
            text=True,
        )
        assert f"eu-central {central}: down: {down['error']}" in table.stdout, table.stdout
        hidden.rename(store)  # the store is back: the region joins without a restart

        def joined() -> bool:
            central = {r["region"]: r for r in status(path)["replicas"]}["eu-central"]
            return bool(central["healthy"]) and central["error"] is None

        assert wait_until(joined, 180, step=1.0) is not None, deployment.log.read_text()
        time.sleep(0.5)  # a health-check interval or two for the router's second worker
        assert {u for _, u in upstreams(port, body, 6)} == {west, central}
    finally:
        if not store.exists():
            hidden.rename(store)
        code = deployment.stop()
    assert code == 0
