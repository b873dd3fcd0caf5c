"""A rollout, region by region: new replicas beside the old, a canary share, a verdict.

For each region in priority order: start the new version's replicas, wait until they
answer, give them ``canary`` of the region's traffic (endpoint weights), watch their
error rate (Envoy's per-host counters: 5xx, resets and timeouts), Envoy's health checks
and outlier detection, and their latency (readiness probes timed side by side) against
the old replicas' for ``watch`` seconds; on a regression take them out and stop them (the
whole rollout stops: regions already moved keep the new version, the rest the old);
otherwise give them all the traffic, then stop the old replicas once Envoy has the
new endpoints. The mixed-version window runs from the first new replica in rotation to
the last old one out.
"""

from __future__ import annotations

import http.client
import statistics
import time
import urllib.error
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyclass.deploy._envoy import ALL
from polyclass.deploy._router import admin_json

if TYPE_CHECKING:
    from polyclass.deploy._check import CheckedTopology
    from polyclass.deploy._local import LocalDeployment, LocalReplica
    from polyclass.deploy._topology import Topology

__all__ = ["RolloutReport", "keep_rollout", "run_rollout"]

#: A canary regresses when its rate of failed attempts exceeds the old replicas' by this
#: much ...
_ERROR_MARGIN = 0.01
#: ... counting only from this many failed attempts (one slow first answer is no trend) ...
_MIN_FAILURES = 5
#: ... or it is found failing in this many more samples than they are ...
_MIN_FAILING_SAMPLES = 3
#: ... or its median readiness latency exceeds twice theirs plus this many seconds (the
#: median, not a tail: a loaded machine's hiccups land on old and new alike).
_LATENCY_MARGIN = 0.010
#: Seconds between looks at Envoy's counters and health flags, and between timed
#: readiness probes of every old and new replica, while a canary is watched.
_SAMPLE = 0.1
#: A probe that fails or takes longer counts as this many seconds.
_PROBE_TIMEOUT = 1.0


@dataclass
class RolloutReport:
    """What a rollout did: per region the outcome and the canary's figures."""

    target: str
    state: str = "running"  # running | done | rolled-back | failed (an error stopped it)
    regions: list[dict[str, Any]] = field(default_factory=list)
    first_new: float | None = None
    last_old_out: float | None = None
    message: str = ""

    @property
    def mixed_seconds(self) -> float | None:
        """How long two versions served at once (None while it is not over)."""
        if self.first_new is None or self.last_old_out is None:
            return None
        return self.last_old_out - self.first_new

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "state": self.state,
            "regions": self.regions,
            "mixed_version_seconds": self.mixed_seconds,
            "message": self.message,
        }


@dataclass
class _Seen:
    """What Envoy counted for a set of replicas: attempts, failed attempts, health."""

    total: int = 0
    errors: int = 0
    failing: bool = False  # one of them failed a health check or was ejected
    hosts: int = 0  # how many of them Envoy holds in the all-regions cluster


@dataclass
class _Watched:
    """One set of replicas over a canary's watch: Envoy's counts and the probes' times."""

    seen: _Seen = field(default_factory=_Seen)
    failing: int = 0  # samples that found one of them failing
    probes: list[float] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return self.seen.errors / self.seen.total if self.seen.total else 0.0

    @property
    def p50(self) -> float | None:
        return statistics.median(self.probes) if self.probes else None


def _counts(deployment: LocalDeployment, replicas: list[LocalReplica]) -> _Seen | None:
    """Envoy's per-host counters for ``replicas`` over every cluster (None: no answer).

    A failed attempt is a 5xx, a reset or refused connection, or a timeout.
    """
    router = deployment.topology.router
    try:
        document = admin_json(router.admin_host, router.admin_port, "/clusters?format=json")
    except (OSError, urllib.error.URLError, ValueError):
        return None
    wanted = {r.endpoint.address for r in replicas}
    seen = _Seen()
    for cluster in document.get("cluster_statuses", []):
        for host in cluster.get("host_statuses", []):
            socket = host["address"]["socket_address"]
            if f"{socket['address']}:{socket['port_value']}" not in wanted:
                continue
            stats = {s["name"]: int(s.get("value", 0)) for s in host.get("stats", [])}
            seen.hosts += cluster.get("name") == ALL
            seen.total += stats.get("rq_total", 0)
            seen.errors += stats.get("rq_error", 0) + stats.get("rq_timeout", 0)
            flags = host.get("health_status", {})
            seen.failing |= bool(
                flags.get("failed_active_health_check") or flags.get("failed_outlier_check")
            )
    return seen


def _in_rotation(deployment: LocalDeployment, replicas: list[LocalReplica], timeout: float) -> bool:
    """Wait until Envoy holds every one of ``replicas`` and finds none failing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = _counts(deployment, replicas)
        if seen is not None and seen.hosts == len(replicas) and not seen.failing:
            return True
        time.sleep(0.05)
    return False


def _probe(replica: LocalReplica) -> float:
    """Seconds one readiness request to ``replica`` took (a failure: the timeout)."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=_PROBE_TIMEOUT)
        try:
            conn.request("GET", "/v2/health/ready")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                return _PROBE_TIMEOUT
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return _PROBE_TIMEOUT
    return min(time.perf_counter() - start, _PROBE_TIMEOUT)


