"""One model in many regions and clouds: the topology file, Envoy as the data plane,
polyclass as its control plane.

A topology file (TOML) names the model, the routing policy, the router and the regions
(cloud, store, residency, priority, cost, replicas). ``load_topology`` reads and
validates it; ``check_topology`` checks it against the registry (every region's store
holds a verified replica of the model). ``polyclass deploy check|up|status|rollout``
drive it from the command line.
"""

from __future__ import annotations

from polyclass.deploy._check import CheckedTopology, check_topology
from polyclass.deploy._topology import (
    CLOUDS,
    POLICIES,
    ControllerConfig,
    Region,
    RouterConfig,
    Topology,
    TopologyError,
    load_topology,
    parse_topology,
    require_tokens,
)

__all__ = [
    "CLOUDS",
    "POLICIES",
    "CheckedTopology",
    "ControllerConfig",
    "Region",
    "RouterConfig",
    "Topology",
    "TopologyError",
    "check_topology",
    "load_topology",
    "parse_topology",
    "require_tokens",
]
