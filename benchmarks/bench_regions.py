"""polyclass deploy: the router's overhead and the failover figures, in one run.

* Router overhead: one region of one replica behind Envoy against calling that same
  replica directly: closed-loop throughput ratio (16 connections; target >= 0.8x) and
  the latency an open-loop client sees at a fixed rate (added p50 and p99; targets
  <= 1 ms and <= 5 ms). Direct and router runs alternate (which goes first too), and
  each figure is the median over the rounds of the router's run against the direct run
  beside it.
* Failover: the chaos run of tests/deploy/_chaos.py (3 regions x 2 replicas, an open
  loop client, a region SIGKILLed, one SIGSTOPped, a killed region back, a store
  unreachable while its replicas restart) at the issue's 1,000 requests/s open loop
  (the client in a process of its own), each figure against the issue's target:
  0 failed requests, detection <= 0.5 s, traffic off the dead region <= 1 s, back in
  rotation <= 2 s after it is ready, p99 < 25 ms, 0 answers outside the residency.

The machine's load average is printed: under load the figures are indicative. Run:
``python benchmarks/bench_regions.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "deploy"), str(ROOT / "tests")]

from _chaos import (  # noqa: E402
    ChaosRun,
    Deployment,
    OpenLoopClient,
    penguin_requests,
    quantiles,
    run_chaos,
    timings,
    verdict,
)
from _deploy_helpers import replicate_to_regions, topology_text  # noqa: E402

from polyclass.deploy._local import free_port  # noqa: E402

#: Alternated rounds of the overhead runs, and each run's seconds.
ROUNDS = 5
THROUGHPUT_S = 2.0
LATENCY_S = 3.0


def line(what: str, value: str, target: str, ok: bool | None) -> None:
    verdict_text = "" if ok is None else ("ok" if ok else "MISS")
    print(f"{what:<52} {value:>16}   target {target:<10} {verdict_text}")


def start(folder: Path, replicated: object, name: str, **shape: int) -> tuple[Deployment, int, int]:
    port, admin = free_port(), free_port()
    path = folder / f"{name}.toml"
    path.write_text(topology_text(replicated, port=port, admin=admin, **shape))  # type: ignore[arg-type]
    deployment = Deployment(path, folder / ".polyclass-deploy" / name)
    deployment.wait_ready()
    return deployment, port, admin


def overhead(folder: Path, replicated: object, requests: list[tuple[bytes, str]]) -> None:
    deployment, port, _ = start(folder, replicated, "one", replicas=1, regions=1)
    try:
        direct = int(deployment.addresses("eu-west")[0].split(":")[1])
        targets = {"direct": direct, "router": port}
        through: dict[str, list[float]] = {"direct": [], "router": []}
        for order in _orders():
            for label in order:
                client = OpenLoopClient(targets[label], requests, rate=1, duration=1, mix=[None])
                through[label].append(client.throughput(16, THROUGHPUT_S))
        rate = max(20.0, 0.3 * statistics.median(through["direct"]))
        latency: dict[str, list[tuple[float, float, float]]] = {"direct": [], "router": []}
        for order in _orders():
            for label in order:
                client = OpenLoopClient(targets[label], requests, rate=rate, duration=LATENCY_S,
                                        mix=[None])  # fmt: skip
                client.run()
                latency[label].append(
                    quantiles([a.latency for a in client.answers if a.status == 200])
                )
    finally:
        deployment.stop()
    # each round's router figure against the direct one measured beside it, the median
    # of the rounds: a disturbance of the shared machine moves one round, not the figure
    ratios = [r / d for r, d in zip(through["router"], through["direct"], strict=True)]
    added = {
        q: [r[q] - d[q] for r, d in zip(latency["router"], latency["direct"], strict=True)]
        for q in (0, 1)
    }
    ratio = statistics.median(ratios)
    added50, added99 = statistics.median(added[0]), statistics.median(added[1])
    direct_rps = statistics.median(through["direct"])
    print(f"== router overhead (one replica; direct {direct_rps:.0f} req/s closed loop; median "
          f"of {ROUNDS} alternated rounds, each round's spread in brackets)")  # fmt: skip
    line("throughput via Envoy / direct", f"{ratio:.2f}x", ">= 0.8x", ratio >= 0.8)
    print(f"   [{_spread(ratios, '.2f')}]")
    line(f"added p50 at {rate:.0f} req/s open loop", f"{added50:+.2f} ms", "<= 1 ms", added50 <= 1)
    print(f"   [{_spread(added[0], '+.2f')}]")
    line(f"added p99 at {rate:.0f} req/s open loop", f"{added99:+.2f} ms", "<= 5 ms", added99 <= 5)
    print(f"   [{_spread(added[1], '+.2f')}]")
    for label in ("direct", "router"):
        p50 = statistics.median(q[0] for q in latency[label])
        p99 = statistics.median(q[1] for q in latency[label])
        print(f"   {label} p50/p99 {p50:.2f}/{p99:.2f} ms (median of the rounds)")


def _orders() -> list[tuple[str, str]]:
    """Direct first in every other round, so a drift of the machine's load favours neither."""
    return [("direct", "router") if i % 2 == 0 else ("router", "direct") for i in range(ROUNDS)]


