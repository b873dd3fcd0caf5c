"""polyclass serve against ``mlflow models serve`` on the same model, in one run.

A 20-feature, 5-class logistic regression (the same standardised data; polyclass's
multinomial model and a scikit-learn ``StandardScaler + LogisticRegression`` pipeline
saved with ``mlflow.sklearn``) is served on 127.0.0.1 by each server with one worker
(MLflow with ``--env-manager local``). Load comes from ``wrk`` (one client thread;
``apt-get install wrk``) on loopback:

* one-row ``inputs`` and one-row ``dataframe_split`` requests at peak (16 connections),
* one-row ``inputs`` at half of each server's own measured peak, for p50/p99, from an
  open-loop client (``paced``: wrk has no rate limit and wrk2 is not packaged): request
  ``i`` is due at ``start + i / rate`` whatever the answers before it did, spread over 8
  keep-alive connections; each answer's service time runs from its send to the kernel's
  receive time, and a request's latency is what an on-time client would have seen with
  those service times (it waits for the request before it on its connection: no
  coordinated omission; the client's own scheduling delays on the shared cores are not
  counted as the server's),
* 1,000-row ``dataframe_split`` batches at peak (rows/s),
* cold start (process start to the first 200 on the health route) and resident memory
  of the worker process after the load (and its peak, VmHWM).

Both servers are started first and every load step runs on polyclass and then on MLflow
before the next step, so a change in the (shared) machine's load falls on both sides
instead of on whichever server ran second. Each step also reports the server's CPU time
per request (user + system, all its processes and threads, from /proc), a measure that
depends much less on what else the machine is doing than requests/s.

Every figure is printed with the ratio against MLflow. polyclass runs as shipped: JSON
access log on (to /dev/null) and the prediction log on (to a temporary folder).

MLflow is looked up with ``--mlflow`` (an ``mlflow`` executable), else on PATH; it is
in the ``bench`` extra (``pip install -e .[bench]``). Without it, polyclass is measured
alone. Run: ``python benchmarks/bench_serve.py [--duration 10] [--parts mlflow,oip]
[--rounds 3]``.

The Open Inference Protocol part (``_oip_bench.py``) then measures polyclass (as shipped,
and again without its prediction log, since MLServer keeps none) against MLServer over
REST JSON, REST binary and gRPC, one-row and 1,000-row requests; it needs ``h2load``
(``apt-get install nghttp2-client``) and installs MLServer into ``.bench/mlserver`` on
first use (``--mlserver`` names another executable). With ``--rounds N`` it runs every
path N times and reports medians, each ratio the median of the ratios within a round;
each step also reports the server's context switches per request and the load
client's CPU (in cores), which shares the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import _oip_bench as oip

N_FEATURES, N_CLASSES, N_TRAIN = 20, 5, 5000
COLUMNS = [f"f{j}" for j in range(N_FEATURES)]


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.5, size=(N_CLASSES, N_FEATURES))
    y = rng.integers(0, N_CLASSES, N_TRAIN)
    X = (
        centers[y]
        + rng.normal(0, 2.0, size=(N_TRAIN, N_FEATURES)) * rng.uniform(0.5, 20, N_FEATURES)
        + rng.uniform(-50, 50, N_FEATURES)
    )
    return X, np.array([f"class_{k}" for k in y])


def save_polyclass(X: np.ndarray, y: np.ndarray, out: Path) -> Path:
    import pandas as pd

    from polyclass import LogisticRegression
    from polyclass.data import infer_schema
    from polyclass.model import Model
    from polyclass.preprocess import Preprocessor

    df = pd.DataFrame(X, columns=COLUMNS).assign(target=y)
    schema = infer_schema(df, "target")
    pre = Preprocessor(schema).fit(df)
    est = LogisticRegression(max_iter=500).fit(pre.transform(df), y)
    return Model(schema=schema, preprocessor=pre, estimator=est).save(out / "polyclass-model")


def save_mlflow(mlflow_exe: str, X: np.ndarray, y: np.ndarray, out: Path) -> Path:
    """Fit and save the scikit-learn pipeline with mlflow's own Python."""
    path = out / "mlflow-model"
    np.save(out / "X.npy", X)
    np.save(out / "y.npy", y)
    script = f"""
import numpy as np, pandas as pd, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X = pd.DataFrame(np.load({str(out / "X.npy")!r}), columns={COLUMNS!r})
y = np.load({str(out / "y.npy")!r})
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
mlflow.sklearn.save_model(model, {str(path)!r}, signature=infer_signature(X, model.predict(X)))
"""
    python = Path(mlflow_exe).parent / "python"
    subprocess.run([str(python), "-c", script], check=True, env=_quiet_env())
    return path


