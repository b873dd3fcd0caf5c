"""Envoy's configuration for a topology: bootstrap, then CDS, EDS, RDS and LDS files.

polyclass is Envoy's control plane through file-based dynamic resources: each file is
written under a temporary name and renamed over the old one in a watched folder, so
Envoy reloads whole files and an update never drops a connection. One cluster holds
every region (a locality each, priorities for failover); one more per residency holds
only that residency's regions, so a request that names a residency can never fail over
outside it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyclass.deploy._topology import Region, Topology

__all__ = [
    "ALL",
    "Endpoint",
    "EnvoyFiles",
    "Placement",
    "bootstrap",
    "cluster_name",
    "clusters",
    "listeners",
    "load_assignment",
    "routes",
    "write_atomically",
]

#: The cluster holding every region.
ALL = "polyclass"
RESIDENCY_HEADER = "x-data-residency"
_TYPES = "type.googleapis.com/envoy"
_HEALTH_PATH = "/v2/health/ready"


@dataclass(frozen=True)
class Endpoint:
    """One replica the router sends to: its region, address and model version."""

    region: str
    host: str
    port: int
    version: str = ""
    weight: int = 1

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Placement:
    """Where the controller puts one region: an Envoy priority and a locality weight."""

    priority: int
    weight: int


@dataclass(frozen=True)
class EnvoyFiles:
    """The files of one router under its folder."""

    folder: Path

    @property
    def bootstrap(self) -> Path:
        return self.folder / "bootstrap.json"

    @property
    def cds(self) -> Path:
        return self.folder / "cds.json"

    @property
    def lds(self) -> Path:
        return self.folder / "lds.json"

    @property
    def rds(self) -> Path:
        return self.folder / "rds.json"

    def eds(self, cluster: str) -> Path:
        return self.folder / f"eds-{cluster}.json"


def cluster_name(residency: str | None) -> str:
    """The cluster of one residency (``polyclass-res-eu``), or of every region (None)."""
    return ALL if residency is None else f"{ALL}-res-{residency}"


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def _source(path: Path) -> dict[str, Any]:
    # watched_directory: Envoy reloads on a rename into the folder, the atomic swap we do
    return {
        "resource_api_version": "V3",
        "path_config_source": {"path": str(path), "watched_directory": {"path": str(path.parent)}},
    }


def bootstrap(topology: Topology, files: EnvoyFiles) -> dict[str, Any]:
    """Envoy's bootstrap: the admin address and where the dynamic resources are."""
    router = topology.router
    return {
        "node": {"id": f"polyclass-{router.port}", "cluster": "polyclass-router"},
        "admin": {
            "address": {
                "socket_address": {"address": router.admin_host, "port_value": router.admin_port}
            }
        },
        "dynamic_resources": {"cds_config": _source(files.cds), "lds_config": _source(files.lds)},
    }


def _health_check(topology: Topology) -> dict[str, Any]:
    interval = topology.router.health_interval
    return {
        # a hung host is found by outlier detection (per-try timeouts) sooner than by a
        # tight health-check timeout, which a merely busy host would fail
        "timeout": _seconds(max(10 * interval, 1.0)),
        "interval": _seconds(interval),
        # Envoy checks a host that carries no traffic only every 60 s unless told otherwise
        "no_traffic_interval": _seconds(interval),
        "no_traffic_healthy_interval": _seconds(interval),
        "unhealthy_interval": _seconds(interval),
        "interval_jitter": "0s",
        "unhealthy_threshold": 2,  # a refused connection fails at once: ~2 intervals
        "healthy_threshold": 1,
        "reuse_connection": True,
        "http_health_check": {"path": _HEALTH_PATH},
    }


