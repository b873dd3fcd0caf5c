"""A rollout, region by region: new replicas beside the old, a canary share, a verdict.

For each region in priority order: start the new version's replicas, wait until they
answer, give them ``canary`` of the region's traffic (endpoint weights), watch their
error rate (Envoy's per-host counters) and latency (the controller's probes) against the
old replicas' for ``watch`` seconds; on a regression take them out and stop them (the
whole rollout stops: regions already moved keep the new version, the rest the old);
otherwise give them all the traffic, then stop the old replicas once Envoy has the
new endpoints. The mixed-version window runs from the first new replica in rotation to
the last old one out.
"""

from __future__ import annotations

import time
import urllib.error
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyclass.deploy._router import admin_json

if TYPE_CHECKING:
    from polyclass.deploy._local import LocalDeployment, LocalReplica

__all__ = ["RolloutReport", "run_rollout"]

#: A canary regresses when its error rate exceeds the old replicas' by this much ...
_ERROR_MARGIN = 0.01
#: ... or its probe p99 exceeds twice theirs plus this many seconds.
_LATENCY_MARGIN = 0.010
#: The canary requests below which its latency is not judged: a just-started replica's
#: readiness probes alone are too few and too cold to call a regression.
_MIN_REQUESTS = 20


@dataclass
class RolloutReport:
    """What a rollout did: per region the outcome and the canary's figures."""

    target: str
    state: str = "running"  # running | done | rolled-back
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


def _counts(deployment: LocalDeployment, replicas: list[LocalReplica]) -> tuple[int, int]:
    """Requests and errors Envoy counted for ``replicas`` (every cluster)."""
    router = deployment.topology.router
    try:
        document = admin_json(router.admin_host, router.admin_port, "/clusters?format=json")
    except (OSError, urllib.error.URLError, ValueError):
        return 0, 0
    wanted = {r.endpoint.address for r in replicas}
    total = errors = 0
    for cluster in document.get("cluster_statuses", []):
        for host in cluster.get("host_statuses", []):
            socket = host["address"]["socket_address"]
            if f"{socket['address']}:{socket['port_value']}" not in wanted:
                continue
            stats = {s["name"]: int(s.get("value", 0)) for s in host.get("stats", [])}
            total += stats.get("rq_total", 0)
            errors += stats.get("rq_error", 0)
    return total, errors


def _p99(deployment: LocalDeployment, replicas: list[LocalReplica]) -> float | None:
    values = []
    for replica in replicas:
        probe = deployment.controller.probes.get(replica.endpoint.address)
        value = None if probe is None else probe.quantile(0.99)
        if value is not None:
            values.append(value)
    return max(values) if values else None


def _verdict(
    deployment: LocalDeployment, old: list[LocalReplica], new: list[LocalReplica], watch: float
) -> dict[str, Any]:
    """Watch the canary for ``watch`` seconds; the figures and whether it regressed."""
    before_old, before_new = _counts(deployment, old), _counts(deployment, new)
    time.sleep(watch)
    after_old, after_new = _counts(deployment, old), _counts(deployment, new)
    old_n, old_e = after_old[0] - before_old[0], after_old[1] - before_old[1]
    new_n, new_e = after_new[0] - before_new[0], after_new[1] - before_new[1]
    old_rate = old_e / old_n if old_n else 0.0
    new_rate = new_e / new_n if new_n else 0.0
    old_p99, new_p99 = _p99(deployment, old), _p99(deployment, new)
    slower = (
        new_n >= _MIN_REQUESTS
        and old_p99 is not None
        and new_p99 is not None
        and new_p99 > 2 * old_p99 + _LATENCY_MARGIN
    )
    reasons = []
    if new_rate > old_rate + _ERROR_MARGIN:
        reasons.append(f"error rate {new_rate:.2%} against {old_rate:.2%}")
    if slower:
        reasons.append(f"probe p99 {new_p99 * 1000:.1f} ms against {old_p99 * 1000:.1f} ms")  # type: ignore[operator]
    return {
        "canary_requests": new_n,
        "canary_error_rate": new_rate,
        "old_error_rate": old_rate,
        "canary_p99_ms": None if new_p99 is None else new_p99 * 1000,
        "old_p99_ms": None if old_p99 is None else old_p99 * 1000,
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
        figures = _verdict(deployment, old, new, watch)
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