def _quiet_env() -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": "file:///tmp/bench-serve-mlruns",
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self, name: str, argv: list[str], port: int, health: str, path: str | None = None
    ) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.health = health
        #: The prediction log's folders (polyclass with its log): see ``_step``.
        self.log_dir: Path | None = None
        start = time.perf_counter()
        env = _quiet_env()
        if path:  # `mlflow models serve` execs `uvicorn` from PATH: its own environment's
            env["PATH"] = path + os.pathsep + env.get("PATH", "")
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}: {argv}")
            try:
                if httpx.get(self.url + health, timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        self.cold_start = time.perf_counter() - start

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn's worker, for MLflow)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [self.proc.pid] + [int(x) for x in out.split()]

    def helper_pids(self) -> list[int]:
        """Helper processes in the tree: Python's multiprocessing ones (polyclass's
        monitoring child while it refreshes the gauges, and its resource tracker) and the
        prediction log's compaction child while it runs."""
        out = []
        for pid in self.pids():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"multiprocessing" in cmdline or b"polyclass.predlog._compact" in cmdline:
                out.append(pid)
        return out

    def worker_rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory (or its peak, ``VmHWM``) of the largest serving process in the
        tree (helpers apart: :meth:`helper_rss_mb`)."""
        helpers = set(self.helper_pids())
        return max(_rss_kb(pid, field) for pid in self.pids() if pid not in helpers) / 1024

    def helper_rss_mb(self) -> float:
        """Resident memory of the multiprocessing helpers alive now, summed."""
        return sum(_rss_kb(pid) for pid in self.helper_pids()) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's processes (all threads),
        with that of their children which have exited (polyclass's monitoring child)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15]) / ticks  # [c]utime, [c]stime
        return total

    def context_switches(self) -> int:
        """Context switches so far of every thread of the server's processes (a thread
        that has exited no longer counts): how often a request's work moved between
        threads or waited, which the gRPC transport does far more than HTTP."""
        total = 0
        for pid in self.pids():
            for status in Path(f"/proc/{pid}/task").glob("*/status"):
                try:
                    lines = status.read_text().splitlines()
                except OSError:
                    continue
                total += sum(int(x.split()[1]) for x in lines if "ctxt_switches:" in x)
        return total

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    url: str,
    body: bytes,
    *,
    connections: int,
    duration: float,
    workdir: Path,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> dict[str, float]:
    """Run wrk at full speed; returns requests/s, p50/p99 latency (ms), and non-2xx count."""
    body_file = workdir / "body.json"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    script.write_text(
        f'local f = io.open("{body_file}", "rb"); local body = f:read("*a"); f:close()\n'
        'wrk.method = "POST"; wrk.body = body\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n' + extra
    )
    seconds = f"-d{max(1, round(duration))}s"
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", seconds, "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    seconds = (
        float(done.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
        if done
        else duration
    )
    return {
        "rps": rps,
        "p50": pct.get("50", float("nan")),
        "p99": pct.get("99", float("nan")),
        "non2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": float(bool(errors)),
        "seconds": seconds,
    }


#: Linux's SO_TIMESTAMPNS (not exported by the socket module): each recvmsg() then carries
#: the kernel's receive time of the data it returns.
SO_TIMESTAMPNS = 35


def _complete(buffer: bytes) -> tuple[int, int] | None:
    """(status, length) of the HTTP/1.1 response at the start of ``buffer``, once all in."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in buffer[:end].split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    size = end + 4 + length
    return (int(buffer[9:12]), size) if len(buffer) >= size else None