def _max_ejection_percent(regions: tuple[Region, ...]) -> int:
    """The share of a cluster's hosts outlier detection may eject: its largest region
    whole (two hung replicas must both go; a cap of half kept one in rotation until its
    health checks timed out), and never more than half when several regions serve it,
    since under a machine-wide stall every busy host looks hung and the rest must serve.
    A cluster of one region may lose it all: there is nowhere else to send its requests,
    and its residency's explicit 503 beats waiting on a hung replica."""
    hosts = [r.replicas + len(r.endpoints) for r in regions]
    if len(hosts) <= 1 or sum(hosts) == 0:
        return 100
    # Envoy ejects a host only if the share ejected with it stays at most the cap, so the
    # cap is rounded up (2 of 3 hosts is 66.7%: a cap of 66 ejects one); not one host
    # beyond the largest region unless half the hosts still serve
    return max(50, -(-100 * max(hosts) // sum(hosts)))


def _cluster(topology: Topology, name: str, files: EnvoyFiles) -> dict[str, Any]:
    tag = name.removeprefix(f"{ALL}-res-")
    regions = topology.regions if name == ALL else topology.regions_with(tag)
    return {
        "@type": f"{_TYPES}.config.cluster.v3.Cluster",
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": _source(files.eds(name))},
        # a refused connection fails at once whatever this is; a busy replica's full
        # accept queue must not read as a failure
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "common_lb_config": {
            # never send to hosts known unhealthy, however few are left (Envoy's panic
            # mode would spray a dead region); a busy host is not marked unhealthy for
            # long, as health checks have a generous timeout and un-eject a host they pass
            "healthy_panic_threshold": {"value": 0.0},
            "locality_weighted_lb_config": {},
            # Envoy merges health changes for up to 1 s before its workers see them: a
            # dead host would keep getting new requests (each a connect failure and a
            # retry) for that second after it was ejected
            "update_merge_window": "0s",
        },
        "ignore_health_on_host_removal": True,
        "health_checks": [_health_check(topology)],
        "outlier_detection": {
            "consecutive_5xx": 3,
            "consecutive_gateway_failure": 2,
            "consecutive_local_origin_failure": 2,
            "enforcing_consecutive_5xx": 100,
            "enforcing_consecutive_gateway_failure": 100,
            "interval": "1s",
            # a live host is back at its next passed health check (below), so only a
            # dead or hung one stays out this long; a short ejection let a hung host back
            # into rotation before its health checks had timed out
            "base_ejection_time": "10s",
            "max_ejection_time": "60s",
            "max_ejection_percent": _max_ejection_percent(regions),
            "successful_active_health_check_uneject_host": True,
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": 100000,
                    "max_pending_requests": 100000,
                    "max_requests": 100000,
                    # a brown-out may add at most a quarter more requests as retries
                    "retry_budget": {
                        "budget_percent": {"value": 25.0},
                        "min_retry_concurrency": 64,
                    },
                }
            ]
        },
    }


def clusters(topology: Topology, files: EnvoyFiles) -> dict[str, Any]:
    """The CDS document: the all-regions cluster and one cluster per residency."""
    names = [ALL, *(cluster_name(tag) for tag in topology.residencies)]
    return _discovery("config.cluster.v3.Cluster", [_cluster(topology, n, files) for n in names])


def _discovery(kind: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resources": resources, "type_url": f"{_TYPES}.{kind}"}


def load_assignment(
    cluster: str,
    regions: tuple[Region, ...],
    endpoints: list[Endpoint],
    placement: dict[str, Placement],
) -> dict[str, Any]:
    """The EDS document of one cluster: a locality per region, at its priority and weight."""
    localities = []
    for region in regions:
        hosts = [e for e in endpoints if e.region == region.name]
        if not hosts:
            continue
        where = placement.get(region.name, Placement(0, 1))
        localities.append(
            {
                "locality": {"region": region.name, "zone": region.cloud},
                "priority": where.priority,
                "load_balancing_weight": max(1, where.weight),
                "lb_endpoints": [_lb_endpoint(e) for e in hosts],
            }
        )
    _compact_priorities(localities)
    assignment = {
        "@type": f"{_TYPES}.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": cluster,
        "endpoints": localities,
    }
    return _discovery("config.endpoint.v3.ClusterLoadAssignment", [assignment])


def _lb_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "endpoint": {
            "address": {"socket_address": {"address": endpoint.host, "port_value": endpoint.port}}
        },
        "load_balancing_weight": max(1, endpoint.weight),
        "metadata": {
            "filter_metadata": {
                "polyclass": {"region": endpoint.region, "version": endpoint.version}
            }
        },
    }


def _compact_priorities(localities: list[dict[str, Any]]) -> None:
    """Envoy's priorities must run 0, 1, 2... without a gap; keep their order."""
    ranks = {p: i for i, p in enumerate(sorted({loc["priority"] for loc in localities}))}
    for locality in localities:
        locality["priority"] = ranks[locality["priority"]]


def _retry_policy(topology: Topology, per_try: float) -> dict[str, Any]:
    return {
        "retry_on": "5xx,gateway-error,reset,connect-failure,refused-stream,retriable-status-codes",
        # a replica's 408 says it never got the whole request (as after a SIGSTOP, when
        # its timers fire first on waking): nothing was done, so another replica may try
        "retriable_status_codes": [408],
        "num_retries": topology.router.retries,
        "per_try_timeout": _seconds(per_try),
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": f"{_TYPES}.extensions.retry.host.previous_hosts.v3."
                    "PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 5,
        "retry_priority": {
            "name": "envoy.retry_priorities.previous_priorities",
            "typed_config": {
                "@type": f"{_TYPES}.extensions.retry.priority.previous_priorities.v3."
                "PreviousPrioritiesConfig",
                "update_frequency": 1,
            },
        },
        "retry_back_off": {"base_interval": "0.002s", "max_interval": "0.020s"},
    }


