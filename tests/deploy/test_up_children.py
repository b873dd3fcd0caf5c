"""Nothing `deploy up` starts outlives it: SIGKILL it and its replicas and Envoy exit too,
whichever of its threads started them; and `deploy rollout` does not wait for a dead one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _chaos import Deployment
from _deploy_helpers import Replicated, topology_text

from polyclass.deploy._local import free_port

SPAWNER = """
import sys, threading
from polyclass.deploy._children import popen_tied
started = []
thread = threading.Thread(target=lambda: started.append(popen_tied(["sleep", "600"])))
thread.start()
thread.join()  # the thread that asked for the child has ended
print(started[0].pid, flush=True)
sys.stdin.read()
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie not yet reaped by init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pids: list[int], timeout: float) -> list[int]:
    """The ones of ``pids`` still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_outlives_the_thread_that_asked_for_it_but_not_its_process() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        try:
            time.sleep(0.5)
            assert alive(child)  # its requesting thread ended: it runs on
        finally:
            parent.kill()
    assert gone_within([child], 30) == []
    if alive(child):  # pragma: no cover - only when the test failed
        os.kill(child, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_deploy_up_takes_its_replicas_and_envoy_with_it(
    tmp_path: Path, replicated: Replicated
) -> None:
    path = tmp_path / "killed.toml"
    text = topology_text(replicated, port=free_port(), admin=free_port(), replicas=1, regions=2)
    path.write_text(text, encoding="utf-8")
    deployment = Deployment(path, tmp_path / ".polyclass-deploy" / "killed")
    pids: list[int] = []
    try:
        state = deployment.wait_ready()
        pids = [r["pid"] for r in state["replicas"]] + [state["envoy_pid"]]
        assert len(pids) == 3 and all(alive(p) for p in pids), state
        deployment.proc.kill()
        deployment.proc.wait()
        assert gone_within(pids, 60) == []
    finally:
        deployment.stop()
        for pid in pids:  # leave nothing behind when the test failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_rollout_refuses_a_deployment_whose_deploy_up_was_killed(
    tmp_path: Path, replicated: Replicated
) -> None:
    path = tmp_path / "gone.toml"
    path.write_text(
        topology_text(replicated, port=free_port(), admin=free_port(), replicas=1, regions=1),
        encoding="utf-8",
    )
    folder = tmp_path / ".polyclass-deploy" / "gone"
    folder.mkdir(parents=True)
    # a SIGKILLed `deploy up` leaves its state file; a pid above pid_max is surely gone
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    (folder / "state.json").write_text(json.dumps({"pid": dead}), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", "rollout", str(path), "penguins:2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"no running deployment of {path}" in out.stderr
    assert not (folder / "rollout.json").exists()
