"""The chaos test: 3 regions x 2 replicas behind Envoy, an open-loop client at 1,000
requests/s for 30 s, while a region is killed, another hung, a third cut off from its
store while it restarts. Correctness only (every answer right, none outside its
residency, no failed request); the timings are benchmarks/bench_regions.py's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _chaos import Deployment, penguin_requests, run_chaos, timings, verdict
from _deploy_helpers import Replicated, topology_text

from polyclass.deploy._local import free_port


def chaos_topology(folder: Path, replicated: Replicated, port: int, admin: int) -> Path:
    path = folder / "chaos.toml"
    path.write_text(topology_text(replicated, port=port, admin=admin), encoding="utf-8")
    return path


@pytest.mark.slow
def test_no_request_fails_when_regions_die(tmp_path: Path, replicated: Replicated) -> None:
    port, admin = free_port(), free_port()
    topology = chaos_topology(tmp_path, replicated, port, admin)
    requests = penguin_requests(replicated.trained.model_dir)
    deployment = Deployment(topology, tmp_path / ".polyclass-deploy" / "chaos")
    try:
        deployment.wait_ready()
        stores = {n: Path(u.removeprefix("file://")) for n, u in replicated.stores.items()}
        run = run_chaos(
            deployment, requests, port=port, admin=f"127.0.0.1:{admin}", store_dirs=stores
        )
        status_out = polyclass_deploy("status", str(topology), "--json")
        # --no-promote: other tests share the registry and its production alias
        rollout = polyclass_deploy(
            "rollout", str(topology), "penguins:2", "--watch", "1", "--no-promote"
        )
        after = polyclass_deploy("status", str(topology), "--json")
    finally:
        code = deployment.stop()
    counts = verdict(run)
    print(counts, timings(run))  # shown with -s; the benchmark reports them
    assert counts["requests"] >= 30 * run.rate - 1  # every scheduled request was answered
    assert counts["plain_failed"] == 0, counts
    assert counts["located_failed"] == 0, counts
    assert counts["wrong_answers"] == 0, counts
    assert counts["outside_residency"] == 0, counts
    # us-east is the only 'us' region: while it hung, a 'us' caller got the explicit 503
    status, error = run.refusal
    assert status == 503, run.refusal
    assert error["residency"] == "us"
    assert "no healthy region with data residency 'us'" in error["error"]
    assert counts["residency_503_named"] == counts["residency_503"], counts
    assert {e.name for e in run.events} == {"kill", "hang", "resume", "store-down"}
    assert set(run.back) == {"kill", "resume", "store-down"}  # every region came back
    assert code == 0  # SIGTERM stopped everything cleanly
    check_status(status_out, port, run.region_of)
    check_monitor(tmp_path / ".polyclass-deploy" / "chaos" / "logs", replicated, counts)
    # the rollout moved every region to version 2, region by region, canary first
    assert rollout.returncode == 0, rollout.stdout + rollout.stderr
    assert "rollout to penguins:2: done" in rollout.stdout
    assert all(f"{name}: done" in rollout.stdout for name in run.region_of.values())
    assert "`polyclass registry alias penguins production 2` keeps penguins:2" in rollout.stdout
    replicas = json.loads(after.stdout)["replicas"]
    assert len(replicas) == 6 and {r["version"] for r in replicas} == {"penguins:2"}


def check_monitor(logs: Path, replicated: Replicated, counts: dict[str, int]) -> None:
    """`polyclass monitor --region` reads every replica's log, per region and overall."""
    options = []
    for folder in sorted(logs.glob("*/*/logs/penguins")):
        options += ["--region", f"{folder.parents[2].name}={folder}"]
    model = str(replicated.trained.model_dir)
    out = subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "monitor", model, *options, "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode in (0, 1), out.stderr  # 1: an alert (the test rows drift)
    rows = {name: doc["log"]["rows"] for name, doc in json.loads(out.stdout).items()}
    assert set(rows) == {"overall", "eu-west", "eu-central", "us-east"}
    assert rows["overall"] == sum(v for k, v in rows.items() if k != "overall")
    # every answered request was logged by the replica that answered (hedges add a few)
    answered = counts["requests"] - counts["residency_503"]
    assert rows["overall"] >= answered


def polyclass_deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", *args], capture_output=True, text=True
    )


def check_status(
    out: subprocess.CompletedProcess[str], port: int, region_of: dict[str, str]
) -> None:
    """`deploy status --json` names the router and every replica with what it carried."""
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["router"] == f"127.0.0.1:{port}"
    assert status["version"] == "penguins:1"
    replicas = status["replicas"]
    assert {r["address"]: r["region"] for r in replicas} == region_of
    assert all(r["pid"] and r["version"] == "penguins:1" for r in replicas)
    assert sum(r["share"] for r in replicas) == pytest.approx(1.0)
    assert all(r["requests"] > 0 for r in replicas)  # round-robin reached every replica
    assert all(r["p50_ms"] is not None and r["p99_ms"] >= r["p50_ms"] for r in replicas)


def test_up_needs_local_and_status_needs_a_deployment(tmp_path: Path) -> None:
    topology = tmp_path / "t.toml"
    topology.write_text(
        'model = "m"\n[[regions]]\nname = "a"\ncloud = "onprem"\nstore = "file:///x"\n'
    )
    out = polyclass_deploy("up", str(topology))
    assert out.returncode == 2 and "only --local is built" in out.stderr
    out = polyclass_deploy("status", str(topology))
    assert out.returncode == 1
    assert "no running deployment" in out.stderr and "deploy up" in out.stderr
