"""polyclass cloud against the three emulators (moto S3, gcp-storage-emulator, Azurite), in one run.

A 200 MB artifact (eight float64 arrays of 25 MB) is registered and measured:

* replicate to all three stores at once vs the slowest single-store replicate
  (target <= 1.3x) and vs uploading the same files one store and one file at a time
  with the same libraries (fsspec ``put_file``; target >= 2.5x faster);
* ``verify`` throughput vs the stores' raw read throughput in the same run (the same
  blobs read whole with ``cat_file``, one GET each, the same concurrency, no hashing;
  raw read and verify alternate three times, the best of each counting; target >= 80%);
* a second replicate of the unchanged version (target < 0.5 s, 0 bytes);
* ``polyclass serve`` of the penguins model from each cloud's store: process start to
  the first 200 on /v2/health/ready with a cold cache (target < 2 s) and a warm one
  (< 1 s), beside the same server started from an artifact directory and from the local
  registry (no store) for scale, each with the CPU seconds the server used by then.

Each figure is printed with its ratio against its target, and the load average beside
the run. Every transfer step also prints the CPU seconds of our client and of each
emulator (benchmarks/_cpu_meter.py), their sum over the cores (the least wall time that
work can take here), and what the ratios would be were every step at that floor: the
emulators and the client share the machine's cores, so on a loaded machine the CPU
seconds, not the wall times, say whether a ratio is the code's or the machine's. The
cloud libraries are imported and their clients opened before the first timing. The
emulators are the ones the tests start (tests/cloud/_cloud_emulators.py). Run:
``python benchmarks/bench_cloud.py`` (``--only transfers`` or ``--only serve`` for one
half).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "cloud"), str(ROOT / "tests")]
warnings.filterwarnings("ignore", "Sending a large body directly", ResourceWarning)

from _cloud_emulators import free_port, make_bucket, running_emulators  # noqa: E402

from _cpu_meter import CORES, Meter  # noqa: E402
from polyclass.artifact import save_artifact  # noqa: E402
from polyclass.cloud import Cache, Store, replicate, verify  # noqa: E402
from polyclass.registry import Registry  # noqa: E402

SCHEME = {"s3": "s3", "gcs": "gs", "azure": "az"}


def timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def fresh(buckets: dict[str, str]) -> dict[str, str]:
    prefix = uuid.uuid4().hex[:8]
    return {c: f"{SCHEME[c]}://{b}/{prefix}" for c, b in buckets.items()}


def wipe(urls: dict[str, str]) -> None:
    for url in urls.values():
        store = Store(url)
        try:
            store.fs.rm(store.root, recursive=True)
        except FileNotFoundError:
            pass


def sequential_upload(files: list[Path], urls: dict[str, str]) -> float:
    """The baseline: one store, one file at a time, with the same libraries."""
    start = time.perf_counter()
    for url in urls.values():
        store = Store(url)
        for file in files:
            store.fs.put_file(str(file), store.path(f"plain/{file.name}"))
    return time.perf_counter() - start


def raw_read(urls: dict[str, str]) -> int:
    """Every blob of every store read whole (cat_file, one GET each), 4 per store, stores at
    once, no hash."""

    def one_store(url: str) -> int:
        store = Store(url)
        keys = [f"blobs/{sha}" for sha in store.sizes("blobs")]
        with ThreadPoolExecutor(4) as pool:
            return sum(len(b) for b in pool.map(store.read, keys))

    with ThreadPoolExecutor(len(urls)) as pool:
        return sum(pool.map(one_store, urls.values()))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def serve_ready(args: list[str], cache: Path, cwd: Path) -> tuple[float, float]:
    """Seconds from process start to the first 200 on the ready route, and the CPU
    seconds the server used by then (what a busy machine does not inflate)."""
    port = free_port()
    env = {**os.environ, "POLYCLASS_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polyclass.cli",
            "serve",
            *args,
            "--port",
            str(port),
            "--no-prediction-log",
            "--monitor-interval",
            "0",
            "--no-access-log",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}")
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=0.5).status_code
                    == 200
                ):
                    return time.perf_counter() - start, cpu_seconds(proc.pid)
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(30)


def line(what: str, value: str, ratio: float, target: str, ok: bool) -> None:
    print(f"{what:<58} {value:>18}   {ratio:6.2f}x  target {target:<8} {'ok' if ok else 'MISS'}")


def warm_up(buckets: dict[str, str], file: Path) -> None:
    """Import each cloud library and open its client and connections before any timing,
    so the first single-store run does not pay for them and the others not."""
    for url in fresh(buckets).values():
        Store(url).put_file(file, "warm-up")
        wipe({"": url})


def transfers(work: Path, buckets: dict[str, str], meter: Meter) -> None:
    """Replicate, re-replicate and verify a 200 MB artifact; print their ratios."""
    rng = np.random.default_rng(0)
    arrays = {f"w{i}": rng.random(25_000_000 // 8) for i in range(8)}
    artifact = save_artifact(work / "big", {"what": "bench"}, arrays)
    # The single-store runs record their replicas in a registry of their own: verify
    # checks every replica recorded, and theirs are wiped after timing.
    registry, singles_registry = str(work / "registry"), str(work / "singles")
    for where in (registry, singles_registry):
        with Registry(where) as reg:
            reg.register("big", artifact)
            Cache().local_files(reg.resolve("big:1").path)  # hashed once, as after a replicate
    files = sorted(artifact.iterdir())
    size = sum(f.stat().st_size for f in files)
    print(f"artifact: {len(files)} files, {size / 1e6:.0f} MB; stores: {sorted(buckets.values())}")
    warm_up(buckets, files[0])

    singles = {}
    for cloud in SCHEME:
        urls = fresh(buckets)
        singles[cloud], _ = meter.run(
            f"single {cloud}",
            lambda u=urls[cloud]: replicate("big", [u], registry=singles_registry),
        )
        wipe(urls)
    urls = fresh(buckets)
    t_seq, _ = meter.run("sequential", lambda: sequential_upload(files, urls))
    wipe(urls)
    urls = fresh(buckets)
    t_par, result = meter.run(
        "at once", lambda: replicate("big", list(urls.values()), registry=registry)
    )
    assert result.ok, result  # type: ignore[attr-defined]
    t_again, again = meter.run(
        "second replicate", lambda: replicate("big", list(urls.values()), registry=registry)
    )
    raws, verifies = [], []
    for round_ in (1, 2, 3):  # raw read and verify alternate, the best of each counts
        raws.append((*meter.run(f"raw read {round_}", lambda: raw_read(urls)), round_))
        verifies.append(
            (*meter.run(f"verify {round_}", lambda: verify("big", registry=registry)), round_)
        )
    t_raw, raw, raw_round = min(raws, key=lambda r: r[0])
    t_verify, checks, verify_round = min(verifies, key=lambda v: v[0])
    assert [len(c.replicas) for c in checks] == [3], checks  # type: ignore[attr-defined]
    assert all(c.ok for c in checks), checks  # type: ignore[attr-defined]
    verified = sum(r.bytes_read for c in checks for r in c.replicas)  # type: ignore[attr-defined]
    wipe(urls)
    meter.close()

    slowest = max(singles.values())
    steps = meter.steps
    print("single-store replicate (s): " + ", ".join(f"{c} {t:.2f}" for c, t in singles.items()))
    meter.report()
    line(
        "replicate to 3 stores at once / slowest single store",
        f"{t_par:.2f} s / {slowest:.2f} s",
        t_par / slowest,
        "<= 1.3x",
        t_par / slowest <= 1.3,
    )
    at_once = steps["at once"]
    single = max((steps[f"single {c}"] for c in SCHEME), key=lambda s: s.floor)
    print(
        f"  at once: {at_once.total:.2f} CPU s / {CORES} cores = bound {at_once.bound:.2f} s, "
        f"wall {at_once.wall / at_once.bound:.2f}x it; the singles used "
        f"{sum(steps[f'single {c}'].total for c in SCHEME):.2f} CPU s together. Every step "
        f"at its CPU floor: at once {at_once.floor:.2f} s / slowest single {single.floor:.2f} "
        f"s = {at_once.floor / single.floor:.2f}x"
    )
    line(
        "sequential one-store-one-file / replicate to 3 at once",
        f"{t_seq:.2f} s / {t_par:.2f} s",
        t_seq / t_par,
        ">= 2.5x",
        t_seq / t_par >= 2.5,
    )
    print(
        f"  sequential: {steps['sequential'].total:.2f} CPU s, one request at a time; "
        f"against the at-once floor at most {steps['sequential'].total / at_once.floor:.2f}x"
    )
    v_rate, r_rate = verified / t_verify / 1e6, raw / t_raw / 1e6  # type: ignore[operator]
    line(
        "verify throughput / raw read throughput",
        f"{v_rate:.0f} / {r_rate:.0f} MB/s",
        v_rate / r_rate,
        ">= 0.8x",
        v_rate / r_rate >= 0.8,
    )
    best_raw, best_verify = steps[f"raw read {raw_round}"], steps[f"verify {verify_round}"]
    print(
        f"  raw read {best_raw.total:.2f} CPU s, verify {best_verify.total:.2f} CPU s (the "
        f"best rounds): when the cores are the limit verify / raw is at most "
        f"{best_raw.total / best_verify.total:.2f}x"
    )
    sent = again.uploaded_bytes  # type: ignore[attr-defined]
    line(
        "second replicate (unchanged) / 0.5 s",
        f"{t_again:.3f} s, {sent} B",
        t_again / 0.5,
        "< 1x",
        t_again < 0.5 and sent == 0,
    )


def serving(work: Path, buckets: dict[str, str]) -> None:
    """Start `polyclass serve` of penguins:1 from each cloud's store, cold then warm."""
    from _serve_helpers import trained_registry

    penguins = trained_registry(work / "penguins").registry
    stores = fresh(buckets)
    replicate("penguins:1", list(stores.values()), registry=str(penguins))
    local, local_cpu = serve_ready(
        ["penguins:1", "--registry", str(penguins)], work / "no-cache", work
    )
    with Registry(str(penguins)) as reg:
        artifact_dir = str(reg.resolve("penguins:1").path)
    plain, plain_cpu = serve_ready([artifact_dir], work / "no-cache", work)
    print(
        f"for scale: serve an artifact directory {plain:.2f} s ({plain_cpu:.2f} s CPU), "
        f"from the local registry {local:.2f} s ({local_cpu:.2f} s CPU)"
    )
    for cloud, store in stores.items():
        cache = work / f"serve-cache-{cloud}"  # each cloud starts cold
        args = ["penguins:1", "--store", store, "--registry", str(work / "empty")]
        cold, cold_cpu = serve_ready(args, cache, work)
        warm, warm_cpu = serve_ready(args, cache, work)
        line(
            f"serve from {cloud}, cold cache / 2 s",
            f"{cold:.2f} s ({cold_cpu:.2f} CPU)",
            cold / 2,
            "< 1x",
            cold < 2,
        )
        line(
            f"serve from {cloud}, warm cache / 1 s",
            f"{warm:.2f} s ({warm_cpu:.2f} CPU)",
            warm / 1,
            "< 1x",
            warm < 1,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=["transfers", "serve"], help="run one half of the benchmark"
    )
    only = parser.parse_args().only
    work = Path(tempfile.mkdtemp(prefix="bench-cloud-"))
    os.environ["POLYCLASS_CACHE"] = str(work / "cache")
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    try:
        with running_emulators() as emulators:
            buckets = {c: f"bench-{c}-{uuid.uuid4().hex[:6]}" for c in SCHEME}
            for cloud, bucket in buckets.items():
                make_bucket(cloud, bucket)
            if only in (None, "transfers"):
                pids = {c: e.proc.pid for c, e in emulators.items()}
                with Meter(pids, work / "samples.txt") as meter:
                    transfers(work, buckets, meter)
            if only in (None, "serve"):
                serving(work, buckets)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