def _spread(values: list[float], spec: str) -> str:
    return ", ".join(format(v, spec) for v in values)


def failover(folder: Path, replicated: object, requests: list[tuple[bytes, str]]) -> None:
    deployment, port, admin = start(folder, replicated, "chaos")
    stores = {n: Path(u.removeprefix("file://")) for n, u in replicated.stores.items()}
    try:
        run = run_chaos(  # the rate, whatever this machine's capacity
            deployment,
            requests,
            port=port,
            admin=f"127.0.0.1:{admin}",
            store_dirs=stores,
            share=None,
        )
    finally:
        deployment.stop()
    counts, figures = verdict(run), timings(run)
    print(
        f"== failover (3 regions x 2 replicas, {figures['rate_rps']:.0f} req/s open loop for "
        f"{run.duration:.0f} s; closed-loop capacity measured first "
        f"{figures['capacity_rps']:.0f} req/s; {counts['requests']} requests)"
    )
    dues = sorted(a.due for a in run.answers)
    sent = (len(dues) - 1) / (dues[-1] - dues[0])
    line("requests per second, on schedule (open loop)", f"{sent:.0f}", ">= 1000", sent >= 999)
    failed = counts["plain_failed"] + counts["located_failed"]
    line("failed requests (kill, hang, store down)", str(failed), "0", failed == 0)
    for (residency, status, body), count in counts["failures"]:
        print(f"   {count} x status {status} (residency {residency}): {body!r}")
    line(
        "wrong answers (vs polyclass.load)",
        str(counts["wrong_answers"]),
        "0",
        counts["wrong_answers"] == 0,
    )
    line(
        "answers outside the requested residency",
        str(counts["outside_residency"]),
        "0",
        counts["outside_residency"] == 0,
    )
    line("'eu' requests refused (eu always had a region up)", str(counts["eu_503"]), "0",
         counts["eu_503"] == 0)  # fmt: skip
    line(
        "explicit 503 naming the residency (us hung)",
        f"{counts['residency_503_named']}/{counts['residency_503']}",
        "all",
        counts["residency_503_named"] == counts["residency_503"],
    )
    for event, what in (
        ("kill", "SIGKILL"),
        ("hang", "SIGSTOP"),
        ("store-down", "store down + kill"),
    ):
        detect, off = figures.get(f"{event}_detect_s"), figures.get(f"{event}_off_s")
        line(
            f"{what}: detected",
            "-" if detect is None else f"{detect:.2f} s",
            "<= 0.5 s",
            detect is not None and detect <= 0.5,
        )
        line(
            f"{what}: traffic off the region",
            "-" if off is None else f"{off:.2f} s",
            "<= 1 s",
            off is not None and off <= 1.0,
        )
    for event, what in (
        ("kill", "killed region"),
        ("resume", "hung region (SIGCONT)"),
        ("store-down", "region restarted from cache"),
    ):
        back = figures.get(f"{event}_back_s")
        line(
            f"{what}: back after ready",
            "-" if back is None else f"{back:.2f} s",
            "<= 2 s",
            back is not None and back <= 2.0,
        )
    line("p50 latency, whole run", f"{figures['p50_ms']:.1f} ms", "-", None)
    line("p99 latency, whole run", f"{figures['p99_ms']:.1f} ms", "< 25 ms", figures["p99_ms"] < 25)
    line("slowest answer", f"{figures['max_ms']:.0f} ms", "-", None)
    print_slow_by_phase(run)


def print_slow_by_phase(run: ChaosRun) -> None:
    """Where the whole run's tail sits: answers over 25 ms between one event and the next."""
    marks = [("start", run.started)] + [(e.name, e.at) for e in run.events]
    marks += [(f"{name} back", at) for name, at in run.back.items()]
    marks.sort(key=lambda mark: mark[1])
    answers = run.answers
    parts = []
    for (name, at), (_, until) in zip(marks, [*marks[1:], ("end", float("inf"))], strict=True):
        inside = [a for a in answers if at <= a.due < until and a.status == 200]
        slow = sum(a.latency > 0.025 for a in inside)
        parts.append(f"{name} +{at - run.started:.1f}s: {slow}/{len(inside)}")
    print("   answers over 25 ms from each event to the next: " + "; ".join(parts))


def main() -> None:
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-regions-") as tmp:
        folder = Path(tmp)
        replicated = replicate_to_regions(folder / "model")
        requests = penguin_requests(replicated.trained.model_dir)
        overhead(folder, replicated, requests)
        failover(folder, replicated, requests)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
