"""``deploy status``: every region and replica as the router and the supervisor see them."""

from __future__ import annotations

import json
import urllib.error
from dataclasses import asdict, dataclass
from typing import Any

from polyclass.deploy._router import DeployError, admin_json
from polyclass.deploy._topology import Topology

__all__ = ["ReplicaStatus", "Status", "deployment_status"]


@dataclass(frozen=True)
class ReplicaStatus:
    """One replica: where it is, whether the router sends to it, what it carried."""

    region: str
    address: str
    pid: int | None
    healthy: bool
    ejected: bool
    version: str
    requests: int
    errors: int
    share: float
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    cost_per_hour: float
    error: str | None = None  # why it is down: its last start's error, while it does not answer


@dataclass(frozen=True)
class Status:
    """The router and every replica; ``ejections`` counts outlier ejections so far."""

    router: str
    admin: str
    version: str
    pid: int | None
    ejections: int
    replicas: list[ReplicaStatus]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "replicas": [asdict(r) for r in self.replicas]}


def _host_stats(clusters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per host address: requests and errors summed over every cluster, health flags."""
    hosts: dict[str, dict[str, Any]] = {}
    for cluster in clusters.get("cluster_statuses", []):
        if not str(cluster.get("name", "")).startswith("polyclass"):
            continue
        for host in cluster.get("host_statuses", []):
            socket = host["address"]["socket_address"]
            address = f"{socket['address']}:{socket['port_value']}"
            stats = {s["name"]: int(s.get("value", 0)) for s in host.get("stats", [])}
            flags = host.get("health_status", {})
            entry = hosts.setdefault(address, {"rq_total": 0, "rq_error": 0})
            entry["rq_total"] += stats.get("rq_total", 0)
            entry["rq_error"] += stats.get("rq_error", 0)
            if cluster["name"] == "polyclass":
                entry["healthy"] = not flags.get("failed_active_health_check", False)
                entry["ejected"] = bool(flags.get("failed_outlier_check", False))
    return hosts


def deployment_status(topology: Topology) -> Status:
    """Read the running deployment of ``topology``: its state file and Envoy's admin API.

    Raises
    ------
    DeployError
        Nothing runs for this topology, or its router does not answer.
    """
    path = topology.state_dir / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DeployError(
            f"no running deployment of {topology.source} (no {path}): start it with "
            f"`polyclass deploy up {topology.source} --local`"
        ) from None
    host, _, port = state["admin"].rpartition(":")
    try:
        hosts = _host_stats(admin_json(host, int(port), "/clusters?format=json"))
        stats = admin_json(host, int(port), "/stats?format=json&filter=ejections_enforced_total")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise DeployError(
            f"the router's admin at {state['admin']} does not answer ({exc}); is "
            f"`polyclass deploy up {topology.source} --local` still running?"
        ) from None
    ejections = sum(int(s.get("value", 0)) for s in stats.get("stats", []) if "value" in s)
    total = sum(h["rq_total"] for h in hosts.values()) or 1
    replicas = []
    for entry in state["replicas"]:
        seen = hosts.get(entry["address"], {"rq_total": 0, "rq_error": 0})
        region = topology.region(entry["region"])
        replicas.append(
            ReplicaStatus(
                region=entry["region"],
                address=entry["address"],
                pid=entry.get("pid"),
                healthy=bool(seen.get("healthy", False)),
                ejected=bool(seen.get("ejected", False)),
                version=entry.get("version", ""),
                requests=seen["rq_total"],
                errors=seen["rq_error"],
                share=seen["rq_total"] / total,
                error_rate=seen["rq_error"] / seen["rq_total"] if seen["rq_total"] else 0.0,
                p50_ms=entry.get("p50_ms"),
                p99_ms=entry.get("p99_ms"),
                cost_per_hour=region.cost_per_hour,
                error=entry.get("error"),
            )
        )
    return Status(
        router=state["router"],
        admin=state["admin"],
        version=state.get("version", ""),
        pid=state.get("pid"),
        ejections=ejections,
        replicas=replicas,
    )
