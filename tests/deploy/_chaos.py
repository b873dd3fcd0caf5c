"""The chaos run of ``deploy up --local``: an open-loop client, events, and what they did.

Shared by ``tests/deploy/test_chaos.py`` (which asserts correctness only) and
``benchmarks/bench_regions.py`` (which prints the timings). The client sends on a fixed
schedule whatever the answers do (open loop), measures each latency from the scheduled
send time (so a stall is not hidden), and keeps every answer for checking.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = (
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
)


@dataclass
class Answer:
    """One request: when it was due, how long it took, what came back."""

    due: float
    latency: float
    status: int
    label: str | None
    upstream: str | None
    residency: str | None
    expected: str
    body: bytes = b""
    version: str | None = None


def penguin_requests(model_dir: Path, count: int = 32) -> list[tuple[bytes, str]]:
    """``count`` distinct one-row /invocations bodies and the label polyclass.load predicts."""
    import pandas as pd

    import polyclass
    import polyclass.datasets

    table = pd.read_csv(polyclass.datasets.penguins_path()).dropna().head(count)
    labels = polyclass.load(model_dir).predict(table[list(COLUMNS)])
    out = []
    for (_, row), label in zip(table.iterrows(), labels, strict=True):
        record = {c: (row[c].item() if hasattr(row[c], "item") else row[c]) for c in COLUMNS}
        out.append((json.dumps({"dataframe_records": [record]}).encode(), str(label)))
    return out


def _request(body: bytes, residency: str | None) -> bytes:
    head = (
        "POST /invocations HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if residency:
        head += f"X-Data-Residency: {residency}\r\n"
    return head.encode() + b"\r\n" + body


class _Stale(Exception):
    """A kept-alive connection closed before any byte of the answer: send again."""


class _Connection:
    """One keep-alive HTTP/1.1 connection to the router."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, False

    async def exchange(self, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """Send ``request``; the status, the headers this client reads and the body."""
        self.writer.write(request)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (OSError, asyncio.IncompleteReadError) as exc:
            if self.used and not getattr(exc, "partial", b""):
                raise _Stale from None
            raise
        self.used = True
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.lower()] = value.strip()
        body = await self.reader.readexactly(int(headers[b"content-length"]))
        return int(lines[0].split()[1]), headers, body

    def close(self) -> None:
        self.writer.close()


