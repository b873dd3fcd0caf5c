"""A replica that starts while others serve runs on half the CPUs until it listens, then
on all of them: two restarts at once held every core, and the serving replicas' answers
waited behind them (the chaos run's tail)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _chaos import Deployment, ready, wait_until
from _deploy_helpers import Replicated, topology_text

from polyclass.deploy._children import set_cpus, starting_cpus
from polyclass.deploy._local import _START_SLOT, free_port

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU affinity is Linux's"),
    pytest.mark.skipif(starting_cpus() is None, reason="one CPU: nothing to share out"),
]

THREADS = """
import subprocess, sys, threading
for _ in range(3):
    threading.Thread(target=threading.Event().wait, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()  # then a child, started where this process runs by then
grandchild = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
print(grandchild.pid, flush=True)
sys.stdin.read()
"""


def cpus_of(pid: int) -> list[set[int]]:
    """The CPUs each thread of ``pid`` may run on."""
    return [os.sched_getaffinity(int(t)) for t in os.listdir(f"/proc/{pid}/task")]


def test_set_cpus_moves_every_thread_and_gives_them_back() -> None:
    starting = starting_cpus()
    assert starting and starting < os.sched_getaffinity(0)
    with subprocess.Popen(
        [sys.executable, "-c", THREADS], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        set_cpus(child.pid, starting)
        assert cpus_of(child.pid) == [starting] * 4
        child.stdin.write(b"start a child\n")
        child.stdin.flush()
        grandchild = int(child.stdout.readline())
        assert cpus_of(grandchild) == [starting]
        set_cpus(child.pid, None)
        assert cpus_of(child.pid) == [os.sched_getaffinity(0)] * 4
        # a child it started while confined gets every CPU back with it
        assert cpus_of(grandchild) == [os.sched_getaffinity(0)]
        child.kill()
        os.kill(grandchild, signal.SIGKILL)
    set_cpus(child.pid, starting)  # gone: nothing to do, no error


@pytest.mark.slow
def test_a_restarted_replica_starts_on_the_starting_cpus_then_gets_them_all(
    tmp_path: Path, replicated: Replicated
) -> None:
    path = tmp_path / "restart.toml"
    text = topology_text(replicated, port=free_port(), admin=free_port(), replicas=1, regions=1)
    path.write_text(text, encoding="utf-8")
    deployment = Deployment(path, tmp_path / ".polyclass-deploy" / "restart")
    try:
        deployment.wait_ready()
        (first,) = deployment.pids("eu-west")
        (address,) = deployment.addresses("eu-west")
        assert os.sched_getaffinity(first) == os.sched_getaffinity(0)  # started before traffic
        os.kill(first, signal.SIGKILL)
        seen: list[set[int]] = []

        def restarted() -> bool:
            (pid,) = deployment.pids("eu-west")
            if pid in (first, None):
                return False
            seen.append(os.sched_getaffinity(pid))
            return True

        assert wait_until(restarted, 60, step=0.01) is not None
        assert seen[0] == starting_cpus()  # it starts where it leaves the others a CPU
        assert wait_until(lambda: ready(address), 60) is not None
        (pid,) = deployment.pids("eu-west")
        everything = os.sched_getaffinity(0)
        assert wait_until(lambda: cpus_of(pid) == [everything] * len(cpus_of(pid)), 10)
    finally:
        assert deployment.stop() == 0


@pytest.mark.slow
@pytest.mark.skipif(starting_cpus() != {os.cpu_count() - 1}, reason="one starting CPU")
def test_a_killed_region_restarts_one_replica_at_a_time(
    tmp_path: Path, replicated: Replicated
) -> None:
    # one starting CPU: the second replica starts once the first listens (it answers
    # then) or has held the CPU for _START_SLOT, so the first is back as soon as it would
    # be alone and the two do not share a CPU while starting
    path = tmp_path / "stagger.toml"
    text = topology_text(replicated, port=free_port(), admin=free_port(), replicas=2, regions=1)
    path.write_text(text, encoding="utf-8")
    deployment = Deployment(path, tmp_path / ".polyclass-deploy" / "stagger")
    try:
        deployment.wait_ready()
        killed = deployment.pids("eu-west")
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        addresses = deployment.addresses("eu-west")
        order: list[str] = []  # addresses in the order their new process appeared
        started: dict[str, float] = {}

        def both_restarted() -> bool:
            for replica in deployment.state()["replicas"]:
                address = replica["address"]
                if replica["pid"] not in killed and address not in order:
                    started[address] = replica["started_at"]
                    for first in order:  # it listened, or its slot's time was up
                        waited = started[address] - started[first]
                        assert ready(first) or waited >= _START_SLOT - 0.1, (first, waited)
                    order.append(address)
            return len(order) == 2

        assert wait_until(both_restarted, 120, step=0.01) is not None
        assert sorted(order) == sorted(addresses)
        assert wait_until(lambda: all(ready(a) for a in addresses), 60) is not None
    finally:
        assert deployment.stop() == 0
