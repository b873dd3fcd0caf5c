"""`deploy rollout` under load: a slow canary and a hung one are rolled back by the rollout
itself, a healthy one is promoted region by region, and every answer comes from the
version of the replica that gave it, right for that version."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _chaos import host_statuses, penguin_requests, wait_until
from _deploy_helpers import Replicated, topology_text

from polyclass.deploy import check_topology, load_topology
from polyclass.deploy._local import LocalDeployment, LocalReplica, free_port
from polyclass.deploy._rollout import run_rollout


@dataclass
class Load:
    """A client sending one request after another through the router, keeping every answer
    with the replica that gave it and the version it says it is."""

    port: int
    bodies: list[bytes]
    deployment: LocalDeployment
    answers: list[tuple[int, str, str, str, int]] = field(default_factory=list)
    version_of: dict[str, str] = field(default_factory=dict)  # every replica ever seen
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        number = 0
        while not self.stop.is_set():
            for replica in list(self.deployment.replicas):
                self.version_of[replica.endpoint.address] = replica.version.split(":")[1]
            which = number % len(self.bodies)
            try:
                conn.request("POST", "/invocations", self.bodies[which],
                             {"Content-Type": "application/json"})  # fmt: skip
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:  # a failed request, kept
                self.answers.append((0, "", repr(exc), "", which))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            label = json.loads(body)["predictions"][0] if response.status == 200 else ""
            upstream = response.headers.get("x-polyclass-upstream", "")
            version = response.headers.get("x-model-version", "")
            self.answers.append((response.status, upstream, version, label, which))
            number += 1
            time.sleep(0.01)
        conn.close()


def canaries(deployment: LocalDeployment, version: str) -> list[LocalReplica]:
    """The replicas of ``version`` once they are in rotation and Envoy holds them healthy."""
    admin = f"127.0.0.1:{deployment.topology.router.admin_port}"
    found: list[LocalReplica] = []

    def routed() -> bool:
        found[:] = [r for r in deployment.replicas if r.version == version and r.weight > 0]
        try:
            hosts = host_statuses(admin)
        except OSError:
            return False
        return bool(found) and all(hosts.get(r.endpoint.address, (False,))[0] for r in found)

    assert wait_until(routed, 120) is not None
    return found


def throttle(pids: list[int], stopped: float, running: float, done: threading.Event) -> None:
    """Let the processes run ``running`` s out of every ``stopped + running``: a starved
    replica that answers, slowly."""
    try:
        while not done.is_set():
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            done.wait(stopped)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            done.wait(running)
    except ProcessLookupError:  # retired by the rollout
        pass


def roll_with(deployment: LocalDeployment, fault: str | None) -> dict[str, object]:
    """Roll out penguins:2 while ``fault`` ('slow', 'hung' or None) strikes its canary."""
    result: dict[str, object] = {}

    def roll() -> None:
        report = run_rollout(deployment, "penguins:2", canary=0.5, watch=3.0, ready_timeout=120)
        result.update(report.to_dict())

    thread = threading.Thread(target=roll)
    thread.start()
    done = threading.Event()
    try:
        if fault is not None:
            pids = [r.proc.pid for r in canaries(deployment, "penguins:2") if r.proc]
            if fault == "hung":
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
            else:
                threading.Thread(target=throttle, args=(pids, 0.3, 0.02, done)).start()
        thread.join(300)
    finally:
        done.set()
    assert not thread.is_alive()
    return result


@pytest.mark.slow
def test_rollout_rolls_back_a_slow_or_hung_canary_and_promotes_a_healthy_one(
    tmp_path: Path, replicated: Replicated
) -> None:
    port = free_port()
    path = tmp_path / "roll.toml"
    text = topology_text(replicated, port=port, admin=free_port(), replicas=1, regions=2)
    path.write_text(text, encoding="utf-8")
    deployment = LocalDeployment(check_topology(load_topology(path)))
    v1 = penguin_requests(replicated.trained.model_dir, count=8)
    v2 = penguin_requests(replicated.trained.v2_dir, count=8)
    expected = {"1": [label for _, label in v1], "2": [label for _, label in v2]}
    deployment.start()
    load = Load(port, [body for body, _ in v1], deployment)
    client = threading.Thread(target=load.run)
    try:
        deployment.controller.tick()
        client.start()
        reports = {fault: roll_with(deployment, fault) for fault in ("slow", "hung")}
        versions_after_rollbacks = sorted(r.version for r in deployment.replicas)
        healthy = roll_with(deployment, None)
        time.sleep(0.5)
    finally:
        load.stop.set()
        client.join(60)
        deployment.stop()
    print({f: r["regions"] for f, r in reports.items()}, healthy)  # shown with -s
    for fault, report in reports.items():
        assert report["state"] == "rolled-back", (fault, report)
        first, *rest = report["regions"]  # type: ignore[misc]
        assert first["state"] == "rolled-back" and first["reasons"], (fault, report)
        assert rest == []  # the rollout stopped at its first region
    assert versions_after_rollbacks == ["penguins:1", "penguins:1"]
    assert healthy["state"] == "done", healthy
    assert [r["state"] for r in healthy["regions"]] == ["done", "done"]  # type: ignore[attr-defined]
    # every request answered, by a replica of the version it names, with that version's label
    assert len(load.answers) > 100
    failed = [a for a in load.answers if a[0] != 200]
    assert failed == []
    assert all(load.version_of[up] == version for _, up, version, _, _ in load.answers)
    # (v1 and v2 agree on these rows: the version header is what tells them apart)
    assert all(label == expected[v][which] for _, _, v, label, which in load.answers)
    assert load.answers[-1][2] == "2"  # promoted: the last answers are the new version's