class OpenLoopClient:
    """Sends ``rate`` requests a second for ``duration`` seconds over keep-alive connections.

    A scheduler hands each request out at its due time whatever the answers do (open
    loop) to one of up to ``max_connections`` senders, each with its own connection; when
    all are busy it waits in a backlog, the wait counted in its latency. ``mix`` is a
    list of residencies (None for none) cycled through request by request. An answer is
    checked by comparing its body with the bytes the expected label makes (parsed only
    when they differ).
    """

    def __init__(
        self,
        port: int,
        requests: list[tuple[bytes, str]],
        *,
        rate: float,
        duration: float,
        mix: list[str | None],
        timeout: float = 10.0,
        max_connections: int = 256,
    ) -> None:
        self.port, self.rate, self.duration, self.timeout = port, rate, duration, timeout
        self.wire = [[_request(b, r) for b, _ in requests] for r in mix]
        self.expected = [label for _, label in requests]
        self.right = [json.dumps({"predictions": [label]}).encode() for label in self.expected]
        self.mix = mix
        self.answers: list[Answer] = []
        self.started = 0.0
        self.max_connections = max_connections
        self.peak_open = 0
        self.stale_retries = 0
        self._open = 0
        self._senders: list[asyncio.Task[None]] = []
        self._idle: list[asyncio.Future[tuple[int, float] | None]] = []
        self._backlog: deque[tuple[int, float]] = deque()
        self._closing = False

    def run(self, start_at: float = 0.0) -> None:
        """Send the whole schedule, from wall-clock ``start_at`` (or now, if later)."""
        _event_loop(self._run(start_at))

    async def _run(self, start_at: float) -> None:
        loop = asyncio.get_running_loop()
        total = int(self.rate * self.duration)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        self.started = time.time()
        start = loop.time()
        sent = 0
        while sent < total:
            now = loop.time()
            while sent < total and start + sent / self.rate <= now:
                self._dispatch((sent, self.started + sent / self.rate))
                sent += 1
            if sent < total:
                await asyncio.sleep(max(0.0, start + sent / self.rate - loop.time()))
        self._closing = True
        while self._idle:
            self._idle.pop().set_result(None)
        await asyncio.gather(*self._senders)

    def _dispatch(self, item: tuple[int, float]) -> None:
        """Hand a due request to the sender idle for the shortest time (its connection is
        the warmest), else to a new sender, else to the backlog the senders drain."""
        if self._idle:
            self._idle.pop().set_result(item)
        elif len(self._senders) < self.max_connections:
            self._senders.append(asyncio.get_running_loop().create_task(self._sender(item)))
        else:
            self._backlog.append(item)

    async def _sender(self, item: tuple[int, float] | None) -> None:
        loop = asyncio.get_running_loop()
        conn = None
        while item is not None:
            conn = await self._one(conn, *item)
            if self._backlog:
                item = self._backlog.popleft()
            elif self._closing:
                item = None
            else:
                waiting: asyncio.Future[tuple[int, float] | None] = loop.create_future()
                self._idle.append(waiting)
                item = await waiting
        if conn is not None:
            self._drop(conn)

    def throughput(self, concurrency: int, seconds: float) -> float:
        """Answers per second of ``concurrency`` closed-loop senders (what the machine takes)."""
        return float(_event_loop(self._closed(concurrency, seconds)))

    async def _closed(self, concurrency: int, seconds: float) -> float:
        deadline = time.time() + seconds
        done = 0

        async def sender(offset: int) -> None:
            nonlocal done
            number, conn = offset, None
            while time.time() < deadline:
                conn = await self._one(conn, number, time.time())
                done += 1
                number += concurrency
            if conn is not None:
                self._drop(conn)

        start = time.time()
        await asyncio.gather(*(sender(i) for i in range(concurrency)))
        self.answers = []
        return done / (time.time() - start)

    async def _connect(self) -> _Connection:
        self._open += 1
        self.peak_open = max(self.peak_open, self._open)
        try:
            return _Connection(*await asyncio.open_connection("127.0.0.1", self.port))
        except BaseException:
            self._open -= 1
            raise

    def _drop(self, conn: _Connection) -> None:
        self._open -= 1
        conn.close()

    async def _one(self, conn: _Connection | None, number: int, due: float) -> _Connection | None:
        """Send request ``number`` (due at ``due``) on ``conn``; the connection to go on with."""
        kind = number % len(self.mix)
        which = (number // len(self.mix)) % len(self.expected)
        answer = Answer(due, 0.0, 0, None, None, self.mix[kind], self.expected[which])
        request = self.wire[kind][which]
        try:
            async with asyncio.timeout(self.timeout):
                if conn is None:
                    conn = await self._connect()
                try:
                    status, headers, body = await conn.exchange(request)
                except _Stale:  # sent again on a new connection, as HTTP clients do (counted)
                    self._drop(conn)
                    self.stale_retries += 1
                    conn = None
                    conn = await self._connect()
                    status, headers, body = await conn.exchange(request)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, KeyError) as exc:
            if conn is not None:
                self._drop(conn)
            conn = None
            answer.body = f"client: {type(exc).__name__}: {exc}".encode()  # shown if it fails
            answer.latency = time.time() - due
            self.answers.append(answer)
            return None
        answer.latency = time.time() - due
        answer.status, answer.body = status, body
        upstream, version = headers.get(b"x-polyclass-upstream"), headers.get(b"x-model-version")
        answer.upstream = None if upstream is None else upstream.decode()
        answer.version = None if version is None else version.decode()
        if status == 200:
            right = body == self.right[which]
            answer.label = answer.expected if right else str(json.loads(body)["predictions"][0])
        self.answers.append(answer)
        if headers.get(b"connection", b"").lower() == b"close":
            self._drop(conn)
            return None
        return conn


def _client_process(
    port: int,
    requests: list[tuple[bytes, str]],
    rate: float,
    duration: float,
    mix: list[str | None],
    start_at: float,
) -> tuple[list[Answer], float, int]:
    """An open-loop run in a process of its own: the answers, the start, the resends."""
    client = OpenLoopClient(port, requests, rate=rate, duration=duration, mix=mix)
    client.run(start_at)
    return client.answers, client.started, client.stale_retries


