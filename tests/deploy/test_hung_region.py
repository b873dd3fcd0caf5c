"""A hung region gets no request once Envoy holds its replicas down: the router's workers
see a health change at once (Envoy's default merged changes for a second, so a dead
host kept getting new requests after its ejection), and both replicas of a region may be
ejected. Judged by Envoy's own attempt counters, never by a clock."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import pytest
from _chaos import Deployment, host_statuses, penguin_requests, router_sees_every_replica
from _deploy_helpers import REGIONS, Replicated

from polyclass.deploy._local import free_port


def send(port: int, body: bytes) -> tuple[int, str]:
    """One plain request through the router: its status and the replica that answered."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, answer.headers["x-polyclass-upstream"]


@pytest.mark.slow
def test_a_hung_region_gets_no_request_once_envoy_holds_it_down(
    tmp_path: Path, replicated: Replicated
) -> None:
    port, admin = free_port(), free_port()
    lines = [
        f'model = "penguins@production"\nregistry = "{replicated.registry}"\n'
        f'policy = "round-robin"\n[router]\nlisten = "127.0.0.1:{port}"\n'
        f'admin = "127.0.0.1:{admin}"\n'
    ]
    for name, replicas in (("eu-west", 2), ("eu-central", 1)):
        cloud, residency = REGIONS[name]
        lines.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\n'
            f'store = "{replicated.stores[name]}"\nresidency = "{residency}"\n'
            f"replicas = {replicas}\n"
        )
    path = tmp_path / "hung.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    body = penguin_requests(replicated.trained.model_dir, count=1)[0][0]
    deployment = Deployment(path, tmp_path / ".polyclass-deploy" / "hung")
    where = f"127.0.0.1:{admin}"
    try:
        deployment.wait_ready()
        router_sees_every_replica(deployment, where)
        hung, alive = deployment.addresses("eu-west"), deployment.addresses("eu-central")
        pids = deployment.pids("eu-west")
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            # requests are what finds a hung replica: an attempt at one passes its per-try
            # timeout and is hedged to another, and two in a row eject it
            during = []
            for _ in range(2000):
                during.append(send(port, body))
                hosts = host_statuses(where)
                if all(not hosts[a][0] for a in hung):
                    break
            else:
                pytest.fail(f"Envoy never held both hung replicas down: {hosts}")
            before = host_statuses(where)
            after_down = [send(port, body) for _ in range(40)]
            after = host_statuses(where)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
    finally:
        code = deployment.stop()
    assert code == 0
    assert all(status == 200 for status, _ in during)  # hedged to a live replica
    assert after_down == [(200, alive[0])] * 40
    # not one attempt at either hung replica once Envoy held them down
    assert {a: after[a][1] - before[a][1] for a in hung} == dict.fromkeys(hung, 0)
