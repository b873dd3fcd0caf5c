"""``deploy up --local``: every region's replicas as ``polyclass serve`` processes, Envoy
in front, the controller beside it, all on this machine.

Each region has its own model cache, so its replicas load from its own store and a
restart needs no store once the cache is warm. A replica that exits is started again
(after a back-off that grows while it keeps failing); the state file (``state.json``
in the state folder) is rewritten after every change for ``deploy status`` to read.
A region none of whose replicas starts (its store unreachable, say) does not stop the
others: the deployment starts without it, names it down with its replicas' last error,
and keeps starting them until they answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyclass.deploy._check import CheckedTopology
from polyclass.deploy._children import popen_tied, set_cpus, starting_cpus
from polyclass.deploy._controller import Controller
from polyclass.deploy._envoy import Endpoint
from polyclass.deploy._router import DeployError, Envoy
from polyclass.deploy._topology import Region, Topology

__all__ = ["LocalDeployment", "LocalReplica", "busy_ports", "free_port"]

_BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
#: A replica that ran this long before it exited starts again at the shortest back-off.
_STEADY = 30.0
#: A start stays on the starting CPUs, holding one of their slots, at most this long
#: (seconds; about twice a start on a quiet machine): on a machine loaded by others a
#: start on half the CPUs took several times as long, and the ones waiting for its slot
#: longer still.
_START_SLOT = 3.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def busy_ports(topology: Topology) -> list[str]:
    """A problem with its fix for the router's listen or admin address already in use.

    Checked before anything starts: Envoy itself would only say so in its log.
    """
    router = topology.router
    problems = []
    for key, host, port in (
        ("listen", router.host, router.port),
        ("admin", router.admin_host, router.admin_port),
    ):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Envoy binds
            try:
                sock.bind((host, port))
            except OSError as exc:
                problems.append(
                    f"{topology.source}: [router] {key} {host}:{port} cannot be bound "
                    f"({exc.strerror}): stop what uses it or pick another [router] {key}"
                )
    return problems


@dataclass
class LocalReplica:
    """One ``polyclass serve`` process of a region, restarted when it exits."""

    region: Region
    index: int
    port: int
    version: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exits: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    weight: int = 1
    log_start: int = 0  # where this start's lines begin in its appended log
    error: str | None = None  # why its last start exited, until it answers again
    confined: bool = False  # on the starting CPUs until it answers

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.region.name, "127.0.0.1", self.port, self.version, self.weight)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class LocalDeployment:
    """A whole topology on loopback: start, supervise, stop.

    Parameters
    ----------
    checked : CheckedTopology
        From :func:`check_topology`: the version every region serves.
    registry : str, optional
        The registry the replicas resolve the model with.
    serve_args : list of str
        Extra ``polyclass serve`` options for every replica.
    token_file : str, optional
        Bearer tokens every replica requires on ``/feedback`` and ``/admin/*``; default
        the topology's ``[router] token_file``.
    """

    def __init__(
        self,
        checked: CheckedTopology,
        *,
        registry: str | None = None,
        serve_args: tuple[str, ...] = (),
        token_file: str | None = None,
    ) -> None:
        self.checked = checked
        self.topology = checked.topology
        self.registry = registry or self.topology.registry
        self.serve_args = serve_args
        self.token_file = token_file or self.topology.router.token_file
        self.folder = self.topology.state_dir
        self.replicas: list[LocalReplica] = []
        self.envoy = Envoy(self.topology, self.folder / "envoy")
        self.controller = Controller(self.topology, self.envoy.files, self.endpoints)
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._rollout: threading.Thread | None = None

    # ------------------------------------------------------------------ replicas
    def endpoints(self) -> list[Endpoint]:
        """Every replica the router may send to: local ones and the regions' endpoints."""
        with self._lock:  # weight 0: a new version's replica not yet in rotation
            local = [r.endpoint for r in self.replicas if r.weight > 0]
        remote = [
            Endpoint(r.name, *_host_port(url), version=self.checked.ref)
            for r in self.topology.regions
            for url in r.endpoints
        ]
        return local + remote

    def _command(self, replica: LocalReplica) -> list[str]:
        region = replica.region
        # one prediction log per replica: a log's journal has one writer
        logs = self.folder / "logs" / region.name / str(replica.index)
        command = [
            sys.executable, "-m", "polyclass.cli", "serve", replica.version,
            "--host", "127.0.0.1", "--port", str(replica.port),
            "--no-access-log", "--poll-interval", "0", "--log-dir", str(logs),
        ]  # fmt: skip
        if region.store:
            command += ["--store", region.store]
        if self.registry:
            command += ["--registry", self.registry]
        if self.token_file:
            command += ["--token-file", str(Path(self.token_file).resolve())]
        return command + list(self.serve_args)

    def _spawn(self, replica: LocalReplica, *, confine: bool = False) -> None:
        """Start ``replica``'s process; ``confine``: on :func:`starting_cpus` until it
        answers, since others serve meanwhile (a restart, a rollout's new version)."""
        env = {**os.environ, "POLYCLASS_CACHE": str(self.folder / "cache" / replica.region.name)}
        env.pop("POLYCLASS_REGISTRY", None)
        log = self._log(replica)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            replica.log_start = out.tell()
            replica.proc = popen_tied(
                self._command(replica),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=env,
            )
        cpus = starting_cpus() if confine else None
        if cpus is not None:
            set_cpus(replica.proc.pid, cpus)
        replica.confined = cpus is not None
        replica.starts += 1
        replica.started_at = time.time()

    def _log(self, replica: LocalReplica) -> Path:
        """The replica's stderr, appended across its starts and runs."""
        return self.folder / "replicas" / f"{replica.region.name}-{replica.index}.log"

    def _last_error(self, replica: LocalReplica) -> str:
        """The last line this start of ``replica`` wrote: its error when it exited."""
        with open(self._log(replica), "rb") as log:
            log.seek(replica.log_start)
            lines = log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(it wrote nothing)"

    def supervise_once(self) -> None:
        """Start again every replica whose process exited, with a growing back-off, as
        many at a time as there are starting CPUs (the first of a killed region is back
        as soon as it would be alone); give a restarted one every CPU back once it
        listens (``polyclass serve`` listens once its model and app are ready)."""
        now = time.monotonic()
        changed = False
        with self._lock:
            starting = [r for r in self.replicas if r.confined and r.running]
        for replica in starting:
            # listening, not answering: a started replica gets traffic at once, and one
            # starved on its one CPU answered too slowly to ever be given the rest
            done = _listening(replica.port) or time.time() - replica.started_at >= _START_SLOT
            if done and replica.proc is not None:
                set_cpus(replica.proc.pid, None)
                replica.confined = False
        with self._lock:
            for replica in self.replicas:
                if replica.proc is None or replica.running:
                    continue
                if replica.next_start == 0.0:
                    if time.time() - replica.started_at >= _STEADY:
                        replica.exits = 0
                    replica.exits += 1
                    replica.error = self._last_error(replica)
                    delay = _BACKOFF[min(replica.exits - 1, len(_BACKOFF) - 1)]
                    replica.next_start = now + delay
                    changed = True
                elif now >= replica.next_start and self._start_slot():
                    replica.next_start = 0.0
                    self._spawn(replica, confine=True)
                    changed = True
        if changed:
            self.write_state()

    def _start_slot(self) -> bool:
        """Whether fewer replicas than there are starting CPUs are starting now."""
        cpus = starting_cpus()
        if cpus is None:
            return True
        return sum(r.confined and r.running for r in self.replicas) < len(cpus)

    # ------------------------------------------------------------------ versions
    def add_version(
        self, region: str, version: str
    ) -> tuple[list[LocalReplica], list[LocalReplica]]:
        """Start ``version``'s replicas in ``region`` beside its current ones (not routed yet)."""
        with self._lock:
            old = [r for r in self.replicas if r.region.name == region]
            new = []
            for index, replica in enumerate(old):
                fresh = LocalReplica(replica.region, len(old) + index, free_port(), version)
                fresh.weight = 0  # out of rotation until it answers
                self._spawn(fresh, confine=True)
                new.append(fresh)
            self.replicas.extend(new)
        self.write_state()
        return old, new

    def wait_ready(self, replicas: list[LocalReplica], timeout: float) -> bool:
        """Whether every one of ``replicas`` answers ready within ``timeout`` seconds."""
        try:
            self._wait_replicas(timeout, replicas)
        except DeployError:
            return False
        return True

    def set_weights(self, replicas: list[LocalReplica], weight: int) -> None:
        with self._lock:
            for replica in replicas:
                replica.weight = weight

    def retire(self, replicas: list[LocalReplica], drain: float = 1.0) -> None:
        """Take ``replicas`` out of rotation, give Envoy ``drain`` seconds, stop them."""
        with self._lock:
            self.replicas = [r for r in self.replicas if r not in replicas]
        try:
            self.controller.tick()
            time.sleep(drain)
        finally:  # out of the list, so only this can stop them
            self._terminate(replicas)

    def _terminate(self, replicas: list[LocalReplica]) -> None:
        for replica in replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGCONT)  # a hung one cannot act on SIGTERM
                replica.proc.terminate()
        for replica in replicas:
            if replica.proc is not None:
                try:
                    replica.proc.wait(30)
                except subprocess.TimeoutExpired:
                    replica.proc.kill()
                    replica.proc.wait()
        self.write_state()

    # ------------------------------------------------------------------ lifecycle
    def start(self, ready_timeout: float = 120.0) -> dict[str, str]:
        """Start every replica, wait for them, then Envoy and the controller.

        Returns the regions that are down (none of their replicas answers) with the
        reason; their replicas keep being started. Raises DeployError when every
        region with replicas is down.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        for region in self.topology.regions:
            for index in range(region.replicas):
                replica = LocalReplica(region, index, free_port(), self.checked.ref)
                self.replicas.append(replica)
                self._spawn(replica)
        try:
            down = self._wait_start(ready_timeout)
            if self.replicas and len(down) == len({r.region.name for r in self.replicas}):
                raise DeployError("no region started: " + "; ".join(down.values()))
            self.envoy.write_static()
            self.controller.tick()  # EDS and RDS exist before Envoy reads the CDS
            self.envoy.start()
        except BaseException:
            self.stop()
            raise
        self.controller.start()
        self.write_state()
        return down

    def _wait_start(self, timeout: float) -> dict[str, str]:
        """Wait until each replica answers or has exited; region -> why it is down."""
        deadline = time.monotonic() + timeout
        waiting = list(self.replicas)
        while waiting and time.monotonic() < deadline:
            for replica in list(waiting):
                if not replica.running:
                    replica.error = self._last_error(replica)
                    waiting.remove(replica)
                elif _answers(replica.port):
                    waiting.remove(replica)
            time.sleep(0.1)
        for replica in waiting:
            replica.error = f"not ready within {timeout:.0f} s"
        down = {}
        for region in self.topology.regions:
            mine = [r for r in self.replicas if r.region.name == region.name]
            if mine and all(r.error is not None for r in mine):
                down[region.name] = (
                    f"region {region.name!r}: {len(mine)} replica(s) did not start: "
                    f"{mine[0].error} (log: {self._log(mine[0])})"
                )
        return down

    def _wait_replicas(self, timeout: float, replicas: list[LocalReplica] | None = None) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(self.replicas if replicas is None else replicas)
        while waiting and time.monotonic() < deadline:
            for replica in list(waiting):
                if not replica.running:
                    raise DeployError(
                        f"a replica of region {replica.region.name!r} exited at start: "
                        f"{self._last_error(replica)} (log: {self._log(replica)})"
                    )
                if _answers(replica.port):
                    waiting.remove(replica)
            time.sleep(0.1)
        if waiting:
            names = ", ".join(f"{r.region.name}#{r.index}" for r in waiting)
            raise DeployError(f"replicas not ready within {timeout:.0f} s: {names}")

    def run(self) -> None:
        """Supervise in the foreground until SIGINT or SIGTERM, then stop everything."""
        previous = {
            sig: signal.signal(sig, lambda *_: self._stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            written = time.monotonic()
            while not self._stop.wait(0.05):
                self.supervise_once()
                self._start_requested_rollout()
                if time.monotonic() - written >= 1.0:  # the probes' latency for status
                    self.write_state()
                    written = time.monotonic()
                if self.envoy.proc is not None and self.envoy.proc.poll() is not None:
                    raise DeployError(f"Envoy exited (code {self.envoy.proc.returncode})")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def _start_requested_rollout(self) -> None:
        """Start the rollout ``deploy rollout`` asked for in ``rollout.json``, if any."""
        request = self.folder / "rollout.json"
        if not request.exists() or (self._rollout is not None and self._rollout.is_alive()):
            return
        try:
            asked = json.loads(request.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        request.unlink(missing_ok=True)
        self._rollout = threading.Thread(
            target=self._roll, args=(asked,), name="polyclass-rollout", daemon=True
        )
        self._rollout.start()

    def _roll(self, asked: dict[str, Any]) -> None:
        from polyclass.deploy._rollout import RolloutReport, run_rollout

        def publish(report: RolloutReport) -> None:
            _write_json(self.folder / "rollout-status.json", report.to_dict())

        try:
            report = run_rollout(
                self,
                str(asked["target"]),
                canary=float(asked.get("canary", 0.1)),
                watch=float(asked.get("watch", 5.0)),
                on_change=publish,
            )
        except Exception as exc:  # `deploy rollout` waits for a verdict: give it one
            failed = RolloutReport(str(asked["target"]), state="failed")
            failed.message = f"the rollout stopped on an error: {type(exc).__name__}: {exc}"
            publish(failed)
            raise
        publish(report)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the controller, Envoy and every replica (SIGTERM, then SIGKILL)."""
        self._stop.set()
        self.controller.stop()
        self.envoy.stop()
        with self._lock:
            procs = [r.proc for r in self.replicas if r.proc is not None]
            for replica in self.replicas:
                replica.proc = None  # the supervisor must not start them again
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        (self.folder / "state.json").unlink(missing_ok=True)

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """What ``deploy status`` reads: addresses, pids, versions, the probes' latency."""
        router = self.topology.router
        with self._lock:
            replicas = [
                {
                    "region": r.region.name,
                    "index": r.index,
                    "address": r.endpoint.address,
                    "pid": r.proc.pid if r.proc is not None else None,
                    "version": r.version,
                    "starts": r.starts,
                    "started_at": r.started_at,
                    "error": None if self._answered(r) else r.error,
                    **self._latency(r.endpoint.address),
                }
                for r in self.replicas
            ]
        return {
            "pid": os.getpid(),
            "model": self.topology.model,
            "version": ", ".join(sorted({str(r["version"]) for r in replicas})) or self.checked.ref,
            "router": router.address,
            "admin": f"{router.admin_host}:{router.admin_port}",
            "envoy_pid": self.envoy.pid,
            "replicas": replicas,
            "updated_at": time.time(),
        }

    def _answered(self, replica: LocalReplica) -> bool:
        """Whether the controller's last probe of ``replica`` was answered (clears its error)."""
        probe = self.controller.probes.get(replica.endpoint.address)
        if probe is not None and probe.healthy and replica.running:
            replica.error = None
        return replica.error is None

    def _latency(self, address: str) -> dict[str, float | None]:
        probe = self.controller.probes.get(address)
        if probe is None:
            return {"p50_ms": None, "p99_ms": None}
        p50, p99 = probe.quantile(0.5), probe.quantile(0.99)
        return {
            "p50_ms": None if p50 is None else p50 * 1000,
            "p99_ms": None if p99 is None else p99 * 1000,
        }

    def write_state(self) -> None:
        _write_json(self.folder / "state.json", self.state())


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` by temp file and rename: a reader never sees half of it."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp", delete=False
    ) as out:
        json.dump(document, out, indent=1)
    os.replace(out.name, path)


def _listening(port: int) -> bool:
    """Whether something listens on ``port`` (the kernel accepts for a starved process)."""
    with socket.socket() as sock:
        sock.settimeout(0.1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _answers(port: int) -> bool:
    """Whether the replica on ``port`` answers ready now."""
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/v2/health/ready")
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[1]
    host, _, port = rest.rpartition(":")
    return host, int(port)