def _event_loop(main: Any) -> Any:
    """Run ``main`` on uvloop (the client's own CPU is a share of what it measures)."""
    try:
        import uvloop

        return uvloop.run(main)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)


@dataclass
class Event:
    """Something done to a region at ``at`` seconds (wall clock)."""

    name: str
    region: str
    at: float
    pids: list[int] = field(default_factory=list)


def host_statuses(admin: str) -> dict[str, tuple[bool, int]]:
    """Envoy's view of the ``polyclass`` cluster: address -> (healthy, attempts so far)."""
    with urllib.request.urlopen(f"http://{admin}/clusters?format=json", timeout=1) as r:
        document = json.loads(r.read())
    hosts = {}
    for cluster in document.get("cluster_statuses", []):
        if cluster["name"] != "polyclass":
            continue
        for host in cluster.get("host_statuses", []):
            socket = host["address"]["socket_address"]
            address = f"{socket['address']}:{socket['port_value']}"
            stats = {s["name"]: int(s.get("value", 0)) for s in host.get("stats", [])}
            flags = host.get("health_status", {})
            healthy = not any(v is True for k, v in flags.items() if k != "eds_health_status")
            hosts[address] = (healthy, stats.get("rq_total", 0) + stats.get("cx_connect_fail", 0))
    return hosts


def router_sees_every_replica(deployment: Deployment, admin: str, timeout: float = 60.0) -> None:
    """Wait until Envoy holds every replica as healthy: the load starts on a whole router."""
    addresses = set(deployment.region_of())

    def whole() -> bool:
        try:
            hosts = host_statuses(admin)
        except OSError:
            return False
        return all(a in hosts and hosts[a][0] for a in addresses)

    if wait_until(whole, timeout) is None:
        raise RuntimeError(f"Envoy did not see every replica healthy within {timeout} s")


