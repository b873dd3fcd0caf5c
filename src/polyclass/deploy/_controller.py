"""The control loop beside Envoy: measure every replica, turn the policy into localities.

Each tick probes every replica's readiness route at once (its latency as a caller sees
it; a hung replica's timeout holds up neither the others' probes nor the tick), keeps a
window of samples per replica, and rewrites the EDS files (each region's priority and
locality weight, from the policy) and the RDS file (per-try timeouts from the measured
latency). Files are only written when they change.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from polyclass.deploy._envoy import (
    ALL,
    Endpoint,
    EnvoyFiles,
    Placement,
    cluster_name,
    load_assignment,
    routes,
    write_atomically,
)
from polyclass.deploy._topology import Region, Topology

__all__ = ["Controller", "Probe", "per_try_timeout", "placements"]

#: Latency samples kept per replica (about a minute at one probe a second).
_WINDOW = 60
#: A per-try timeout is this many times the slowest region's p90 probe latency: the
#: window's p99 is its single slowest sample, so one slow probe (a replica's first answer
#: after a restart, a scheduling hiccup) set every attempt's timeout for a minute, and a
#: hung replica then held its requests that long before they were hedged ...
_PER_TRY_QUANTILE = 0.9
_PER_TRY_FACTOR = 4.0
#: ... and never below this (seconds): a loaded machine's scheduling hiccups.
_PER_TRY_FLOOR = 0.1


@dataclass
class Probe:
    """What the controller knows about one replica."""

    endpoint: Endpoint
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    healthy: bool = False
    failures: int = 0
    _conn: http.client.HTTPConnection | None = None

    def measure(self, timeout: float) -> None:
        """Time one readiness request; a failure marks the replica unhealthy."""
        start = time.perf_counter()
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self.endpoint.host, self.endpoint.port, timeout=timeout
                )
            self._conn.request("GET", "/v2/health/ready")
            response = self._conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        if not ok:
            self.close()
            self.healthy, self.failures = False, self.failures + 1
            return
        self.samples.append(time.perf_counter() - start)
        self.healthy = True

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the recent samples in seconds (None before any)."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _region_latency(region: Region, probes: list[Probe]) -> float | None:
    values = [p.quantile(0.5) for p in probes if p.endpoint.region == region.name and p.healthy]
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def placements(
    topology: Topology, probes: list[Probe], demand_rps: float = 0.0
) -> dict[str, Placement]:
    """Each region's Envoy priority and locality weight under the topology's policy.

    ``latency``: one priority, weights inversely proportional to measured latency;
    ``cost``: the cheapest regions within the latency objective filled up to their
    capacity for ``demand_rps`` at priority 0, the rest one priority lower for spill
    over; ``priority``: each region at its own priority; ``round-robin``: even per replica.
    """
    hosts = {
        r.name: max(1, sum(p.endpoint.region == r.name for p in probes)) for r in topology.regions
    }
    if topology.policy == "priority":
        return {r.name: Placement(r.priority, 100 * hosts[r.name]) for r in topology.regions}
    if topology.policy == "round-robin":
        return {r.name: Placement(0, 100 * hosts[r.name]) for r in topology.regions}
    latency = {r.name: _region_latency(r, probes) for r in topology.regions}
    if topology.policy == "latency":
        known = [v for v in latency.values() if v is not None]
        fallback = max(known) if known else 1.0
        return {
            r.name: Placement(
                0,
                max(
                    1,
                    round(
                        100 * hosts[r.name] * min(known or [1.0]) / (latency[r.name] or fallback)
                    ),
                ),
            )
            for r in topology.regions
        }
    return _cost(topology, hosts, latency, demand_rps)


def _cost(
    topology: Topology, hosts: dict[str, int], latency: dict[str, float | None], demand: float
) -> dict[str, Placement]:
    objective = topology.controller.latency_objective_ms / 1000
    within = [r for r in topology.regions if (latency[r.name] or 0.0) <= objective]
    ordered = sorted(within, key=lambda r: (r.cost_per_hour, r.priority)) + [
        r for r in topology.regions if r not in within
    ]
    placement: dict[str, Placement] = {}
    left = max(demand, 1.0)
    for region in ordered:
        capacity = region.capacity_rps * hosts[region.name]
        if left > 0:
            share = min(left, capacity)
            placement[region.name] = Placement(0, max(1, round(1000 * share / max(demand, 1.0))))
            left -= share
        else:  # spill over: used when the filled regions fail or run short
            placement[region.name] = Placement(1, hosts[region.name])
    return placement


def per_try_timeout(topology: Topology, probes: list[Probe], residency: str | None) -> float:
    """Seconds one attempt may take in a cluster: a multiple of its slowest region's p90."""
    if topology.router.per_try_timeout is not None:
        return topology.router.per_try_timeout
    names = {r.name for r in topology.regions if residency is None or r.residency == residency}
    measured = [p.quantile(_PER_TRY_QUANTILE) for p in probes if p.endpoint.region in names]
    slowest = max((v for v in measured if v is not None), default=_PER_TRY_FLOOR)
    return min(max(_PER_TRY_FACTOR * slowest, _PER_TRY_FLOOR), topology.router.timeout / 2)


