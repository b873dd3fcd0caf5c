"""The chaos test: 3 regions x 2 replicas behind Envoy, an open-loop client at 1,000
requests/s for 30 s, while a region is killed, another hung, a third cut off from its
store while it restarts. Correctness only (every answer right, none outside its
residency, no failed request); the timings are benchmarks/bench_regions.py's."""

from __future__ import annotations

from pathlib import Path

import pytest
from _chaos import Deployment, penguin_requests, run_chaos, timings, verdict
from _deploy_helpers import REGIONS, Replicated

from polyclass.deploy._local import free_port


def chaos_topology(folder: Path, replicated: Replicated, port: int, admin: int) -> Path:
    lines = [
        f'model = "penguins@production"\nregistry = "{replicated.registry}"\n'
        f'policy = "round-robin"\n[router]\nlisten = "127.0.0.1:{port}"\n'
        f'admin = "127.0.0.1:{admin}"\n'
    ]
    for name, (cloud, residency) in REGIONS.items():
        lines.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\n'
            f'store = "{replicated.stores[name]}"\nresidency = "{residency}"\nreplicas = 2\n'
        )
    path = folder / "chaos.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
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