class HostWatch:
    """Polls Envoy's admin every ``interval`` s: each host's health and attempt counters."""

    def __init__(self, admin: str, interval: float = 0.05) -> None:
        self.admin, self.interval = admin, interval
        self.samples: list[tuple[float, dict[str, tuple[bool, int]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                hosts = host_statuses(self.admin)
            except OSError:
                continue
            now = time.time()
            self.samples.append((now, hosts))

    def unhealthy_at(self, addresses: list[str], after: float) -> float | None:
        """When every one of ``addresses`` was first seen unhealthy after ``after``."""
        for when, hosts in self.samples:
            if when >= after and all(a in hosts and not hosts[a][0] for a in addresses):
                return when
        return None

    def back_at(self, addresses: list[str], after: float) -> float | None:
        """When Envoy first held one of ``addresses`` healthy again after it had held it
        unhealthy (after ``after``): the region is alive from then on, and traffic to it
        is no longer traffic to a dead region."""
        seen_down: set[str] = set()
        for when, hosts in self.samples:
            if when < after:
                continue
            for address in addresses:
                if address not in hosts:
                    continue
                if not hosts[address][0]:
                    seen_down.add(address)
                elif address in seen_down:
                    return when
        return None

    def last_attempt(self, addresses: list[str], after: float, until: float) -> float:
        """The last time an attempt to ``addresses`` was counted in [after, until)."""
        last, previous = after, None
        for when, hosts in self.samples:
            if when >= until:
                break
            total = sum(hosts.get(a, (True, 0))[1] for a in addresses)
            if previous is not None and total > previous and when >= after:
                last = when
            previous = total
        return last


class Deployment:
    """``polyclass deploy up FILE --local`` as a child process, and its state file."""

    def __init__(self, topology: Path, state_dir: Path, env: dict[str, str] | None = None) -> None:
        self.state_path = state_dir / "state.json"
        self.log = state_dir.parent / f"{state_dir.name}-up.log"
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "polyclass.cli", "deploy", "up", str(topology), "--local"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    def wait_ready(self, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"deploy up exited: {self.log.read_text()[-3000:]}")
            if self.state_path.exists() and "router http" in self.log.read_text():
                return self.state()
            time.sleep(0.2)
        raise RuntimeError(f"deploy up not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_path.read_text()))

    def pids(self, region: str) -> list[int]:
        return [r["pid"] for r in self.state()["replicas"] if r["region"] == region]

    def addresses(self, region: str) -> list[str]:
        return [r["address"] for r in self.state()["replicas"] if r["region"] == region]

    def region_of(self) -> dict[str, str]:
        return {r["address"]: r["region"] for r in self.state()["replicas"]}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def ready(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/health/ready", timeout=0.5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> float | None:
    """The wall-clock time ``check`` first held, None when it did not within ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return time.time()
        time.sleep(step)
    return None


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``values`` in milliseconds."""
    array = np.asarray(values) * 1000
    return float(np.percentile(array, 50)), float(np.percentile(array, 99)), float(array.max())


@dataclass
class ChaosRun:
    """Everything one run observed."""

    answers: list[Answer]
    events: list[Event]
    watch: HostWatch
    back: dict[str, float]  # event name -> when its region answered ready again
    region_of: dict[str, str]
    duration: float
    rate: float
    capacity: float
    refusal: tuple[int, dict[str, Any]]  # what X-Data-Residency: us got while us-east hung
    stale_retries: int = 0
    started: float = 0.0  # when the client sent its first request


def run_chaos(
    deployment: Deployment,
    requests: list[tuple[bytes, str]],
    *,
    port: int,
    admin: str,
    store_dirs: dict[str, Path],
    rate: float = 1000.0,
    duration: float = 30.0,
    share: float | None = 0.2,
) -> ChaosRun:
    """The client at ``rate`` for ``duration`` s while regions are killed, hung and cut off.

    At 10% of the run eu-west's replicas get SIGKILL (the supervisor starts them again:
    the killed region comes back); at 45% us-east's are stopped (SIGSTOP) for 10% of
    the run; at 62% eu-central's store disappears and its replicas are killed, so they
    restart from the region's cache; the store comes back once they answer. ``share``:
    the rate is at most this share of the closed-loop capacity measured first (None:
    ``rate`` as given, whatever the machine takes).
    """
    mix: list[str | None] = [None] * 8 + ["eu", "us"]
    router_sees_every_replica(deployment, admin)
    probe = OpenLoopClient(port, requests, rate=1, duration=1, mix=mix)
    capacity = probe.throughput(16, 3.0)
    if share is not None:
        # open loop above what the machine can answer only grows a queue until requests
        # time out: a loaded machine gets a lower rate (reported), a quiet one the full rate
        rate = max(50.0, min(rate, share * capacity))
    watch = HostWatch(admin)
    watch.start()
    # the client runs in a process of its own: this one's threads (the watch, the events)
    # would otherwise hold the interpreter lock while answers wait
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        t0 = time.time() + 3.0
        running = pool.submit(_client_process, port, requests, rate, duration, mix, t0)
        events: list[Event] = []
        back: dict[str, float] = {}

        def at(part: float) -> None:
            time.sleep(max(0.0, t0 + part * duration - time.time()))

        def signal_region(name: str, region: str, sig: int) -> Event:
            event = Event(name, region, time.time(), deployment.pids(region))
            for pid in event.pids:
                os.kill(pid, sig)
            events.append(event)
            return event

        def comes_back(event: Event, timeout: float, *, restarted: bool = True) -> None:
            addresses = deployment.addresses(event.region)

            def back_up() -> bool:
                fresh = deployment.pids(event.region)
                if restarted and any(p in event.pids for p in fresh):
                    return False
                return all(ready(a) for a in addresses)

            when = wait_until(back_up, timeout)
            if when is not None:
                back[event.name] = when

        at(0.10)
        comes_back(signal_region("kill", "eu-west", signal.SIGKILL), 0.35 * duration)
        at(0.45)
        hang = signal_region("hang", "us-east", signal.SIGSTOP)
        refusal = refused_while_hung(port, requests[0][0], 0.08 * duration)
        at(0.55)
        for pid in hang.pids:
            os.kill(pid, signal.SIGCONT)
        events.append(Event("resume", "us-east", time.time(), hang.pids))
        comes_back(events[-1], 0.05 * duration, restarted=False)
        at(0.62)
        store = store_dirs["eu-central"]
        hidden = store.with_name(store.name + ".unreachable")
        store.rename(hidden)
        try:
            comes_back(signal_region("store-down", "eu-central", signal.SIGKILL), 60.0)
        finally:
            hidden.rename(store)
        answers, started, stale = running.result()
    finally:
        pool.shutdown(cancel_futures=True)
    for event in events:  # a region slower to restart than the schedule: wait for it
        if event.name in ("kill", "store-down") and event.name not in back:
            comes_back(event, 60.0)
    watch.stop()
    region_of = deployment.region_of()
    return ChaosRun(
        answers, events, watch, back, region_of, duration, rate, capacity, refusal, stale, started
    )


def refused_while_hung(port: int, body: bytes, timeout: float) -> tuple[int, dict[str, Any]]:
    """Send 'us' requests until one is refused (us-east, the only 'us' region, hangs)."""
    deadline = time.time() + timeout
    while True:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json", "X-Data-Residency": "us"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        except OSError:
            status, text = 0, b"{}"
        if status == 503 or time.time() > deadline:
            return status, json.loads(text)
        time.sleep(0.05)


def residency_of(region: str) -> str:
    return {"eu-west": "eu", "eu-central": "eu", "us-east": "us"}[region]


def verdict(run: ChaosRun) -> dict[str, Any]:
    """Correctness counts (asserted by the test) of one run."""
    plain = [a for a in run.answers if a.residency is None]
    located = [a for a in run.answers if a.residency is not None]
    wrong = [a for a in run.answers if a.status == 200 and a.label != a.expected]
    outside = [
        a
        for a in located
        if a.status == 200 and residency_of(run.region_of[a.upstream or ""]) != a.residency
    ]
    refusals = [a for a in located if a.status == 503]
    named = [
        a for a in refusals if f"data residency '{a.residency}'" in json.loads(a.body)["error"]
    ]
    return {
        "requests": len(run.answers),
        "plain_failed": sum(a.status != 200 for a in plain),
        "located_failed": sum(a.status not in (200, 503) for a in located),
        "wrong_answers": len(wrong),
        "outside_residency": len(outside),
        "residency_503": len(refusals),
        "residency_503_named": len(named),
        "us_503": sum(a.residency == "us" for a in refusals),
        # 'eu' always had a healthy region: its 503s are Envoy giving up (overload), not
        # a residency without one
        "eu_503": sum(a.residency == "eu" for a in refusals),
        "stale_connection_resends": run.stale_retries,
        "failures": Counter(
            (a.residency, a.status, a.body[:90].decode(errors="replace"))
            for a in run.answers
            if a.status not in (200, 503) or (a.residency is None and a.status != 200)
        ).most_common(3),
    }


def timings(run: ChaosRun) -> dict[str, Any]:
    """The figures of the issue's table (benchmark only: never asserted)."""
    ok = [a.latency for a in run.answers if a.status == 200]
    p50, p99, worst = quantiles(ok)
    out: dict[str, Any] = {"p50_ms": p50, "p99_ms": p99, "max_ms": worst}
    out["rate_rps"], out["capacity_rps"] = run.rate, run.capacity
    for event in run.events:
        if event.name not in ("kill", "hang", "store-down"):
            continue
        addresses = [a for a, r in run.region_of.items() if r == event.region]
        detected = run.watch.unhealthy_at(addresses, event.at)
        # the dead window ends when the region is alive again: Envoy's health check (every
        # 0.1 s) may see that before this process's own readiness poll does
        ends = [
            run.back.get("resume" if event.name == "hang" else event.name),
            run.watch.back_at(addresses, event.at),
            event.at + 5,
        ]
        until = min(e for e in ends if e is not None)
        off = run.watch.last_attempt(addresses, event.at, until)
        out[f"{event.name}_detect_s"] = None if detected is None else detected - event.at
        out[f"{event.name}_off_s"] = off - event.at
    for name, when in run.back.items():
        event = next(e for e in run.events if e.name == name)
        first = min(
            (
                a.due + a.latency
                for a in run.answers
                if a.status == 200
                and run.region_of.get(a.upstream or "") == event.region
                and a.due + a.latency >= when
            ),
            default=None,
        )
        out[f"{name}_back_s"] = None if first is None else first - when
    return out