def _watch(
    deployment: LocalDeployment, groups: list[list[LocalReplica]], watch: float
) -> list[_Watched]:
    """Sample each group of replicas for ``watch`` seconds: the change in Envoy's counts,
    how many samples found one failing, and a timed readiness probe of each replica
    per sample (old and new alike, so both see the same machine)."""
    first = [_counts(deployment, g) for g in groups]
    watched = [_Watched() for _ in groups]
    last = list(first)
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        for i, group in enumerate(groups):
            watched[i].probes += [_probe(r) for r in group]
            seen = _counts(deployment, group)
            if seen is not None:
                last[i] = seen
                watched[i].failing += seen.failing
        time.sleep(_SAMPLE)
    for i, (a, b) in enumerate(zip(first, last, strict=True)):
        if a is not None and b is not None:
            watched[i].seen = _Seen(b.total - a.total, b.errors - a.errors)
    return watched


def _verdict(
    deployment: LocalDeployment, old: list[LocalReplica], new: list[LocalReplica], watch: float
) -> dict[str, Any]:
    """Watch the canary for ``watch`` seconds; the figures and whether it regressed."""
    was, now = _watch(deployment, [old, new], watch)
    reasons = []
    if now.seen.errors >= _MIN_FAILURES and now.error_rate > was.error_rate + _ERROR_MARGIN:
        reasons.append(
            f"failed attempts {now.error_rate:.2%} of {now.seen.total} against {was.error_rate:.2%}"
        )
    if now.failing >= was.failing + _MIN_FAILING_SAMPLES:
        reasons.append(
            f"Envoy found a canary replica failing (health check or ejection) in "
            f"{now.failing} samples against {was.failing}"
        )
    if now.p50 is not None and was.p50 is not None and now.p50 > 2 * was.p50 + _LATENCY_MARGIN:
        reasons.append(f"readiness p50 {now.p50 * 1000:.1f} ms against {was.p50 * 1000:.1f} ms")
    return {
        "canary_requests": now.seen.total,
        "canary_error_rate": now.error_rate,
        "old_error_rate": was.error_rate,
        "canary_probe_p50_ms": None if now.p50 is None else now.p50 * 1000,
        "old_probe_p50_ms": None if was.p50 is None else was.p50 * 1000,
        "regressed": bool(reasons),
        "reasons": reasons,
    }


def run_rollout(
    deployment: LocalDeployment,
    target: str,
    *,
    canary: float = 0.1,
    watch: float = 5.0,
    ready_timeout: float = 120.0,
    on_change: Any = None,
) -> RolloutReport:
    """Move every region of a running local deployment to ``target`` (``name:N``)."""
    report = RolloutReport(target)
    regions = sorted(deployment.topology.regions, key=lambda r: (r.priority, r.name))
    for region in regions:
        entry: dict[str, Any] = {"region": region.name, "state": "starting"}
        report.regions.append(entry)
        old, new = deployment.add_version(region.name, target)
        if not deployment.wait_ready(new, ready_timeout):
            deployment.retire(new)
            entry.update(state="rolled-back", reasons=["the new replicas did not become ready"])
            report.state, report.message = "rolled-back", f"{region.name}: not ready"
            break
        share = max(1, round((1 - canary) / canary * len(new) / max(1, len(old))))
        deployment.set_weights(old, share)
        deployment.set_weights(new, 1)
        deployment.controller.tick()
        report.first_new = report.first_new or time.time()
        entry["state"] = "canary"
        if on_change is not None:
            on_change(report)
        if _in_rotation(deployment, new, ready_timeout):
            figures = _verdict(deployment, old, new, watch)
        else:
            reason = "Envoy never found the new replicas healthy"
            figures = {"regressed": True, "reasons": [reason]}
        entry.update(figures)
        if figures["regressed"]:
            deployment.retire(new)
            entry["state"] = "rolled-back"
            report.state = "rolled-back"
            report.message = f"{region.name}: " + "; ".join(figures["reasons"])
            break
        deployment.set_weights(new, 1)
        deployment.retire(old)
        report.last_old_out = time.time()
        entry["state"] = "done"
        if on_change is not None:
            on_change(report)
    else:
        report.state = "done"
    if report.state != "done" and report.first_new and report.last_old_out is None:
        report.last_old_out = time.time()
    if on_change is not None:
        on_change(report)
    return report


def keep_rollout(
    topology: Topology, target: CheckedTopology, *, registry: str | None, promote: bool
) -> str:
    """Make a finished rollout outlive ``deploy up``: move the topology's alias to it.

    A rollout changes only the running processes; a restarted ``deploy up`` serves what
    the topology's ``model`` resolves to, so the alias it names is moved to the rolled
    out version (unless ``promote`` is false). Returns the line that says what a restart
    will serve and, when that is not the new version, how to make it so.
    """
    from polyclass.registry import Registry, parse_ref

    ref = parse_ref(topology.model)
    new = target.ref
    if ref.kind == "alias" and ref.name == target.name:
        command = f"polyclass registry alias {ref.name} {ref.alias} {target.version}"
        if not promote:
            return (
                f"{topology.model} still names the old version (--no-promote): a restarted "
                f"`deploy up` goes back to it; `{command}` keeps {new}"
            )
        with Registry(registry or topology.registry) as reg:
            reg.set_alias(ref.name, str(ref.alias), target.version)
        return f"{topology.model} now names {new}: a restarted `deploy up` serves it"
    if ref.kind == "latest" and ref.name == target.name:
        return (
            f"{topology.model} names the latest version: a restarted `deploy up` serves "
            f"{new} only while it is the latest"
        )
    if str(ref) == new:
        return f"{topology.model} is {new}: a restarted `deploy up` serves it"
    return (
        f"{topology.source} names {topology.model}: a restarted `deploy up` goes back to "
        f"it; set its model to {new} (or NAME@ALIAS with the alias on {new}) to keep {new}"
    )