class Controller:
    """Probes replicas and keeps Envoy's EDS and RDS files in step with the policy.

    Parameters
    ----------
    topology : Topology
        The deployment.
    files : EnvoyFiles
        Where Envoy reads its dynamic resources.
    endpoints : callable
        Returns the replicas to route to now (local ones change as they restart).
    demand : callable, optional
        Requests per second the router carries now (for ``policy = "cost"``).
    """

    def __init__(
        self,
        topology: Topology,
        files: EnvoyFiles,
        endpoints: Callable[[], list[Endpoint]],
        demand: Callable[[], float] | None = None,
    ) -> None:
        self.topology, self.files = topology, files
        self._endpoints, self._demand = endpoints, demand or (lambda: 0.0)
        self.probes: dict[str, Probe] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # a rollout ticks from its own thread too, and a probe's connection has one user
        self._ticking = threading.Lock()
        self._probing: ThreadPoolExecutor | None = None

    def tick(self) -> None:
        """Measure once and rewrite whatever changed (one tick at a time)."""
        with self._ticking:
            self._tick()

    def _tick(self) -> None:
        current = self._endpoints()
        with self._lock:
            wanted = {e.address: e for e in current}
            for address in list(self.probes):
                if address not in wanted or self.probes[address].endpoint != wanted[address]:
                    self.probes.pop(address).close()
            for address, endpoint in wanted.items():
                self.probes.setdefault(address, Probe(endpoint))
            probes = list(self.probes.values())
        if self._probing is None:
            self._probing = ThreadPoolExecutor(16, thread_name_prefix="polyclass-probe")
        list(self._probing.map(lambda probe: probe.measure(timeout=1.0), probes))
        self.apply(current, probes)

    def apply(self, endpoints: list[Endpoint], probes: list[Probe]) -> None:
        """Write the EDS files of every cluster and the RDS file."""
        where = placements(self.topology, probes, self._demand())
        regions = self.topology.regions
        write_atomically(self.files.eds(ALL), load_assignment(ALL, regions, endpoints, where))
        per_try = {ALL: per_try_timeout(self.topology, probes, None)}
        for tag in self.topology.residencies:
            name = cluster_name(tag)
            inside = self.topology.regions_with(tag)
            write_atomically(self.files.eds(name), load_assignment(name, inside, endpoints, where))
            per_try[name] = per_try_timeout(self.topology, probes, tag)
        # round to 10 ms so jitter in the measurements does not rewrite routes every tick
        rounded = {k: math.ceil(v * 100) / 100 for k, v in per_try.items()}
        write_atomically(self.files.rds, routes(self.topology, rounded))

    def start(self) -> None:
        """Run :meth:`tick` every ``[controller] interval`` seconds in a thread."""
        self._thread = threading.Thread(target=self._loop, name="polyclass-controller", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.topology.controller.interval):
            try:
                self.tick()
            except OSError:  # a full disk or a vanished folder: try again next tick
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._ticking:  # a rollout's tick may still be probing
            if self._probing is not None:
                self._probing.shutdown()
                self._probing = None
            for probe in self.probes.values():
                probe.close()