def paced(
    url: str,
    body: bytes,
    *,
    rate: float,
    duration: float,
    connections: int = 8,
    trace: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Open-loop load at a fixed ``rate``: requests/s, p50/p99/max latency (ms), non-2xx.

    Request ``i`` is due at ``start + i / rate`` on connection ``i % connections``. Its
    service time runs from when it was sent to the kernel's receive time of the last
    bytes of its answer (``SO_TIMESTAMPNS``), and its latency is what a client that sent
    every request on time would have seen with those service times: on each connection,
    a request starts at its due time or when the one before it would have been answered,
    whichever is later, and takes its service time (no coordinated omission: a slow
    answer delays the requests queued behind it). So the client's own scheduling delays
    on this shared machine do not count as server latency. (Timed from the client's
    reads, a client descheduled for 10 ms stamped every answer that arrived meanwhile
    up to 10 ms late, and its lateness in sending counted too whenever it made the
    connection look busy at the next due time; its p99 lateness in sending was 2-9 ms in
    scratch runs.) One non-blocking socket per connection under one ``selectors`` loop,
    no asyncio streams. Where the kernel has no
    receive times, the time of the read is used. ``trace`` (a dict) receives the start
    (ns, wall clock), the interval between requests (ns) and every latency (s).
    """
    import selectors
    import struct

    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    request = (
        f"POST /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
        f"application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    socks = [socket.create_connection((host, int(port))) for _ in range(connections)]
    stamped = True
    selector = selectors.DefaultSelector()
    for k, sock in enumerate(socks):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            stamped = False
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, k)
    n = max(1, int(rate * duration))
    latency = np.zeros(n)
    step = 1e9 / rate
    start = time.time_ns() + 50_000_000
    following = list(range(connections))  # the next request of each connection
    busy = [False] * connections
    sent = [0] * connections
    free = [0.0] * connections  # when each connection's last answer would have come (ns)
    buffers = [b""] * connections
    space = socket.CMSG_SPACE(16)
    failed = done = 0
    while done < n:
        now = time.time_ns()
        wait: float | None = None
        for k in range(connections):
            i = following[k]
            if busy[k] or i >= n:
                continue
            due = start + i * step
            if due <= now:
                sent[k] = time.time_ns()
                socks[k].sendall(request)
                busy[k] = True
            else:
                wait = due - now if wait is None else min(wait, due - now)
        for key, _ in selector.select(None if wait is None else wait / 1e9):
            k = key.data
            data, ancillary, _, _ = socks[k].recvmsg(1 << 16, space)
            arrived = next(
                (
                    s * 1_000_000_000 + ns
                    for level, kind, raw in ancillary
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                    for s, ns in [struct.unpack("qq", raw[:16])]
                ),
                None,
            )
            if arrived is None:
                arrived = time.time_ns()
            if not data:
                raise RuntimeError("the server closed a connection of the paced client")
            buffers[k] += data
            answer = _complete(buffers[k])
            if answer is None:
                continue
            status, size = answer
            buffers[k] = buffers[k][size:]
            failed += status != 200
            i = following[k]
            due = start + i * step
            free[k] = max(due, free[k]) + (arrived - sent[k])
            latency[i] = (free[k] - due) / 1e9
            busy[k] = False
            following[k] += connections
            done += 1
    elapsed = (time.time_ns() - start) / 1e9
    for sock in socks:
        sock.close()
    if trace is not None:
        trace.update(start=start, step=step, latency=latency)
    return {
        "rps": n / elapsed,
        "p50": float(np.percentile(latency, 50) * 1e3),
        "p99": float(np.percentile(latency, 99) * 1e3),
        "max": float(latency.max() * 1e3),
        "non2xx": float(failed),
        "socket_errors": 0.0,
        "seconds": elapsed,
        "kernel_times": float(stamped),
    }


def bodies(X: np.ndarray) -> dict[str, bytes]:
    row = [round(float(v), 6) for v in X[0]]
    batch = np.round(X[:1000], 6).tolist()
    return {
        "inputs": json.dumps({"inputs": [dict(zip(COLUMNS, row, strict=True))]}).encode(),
        "split1": json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}}).encode(),
        "split1000": json.dumps({"dataframe_split": {"columns": COLUMNS, "data": batch}}).encode(),
    }


def warm_up(server: Server, payloads: dict[str, bytes], workdir: Path) -> None:
    """The same answer shape from both servers, and a second of load per payload."""
    url = server.url + "/invocations"
    for name, body in payloads.items():
        r = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"{server.name} refused {name}: {r.status_code} {r.text[:300]}")
        wrk(url, body, connections=4, duration=1, workdir=workdir)


#: Seconds a server's log may take to compact a run's segments before the next run.
COMPACTION_WAIT = 300.0


def _compacted(server: Server) -> None:
    """Wait until the server's log holds no closed segment left to compact into Parquet."""
    if server.log_dir is None:
        return
    deadline = time.monotonic() + COMPACTION_WAIT
    while any(server.log_dir.rglob("part-*.arrows")) and time.monotonic() < deadline:
        time.sleep(0.2)


def _step(server: Server, run: Any) -> dict[str, float]:
    """One load run, with the server's CPU time (all its processes) per request.

    ``cpu_ms`` includes the Parquet compaction of the run's log segments, which the
    server's niced child may finish after the run (waited for); ``cpu_run_ms`` is the
    CPU within the run alone; ``switches`` the server's context switches per request
    within the run; ``client_cores`` the load client's CPU in cores.
    """
    before = server.cpu_seconds()
    switches = server.context_switches()
    client = os.times()
    result = dict(run())
    during = server.cpu_seconds() - before
    after = os.times()
    switches = server.context_switches() - switches
    _compacted(server)
    used = server.cpu_seconds() - before
    requests = result["rps"] * result.get("seconds", 0.0)
    result["cpu_ms"] = 1000 * used / requests if requests else float("nan")
    result["cpu_run_ms"] = 1000 * during / requests if requests else float("nan")
    result["switches"] = switches / requests if requests else float("nan")
    # the load client (wrk, h2load: children; the paced client: this process) shares the
    # cores with the server: its CPU in cores says whether it could have starved it
    used_client = sum(after[:4]) - sum(client[:4])
    result["client_cores"] = used_client / result["seconds"] if result.get("seconds") else 0.0
    return result


def measure(
    servers: list[Server], payloads: dict[str, bytes], duration: float, workdir: Path
) -> list[dict[str, Any]]:
    """Each load step on every server in turn, so a change in the machine's load
    (it is shared) falls on both sides rather than on whichever ran second."""
    results: list[dict[str, Any]] = [{"cold_start_s": s.cold_start} for s in servers]

    def each(key: str, make: Any) -> None:
        for server, res in zip(servers, results, strict=True):
            res[key] = _step(server, make(server, res))

    def wrk_run(body: str, connections: int) -> Any:
        return lambda server, res: (
            lambda: wrk(
                server.url + "/invocations",
                payloads[body],
                connections=connections,
                duration=duration,
                workdir=workdir,
            )
        )

    each("inputs", wrk_run("inputs", 16))
    each(
        "inputs_half",
        lambda server, res: (
            lambda: paced(
                server.url + "/invocations",
                payloads["inputs"],
                rate=res["inputs"]["rps"] / 2,
                duration=duration,
            )
        ),
    )
    each("split1", wrk_run("split1", 16))
    each("split1000", wrk_run("split1000", 4))
    for server, res in zip(servers, results, strict=True):
        res["rss_mb"] = server.worker_rss_mb()
        res["peak_rss_mb"] = server.worker_rss_mb("VmHWM")
        res["helper_rss_mb"] = server.helper_rss_mb()
    return results


def report(ours: dict[str, Any], theirs: dict[str, Any] | None) -> None:
    def ratio(a: float, b: float | None, higher_is_better: bool = True) -> str:
        if b is None or not b or not a:
            return "-"
        return f"{(a / b if higher_is_better else b / a):.1f}x"

    def get(res: dict[str, Any] | None, *keys: str) -> float | None:
        if res is None:
            return None
        value: Any = res
        for k in keys:
            value = value[k]
        return float(value)

    rows = [
        ("one-row inputs, requests/s (peak)", ("inputs", "rps"), True, 5.0),
        ("one-row inputs, p50 ms (peak)", ("inputs", "p50"), False, None),
        ("one-row inputs, p99 ms (peak)", ("inputs", "p99"), False, None),
        ("one-row inputs, server CPU ms/request (peak)", ("inputs", "cpu_ms"), False, None),
        ("one-row inputs, requests/s (half peak, paced)", ("inputs_half", "rps"), True, None),
        ("one-row inputs, p50 ms (half peak, paced)", ("inputs_half", "p50"), False, None),
        ("one-row inputs, p99 ms (half peak, paced)", ("inputs_half", "p99"), False, None),
        ("one-row inputs, max ms (half peak, paced)", ("inputs_half", "max"), False, None),
        ("one-row dataframe_split, requests/s", ("split1", "rps"), True, 5.0),
        ("one-row dataframe_split, p99 ms", ("split1", "p99"), False, None),
        ("1,000-row dataframe_split, requests/s", ("split1000", "rps"), True, None),
        ("1,000-row dataframe_split, p99 ms", ("split1000", "p99"), False, None),
        ("1,000-row dataframe_split, server CPU ms/request", ("split1000", "cpu_ms"), False, None),
        ("cold start, s", ("cold_start_s",), False, None),
        ("worker RSS after the load, MB", ("rss_mb",), False, None),
        ("worker peak RSS (VmHWM), MB", ("peak_rss_mb",), False, None),
        ("helper processes' RSS at the end, MB", ("helper_rss_mb",), False, None),
    ]
    print(f"\n{'measure':44s} {'polyclass':>11s} {'mlflow':>11s} {'ratio':>8s}  target")
    for label, keys, higher, target in rows:
        a, b = get(ours, *keys), get(theirs, *keys)
        print(
            f"{label:44s} {a:11.2f} {'-' if b is None else f'{b:.2f}':>11s} "
            f"{ratio(a or 0, b, higher):>8s}  {'' if target is None else f'>= {target}x'}"
        )
    rows_ours = get(ours, "split1000", "rps") or 0
    rows_theirs = get(theirs, "split1000", "rps")
    print(
        f"{'1,000-row batches, rows/s':44s} {rows_ours * 1000:11.0f} "
        f"{'-' if rows_theirs is None else f'{rows_theirs * 1000:.0f}':>11s} "
        f"{ratio(rows_ours, rows_theirs):>8s}  >= 10x"
    )
    print("targets: p99 < 10 ms at half peak, cold start < 2 s, RSS < 200 MB per worker")
    for name, res in (("polyclass", ours), ("mlflow", theirs)):
        if res is None:
            continue
        bad = sum(
            res[k]["non2xx"] + res[k]["socket_errors"]
            for k in ("inputs", "inputs_half", "split1", "split1000")
        )
        if bad:
            print(f"warning: {name} had non-2xx responses or socket errors under load")


def _polyclass_server(model: Path, work: Path, grpc_port: int, *extra: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "polyclass.cli", "serve", str(model), "--port", str(port)]
    argv += ["--log-dir", str(work / "logs"), "--workers", "1", "--grpc-port", str(grpc_port)]
    argv += extra
    return Server("polyclass", argv, port, "/v2/health/ready")


def _mlflow_server(exe: str, model: Path) -> Server:
    port = free_port()
    argv = [exe, "models", "serve", "-m", str(model), "-p", str(port)]
    argv += ["--env-manager", "local", "-w", "1", "-h", "127.0.0.1"]
    return Server("mlflow", argv, port, "/ping", path=str(Path(exe).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds per load run (wrk or the paced client)",
    )
    parser.add_argument(
        "--mlflow", default=shutil.which("mlflow"), help="the mlflow executable (default: on PATH)"
    )
    parser.add_argument(
        "--mlserver",
        default=None,
        help="the mlserver executable (default: .bench/mlserver, installed on first use)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="OIP part: run every path this many times and report medians (a loaded "
        "machine's throughput swings from one run to the next)",
    )
    parser.add_argument(
        "--parts",
        default="mlflow,oip",
        help="what to run: mlflow (the /invocations comparison), oip (against MLServer)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk).")
    if "oip" in parts and shutil.which("h2load") is None:
        sys.exit("h2load is not installed (apt-get install nghttp2-client).")
    load_before = os.getloadavg()
    X, y = make_data()
    payloads = bodies(X)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        model = save_polyclass(X, y, work)
        ml_model = None
        if "mlflow" in parts and args.mlflow:
            ml_model = save_mlflow(args.mlflow, X, y, work)
        ms_models = None
        if "oip" in parts:
            ms_exe = oip.mlserver_executable(args.mlserver)
            ms_models = oip.save_mlserver_model(ms_exe, X, y, work)
        servers: list[Server] = []
        results: list[dict[str, Any]] = []
        oip_results: list[dict[str, Any]] = []
        try:
            grpc_port = free_port()
            ours = _polyclass_server(model, work, grpc_port)
            ours.log_dir = work / "logs"
            servers.append(ours)
            if "mlflow" in parts:
                if ml_model is not None:
                    servers.append(_mlflow_server(args.mlflow, ml_model))
                else:
                    print("mlflow not found: measuring polyclass alone (pip install -e .[bench]).")
                for server in servers:
                    warm_up(server, payloads, work)
                results = measure(servers, payloads, args.duration, work)
            if ms_models is not None:
                bare_grpc = free_port()
                bare = _polyclass_server(model, work, bare_grpc, "--no-prediction-log")
                bare.name = "polyclass, no prediction log"
                servers.append(bare)
                http_port, ms_grpc = free_port(), free_port()
                mlserver = Server(
                    "mlserver",
                    oip.mlserver_argv(ms_exe, ms_models, http_port, ms_grpc),
                    http_port,
                    f"/v2/models/{oip.MODEL}/ready",
                )
                servers.append(mlserver)
                name = model.name
                ours_bodies = oip.oip_payloads(X, name, ours=True)
                pairs = [
                    (s, f"{s.url}/v2/models/{name}/infer", f"127.0.0.1:{g}", ours_bodies)
                    for s, g in ((ours, grpc_port), (bare, bare_grpc))
                ]
                pairs.append(
                    (
                        mlserver,
                        f"{mlserver.url}/v2/models/{oip.MODEL}/infer",
                        f"127.0.0.1:{ms_grpc}",
                        oip.oip_payloads(X, oip.MODEL, ours=False),
                    )
                )
                oip.warm_up_oip(pairs, work)
                oip_results = oip.measure_oip(
                    pairs, args.duration, work, wrk, _step, rounds=args.rounds
                )
        finally:
            for server in servers:
                server.stop()
    for name, res in zip(["polyclass", "mlflow"], results, strict=False):
        print(f"{name}:", json.dumps(res), flush=True)
    names = ["polyclass (OIP)", "polyclass (OIP, no prediction log)", "mlserver"]
    for name, res in zip(names, oip_results, strict=False):
        print(f"{name}:", json.dumps(res), flush=True)
    print(
        f"machine: {os.cpu_count()} CPUs, load average (1, 5, 15 min) before "
        f"{', '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}; wrk -t1; "
        f"{args.duration:.0f} s per run, {args.rounds} OIP round(s)"
    )
    if results:
        report(results[0], results[1] if len(results) > 1 else None)
    if oip_results:
        oip.report_oip(*oip_results)


if __name__ == "__main__":
    main()
