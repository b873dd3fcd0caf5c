"""The shadow's cost on served requests: ``polyclass serve`` with and without ``--shadow``.

The model of ``bench_serve.py`` (20 features, 5 classes, multinomial logistic regression)
is registered twice (version 2: scaled coefficients, a different model); two servers
run on 127.0.0.1 with one worker, the prediction log on: one serving version 1 alone
(the baseline), one serving version 1 with version 2 as a shadow on every request.
Load comes from ``wrk`` (one thread, 16 connections) at peak and from the open-loop
``paced`` client of ``bench_serve.py`` at half of the baseline's peak for p50/p99. Each
step runs on the baseline and then on the shadowed server before the next step (the
machine is shared), ``--repeat`` times; the best throughput and the median p99 of the
repeats are reported, with the server's CPU time per request (all its threads and
child processes, the shadow's included: on a loaded machine a steadier sign of the
shadow's cost than throughput) and the shadow's own counts from ``GET /admin/routing``:
per step, the share of the served requests that the shadow logged (the rest were
dropped, counted, when its process fell behind), and at the end its agreement.

Targets (issue #16): throughput with a shadow >= 80% of without; p99 unchanged within
the noise (shown as the difference in ms and the spread of the baseline's repeats).

Run: ``python benchmarks/bench_loop.py [--duration 5] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import Server, _step, bodies, free_port, make_data, paced, save_polyclass, wrk


def _registry(workdir: Path) -> Path:
    from polyclass.model import Model
    from polyclass.registry import Registry

    X, y = make_data()
    v1 = save_polyclass(X, y, workdir / "v1")
    model = Model.load(v1)
    model.estimator.coef_ = model.estimator.coef_ * 0.5
    v2 = model.save(workdir / "v2")
    registry = workdir / "registry"
    with Registry(str(registry)) as reg:
        reg.register("bench", v1)
        reg.register("bench", v2)
        reg.promote("bench", 1)
    return registry


def _serve(name: str, registry: Path, logs: Path, extra: list[str]) -> Server:
    port = free_port()
    argv = [
        sys.executable, "-m", "polyclass.cli", "serve", "bench@production",
        "--registry", str(registry), "--port", str(port), "--log-dir", str(logs),
        "--no-access-log", "--monitor-interval", "0", "--poll-interval", "0", *extra,
    ]  # fmt: skip
    server = Server(name, argv, port, "/v2/health/ready")
    # each step waits for its log's compaction (``_step``): its CPU is counted there, and
    # a busier step's compaction does not run during the other server's next step
    server.log_dir = logs
    return server


def _shadowed(server: Server) -> float | None:
    """Requests the shadow has logged so far, or None for a server without one."""
    r = httpx.get(server.url + "/admin/routing", timeout=10)
    return float(r.json()["shadow"]["requests"]) if r.status_code == 200 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        workdir = Path(tmp)
        registry = _registry(workdir)
        X, _ = make_data()
        payloads = bodies(X)
        base = _serve("no shadow", registry, workdir / "logs-a", [])
        shadow = _serve("shadow", registry, workdir / "logs-b", ["--shadow", "bench:2"])
        servers = [base, shadow]
        try:
            for s in servers:  # warm up
                wrk(s.url + "/invocations", payloads["inputs"], connections=4, duration=1,
                    workdir=workdir)  # fmt: skip
            runs: dict[str, dict[str, list[float]]] = {s.name: {} for s in servers}

            def note(server: Server, key: str, value: float) -> None:
                runs[server.name].setdefault(key, []).append(value)

            def step(server: Server, name: str, run: Any) -> dict[str, float]:
                """One load step; its CPU ms per request, and the share the shadow logged."""
                before = _shadowed(server)
                r = _step(server, run)
                note(server, name + "_cpu", r["cpu_ms"])
                if before is not None:
                    served = r["rps"] * r["seconds"]
                    note(server, name + "_logged", (_shadowed(server) - before) / served)
                return r

            for _ in range(args.repeat):
                peak: dict[str, float] = {}
                for s in servers:
                    r = step(s, "peak", partial(wrk, s.url + "/invocations", payloads["inputs"],
                             connections=16, duration=args.duration, workdir=workdir))  # fmt: skip
                    peak[s.name] = r["rps"]
                    note(s, "rps", r["rps"])
                    note(s, "non2xx", r["non2xx"])
                for s in servers:
                    r = step(s, "batch", partial(wrk, s.url + "/invocations",
                             payloads["split1000"], connections=4, duration=args.duration,
                             workdir=workdir))  # fmt: skip
                    note(s, "rows_per_s", r["rps"] * 1000)
                for s in servers:
                    r = step(s, "half", partial(paced, s.url + "/invocations", payloads["inputs"],
                             rate=peak[base.name] / 2, duration=args.duration))  # fmt: skip
                    note(s, "p50", r["p50"])
                    note(s, "p99", r["p99"])
            routing = httpx.get(shadow.url + "/admin/routing", timeout=10).json()["shadow"]
        finally:
            for s in servers:
                s.stop()
    _report(runs, base.name, shadow.name, routing)


def _report(
    runs: dict[str, dict[str, list[float]]], base: str, shadow: str, routing: dict[str, Any]
) -> None:
    a, b = runs[base], runs[shadow]
    print("\n## polyclass serve: a shadow on every request against none (one worker)")
    print(f"{'measure':<44} {'no shadow':>11} {'shadow':>11} {'ratio':>7} {'target':>8}")
    rows = [
        ("1-row requests/s at peak (best)", max(a["rps"]), max(b["rps"]), ">= 0.80"),
        ("1000-row batches: rows/s (best)", max(a["rows_per_s"]), max(b["rows_per_s"]), ">= 0.80"),
        ("p50 ms at half peak (median)", statistics.median(a["p50"]),
         statistics.median(b["p50"]), ""),
        ("p99 ms at half peak (median)", statistics.median(a["p99"]),
         statistics.median(b["p99"]), "~1"),
    ]  # fmt: skip
    for name, x, y, target in rows:
        print(f"{name:<44} {x:>11.1f} {y:>11.1f} {y / x:>7.2f} {target:>8}")
    for key, name in (("peak", "1-row at peak"), ("batch", "1000-row"), ("half", "half peak")):
        x, y = statistics.median(a[key + "_cpu"]), statistics.median(b[key + "_cpu"])
        print(f"{'server CPU ms per request, ' + name:<44} {x:>11.3f} {y:>11.3f} {y / x:>7.2f}")
    logged = ", ".join(
        f"{name} {100 * statistics.median(b[key + '_logged']):.0f}%"
        for key, name in (("peak", "1-row at peak"), ("batch", "1000-row"), ("half", "half peak"))
    )
    print(f"requests the shadow logged (median): {logged}")
    spread = max(a["p99"]) - min(a["p99"])
    diff = statistics.median(b["p99"]) - statistics.median(a["p99"])
    print(
        f"p99 difference {diff:+.2f} ms; spread of the baseline's own p99 over its repeats "
        f"{spread:.2f} ms ({len(a['p99'])} repeats)"
    )
    print(
        f"shadow: {routing['requests']:,} requests shadowed, {routing['dropped']:,} dropped "
        f"(buffer full), {routing['errors']} errors, agreement {routing['agreement']:.3f}; "
        f"non-2xx: {int(sum(a['non2xx']))} / {int(sum(b['non2xx']))}"
    )


if __name__ == "__main__":
    main()