def _forward(topology: Topology, cluster: str, per_try: float) -> dict[str, Any]:
    action: dict[str, Any] = {
        "cluster": cluster,
        "timeout": _seconds(topology.router.timeout),
        "retry_policy": _retry_policy(topology, per_try),
    }
    if topology.router.hedge:
        action["hedge_policy"] = {"hedge_on_per_try_timeout": True}
    return action


def _header(value: str | None) -> dict[str, Any]:
    if value is None:
        return {"name": RESIDENCY_HEADER, "present_match": True}
    return {"name": RESIDENCY_HEADER, "string_match": {"exact": value, "ignore_case": True}}


def routes(topology: Topology, per_try: dict[str, float]) -> dict[str, Any]:
    """The RDS document: a route per residency, a 503 for unknown ones, then every region.

    ``per_try`` maps each cluster to its per-try timeout in seconds.
    """
    entries: list[dict[str, Any]] = []
    for tag in topology.residencies:
        name = cluster_name(tag)
        entries.append(
            {
                "match": {"prefix": "/", "headers": [_header(tag)]},
                "route": _forward(topology, name, per_try.get(name, 0.25)),
            }
        )
    known = ", ".join(topology.residencies) or "none"
    entries.append(
        {
            "match": {"prefix": "/", "headers": [_header(None)]},
            "direct_response": {
                "status": 503,
                "body": {
                    "inline_string": "no region has the requested data residency; this "
                    f"router serves residencies: {known}"
                },
            },
        }
    )
    entries.append(
        {"match": {"prefix": "/"}, "route": _forward(topology, ALL, per_try.get(ALL, 0.25))}
    )
    route_config = {
        "@type": f"{_TYPES}.config.route.v3.RouteConfiguration",
        "name": ALL,
        "virtual_hosts": [{"name": ALL, "domains": ["*"], "routes": entries}],
        "response_headers_to_add": [
            {"header": {"key": "x-polyclass-upstream", "value": "%UPSTREAM_HOST%"}},
        ],
    }
    return _discovery("config.route.v3.RouteConfiguration", [route_config])


def _local_replies(topology: Topology) -> dict[str, Any]:
    """Every reply Envoy makes itself is JSON; a residency with no healthy region is named."""
    mappers = []
    for tag in topology.residencies:
        names = ", ".join(r.name for r in topology.regions_with(tag))
        mappers.append(
            {
                "filter": {
                    "and_filter": {
                        "filters": [
                            {"header_filter": {"header": _header(tag)}},
                            {
                                "status_code_filter": {
                                    "comparison": {
                                        "op": "GE",
                                        "value": {"default_value": 500, "runtime_key": "_"},
                                    }
                                }
                            },
                        ]
                    }
                },
                "status_code": 503,
                "body": {
                    "inline_string": f"no healthy region with data residency '{tag}' "
                    f"({names}); the request was not sent to any other residency"
                },
            }
        )
    return {
        "mappers": mappers,
        "body_format": {
            "json_format": {
                "error": "%LOCAL_REPLY_BODY%",
                "status": "%RESPONSE_CODE%",
                "residency": "%REQ(X-DATA-RESIDENCY)%",
            },
            "omit_empty_values": True,
        },
    }


def listeners(topology: Topology, files: EnvoyFiles) -> dict[str, Any]:
    """The LDS document: one HTTP listener on ``[router] listen`` whose routes come by RDS."""
    router = topology.router
    manager = {
        "@type": f"{_TYPES}.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager",
        "stat_prefix": "polyclass",
        "rds": {"route_config_name": ALL, "config_source": _source(files.rds)},
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": f"{_TYPES}.extensions.filters.http.router.v3.Router"},
            }
        ],
        "local_reply_config": _local_replies(topology),
    }
    listener = {
        "@type": f"{_TYPES}.config.listener.v3.Listener",
        "name": ALL,
        "address": {"socket_address": {"address": router.host, "port_value": router.port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }
    return _discovery("config.listener.v3.Listener", [listener])


def write_atomically(path: Path, document: dict[str, Any]) -> bool:
    """Write a discovery document by temp file and rename; False when it is unchanged.

    A new ``version_info`` is stamped on each write, so Envoy applies every change.
    """
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("resources") == document["resources"]:
            return False
    except (OSError, ValueError):
        pass
    stamped = {**document, "version_info": str(time.time_ns())}
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as out:
        json.dump(stamped, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(out.name, path)
    return True
