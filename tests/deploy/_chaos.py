"""The chaos run of ``deploy up --local``: an open-loop client, events, and what they did.

Shared by ``tests/deploy/test_chaos.py`` (which asserts correctness only) and
``benchmarks/bench_regions.py`` (which prints the timings). The client sends on a fixed
schedule whatever the answers do (open loop), measures each latency from the scheduled
send time (so a stall is not hidden), and keeps every answer for checking.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
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


class OpenLoopClient:
    """Sends ``rate`` requests a second for ``duration`` seconds over keep-alive connections.

    ``mix`` is a list of residencies (None for none) cycled through request by request.
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
    ) -> None:
        self.port, self.rate, self.duration, self.timeout = port, rate, duration, timeout
        self.wire = [[_request(b, r) for b, _ in requests] for r in mix]
        self.expected = [label for _, label in requests]
        self.mix = mix
        self.answers: list[Answer] = []
        self.started = 0.0
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open = 0  # connections open now, at most max_connections
        self.max_connections = 256
        self.peak_open = 0
        self.stale_retries = 0
        self._writers: set[asyncio.StreamWriter] = set()

    def run(self) -> None:
        try:
            import uvloop

            uvloop.run(self._run())
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            asyncio.run(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        total = int(self.rate * self.duration)
        self.started = time.time()
        start = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        sent = 0
        while sent < total:
            now = loop.time()
            while sent < total and start + sent / self.rate <= now:
                due = self.started + sent / self.rate
                task = loop.create_task(self._one(sent, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.001)
        if tasks:
            await asyncio.wait(tasks)
        for _, writer in self._idle:
            writer.close()

    def throughput(self, concurrency: int, seconds: float) -> float:
        """Answers per second of ``concurrency`` closed-loop senders (what the machine takes)."""
        return asyncio.run(self._closed(concurrency, seconds))

    async def _closed(self, concurrency: int, seconds: float) -> float:
        deadline = time.time() + seconds
        done = 0

        async def sender(offset: int) -> None:
            nonlocal done
            number = offset
            while time.time() < deadline:
                await self._one(number, time.time())
                done += 1
                number += concurrency

        start = time.time()
        await asyncio.gather(*(sender(i) for i in range(concurrency)))
        for _, writer in self._idle:
            writer.close()
        self._idle, self._open, self.answers, self._writers = [], 0, [], set()
        return done / (time.time() - start)

    async def _one(self, number: int, due: float) -> None:
        kind = number % len(self.mix)
        which = (number // len(self.mix)) % len(self.expected)
        answer = Answer(due, 0.0, 0, None, None, self.mix[kind], self.expected[which])
        try:
            await asyncio.wait_for(self._exchange(self.wire[kind][which], answer), self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            answer.status = 0
        answer.latency = time.time() - due
        self.answers.append(answer)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # a bounded pool: a burst waits for a connection (the wait counts in its latency)
        while not self._idle and self._open >= self.max_connections:
            await asyncio.sleep(0.0005)
        if self._idle:
            return self._idle.pop()
        return await self._new_connection()

    async def _new_connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self._open += 1
        self.peak_open = max(self.peak_open, self._open)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except BaseException:
            self._open -= 1
            raise
        self._writers.add(writer)
        return reader, writer

    def _close(self, writer: asyncio.StreamWriter) -> None:
        if writer in self._writers:  # closed once, counted once
            self._writers.discard(writer)
            self._open -= 1
        writer.close()

    async def _exchange(self, request: bytes, answer: Answer) -> None:
        reused = bool(self._idle)
        reader, writer = await self._connection()
        try:
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError) as exc:
                nothing = not getattr(exc, "partial", b"")
                if not (reused and nothing):
                    raise
                # a kept-alive connection closed as the request left, before any byte of
                # an answer: sent again on a new one, as HTTP clients do (counted)
                self._close(writer)
                self.stale_retries += 1
                reader, writer = await self._new_connection()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
            }
            body = await reader.readexactly(int(headers["content-length"]))
        except BaseException:
            self._close(writer)
            raise
        answer.status = int(lines[0].split()[1])
        answer.upstream = headers.get("x-polyclass-upstream")
        answer.body = body
        if answer.status == 200:
            answer.label = str(json.loads(body)["predictions"][0])
        if headers.get("connection", "").lower() == "close":
            self._close(writer)
        else:
            self._idle.append((reader, writer))


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

    def last_attempt(self, addresses: list[str], after: float, until: float) -> float:
        """The last time an attempt to ``addresses`` was counted in [after, until]."""
        last, previous = after, None
        for when, hosts in self.samples:
            if when > until:
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


def run_chaos(
    deployment: Deployment,
    requests: list[tuple[bytes, str]],
    *,
    port: int,
    admin: str,
    store_dirs: dict[str, Path],
    rate: float = 1000.0,
    duration: float = 30.0,
) -> ChaosRun:
    """The client at ``rate`` for ``duration`` s while regions are killed, hung and cut off.

    At 10% of the run eu-west's replicas get SIGKILL (the supervisor starts them again:
    the killed region comes back); at 45% us-east's are stopped (SIGSTOP) for 10% of
    the run; at 62% eu-central's store disappears and its replicas are killed, so they
    restart from the region's cache; the store comes back once they answer.
    """
    mix: list[str | None] = [None] * 8 + ["eu", "us"]
    router_sees_every_replica(deployment, admin)
    probe = OpenLoopClient(port, requests, rate=1, duration=1, mix=mix)
    capacity = probe.throughput(16, 3.0)
    # open loop above what the machine can answer only grows a queue until requests time
    # out: a loaded machine gets a lower rate (reported), a quiet one the full rate
    rate = max(50.0, min(rate, 0.2 * capacity))
    client = OpenLoopClient(port, requests, rate=rate, duration=duration, mix=mix)
    watch = HostWatch(admin)
    watch.start()
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    while client.started == 0.0:
        time.sleep(0.01)
    t0, events, back = client.started, [], {}

    def at(share: float) -> None:
        time.sleep(max(0.0, t0 + share * duration - time.time()))

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
    thread.join()
    for event in events:  # a region slower to restart than the schedule: wait for it
        if event.name in ("kill", "store-down") and event.name not in back:
            comes_back(event, 60.0)
    watch.stop()
    region_of = deployment.region_of()
    return ChaosRun(
        client.answers,
        events,
        watch,
        back,
        region_of,
        duration,
        rate,
        capacity,
        refusal,
        client.stale_retries,
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
        until = run.back.get("resume" if event.name == "hang" else event.name, event.at + 5)
        off = run.watch.last_attempt(addresses, event.at, min(until, event.at + 5))
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
