"""The topology file: one TOML document describing a multi-region deployment of one model.

This module owns the format (see ``docs/formats.md``): the dataclasses below and the one
parser. Every problem is reported with the key it concerns and the fix, all problems
of a file at once::

    model = "penguins@production"      # what every region serves
    policy = "latency"                  # latency | cost | priority | round-robin
    registry = "./.polyclass"           # optional: where the model and its replicas are recorded
    residencies = ["eu", "us"]          # optional: the X-Data-Residency values callers may send

    [router]
    listen = "127.0.0.1:9000"
    admin = "127.0.0.1:9901"            # Envoy's admin interface: always loopback
    token_file = "tokens.txt"           # bearer tokens guarding the replicas' /feedback
                                        # and /admin/*; required off loopback

    [[regions]]
    name = "eu-west"                    # unique
    cloud = "aws"                       # aws | gcp | azure | onprem
    store = "s3://models-eu/polyclass"  # where this region loads the model from
    residency = "eu"                    # optional data-residency tag
    priority = 0                        # for policy = "priority": 0 first
    cost_per_hour = 0.12                # per replica
    replicas = 2                        # replicas `deploy up --local` starts here
    endpoints = []                      # or URLs of replicas running elsewhere
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "CLOUDS",
    "POLICIES",
    "ControllerConfig",
    "Region",
    "RouterConfig",
    "Topology",
    "TopologyError",
    "is_loopback",
    "load_topology",
    "parse_topology",
    "require_tokens",
]

#: The routing policies the controller carries out.
POLICIES = ("latency", "cost", "priority", "round-robin")
#: The clouds a region may run in.
CLOUDS = ("aws", "gcp", "azure", "onprem")
#: Store URL scheme -> the clouds that may hold such a store (file:// is any, for trying).
_SCHEME_CLOUDS = {
    "s3": ("aws", "onprem"),  # on premises: an S3-compatible store such as MinIO
    "gs": ("gcp",),
    "gcs": ("gcp",),
    "az": ("azure",),
    "abfs": ("azure",),
    "file": CLOUDS,
}
_REGION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")

_TOP_KEYS = (
    "model",
    "policy",
    "registry",
    "residencies",
    "state_dir",
    "router",
    "controller",
    "regions",
)
_ROUTER_KEYS = (
    "listen",
    "admin",
    "health_interval",
    "per_try_timeout",
    "timeout",
    "retries",
    "hedge",
    "base_id",
    "token_file",
)
_CONTROLLER_KEYS = ("interval", "latency_objective_ms")
_REGION_KEYS = (
    "name",
    "cloud",
    "store",
    "residency",
    "priority",
    "cost_per_hour",
    "capacity_rps",
    "replicas",
    "endpoints",
)
_Value = TypeVar("_Value")


class TopologyError(ValueError):
    """A topology file that cannot be used; ``problems`` lists each one with its fix."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = "" if len(problems) == 1 else f"{len(problems)} problems: "
        super().__init__(f"{source}: {count}" + "; ".join(problems))


@dataclass(frozen=True)
class RouterConfig:
    """The router (Envoy) in front of every region.

    Attributes
    ----------
    host, port : str, int
        Where callers send requests (``listen``).
    admin_host, admin_port : str, int
        Envoy's admin interface (``admin``; default the listen port + 1).
    health_interval : float
        Seconds between active health checks of each replica (sub-second).
    per_try_timeout : float or None
        Seconds one attempt may take before it is hedged and retried; None derives it
        from the regions' measured latency.
    timeout : float
        Seconds a whole request may take, retries included.
    retries : int
        Attempts after the first, each to another replica (and region when needed).
    hedge : bool
        Whether an attempt that passes its per-try timeout is raced by a second one.
    base_id : int or None
        Envoy's ``--base-id`` (shared-memory namespace); None derives it from the port.
    token_file : str or None
        Bearer tokens (one a line) every replica requires on ``/feedback`` and
        ``/admin/*``; required when ``host`` is not loopback.
    """

    host: str = "127.0.0.1"
    port: int = 9000
    admin_host: str = "127.0.0.1"
    admin_port: int = 9001
    health_interval: float = 0.1
    per_try_timeout: float | None = None
    timeout: float = 5.0
    retries: int = 3
    hedge: bool = True
    base_id: int | None = None
    token_file: str | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the listener (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ControllerConfig:
    """The control loop beside the router: how often it measures and what ``cost`` aims at."""

    interval: float = 1.0
    latency_objective_ms: float = 50.0


@dataclass(frozen=True)
class Region:
    """One region of one cloud serving the model.

    Attributes
    ----------
    name : str
        Unique lower-case name (``eu-west``).
    cloud : str
        ``aws``, ``gcp``, ``azure`` or ``onprem``.
    store : str or None
        The store URL the region loads the model from (required when it runs replicas).
    residency : str or None
        Its data-residency tag (``eu``); requests asking for a residency go only to
        regions that carry it.
    priority : int
        0 is used first under ``policy = "priority"``.
    cost_per_hour : float
        Cost of one replica for an hour.
    capacity_rps : float
        Requests per second one replica is meant to carry (``policy = "cost"`` fills
        the cheapest regions up to it).
    replicas : int
        Replicas ``deploy up --local`` starts here.
    endpoints : tuple of str
        ``http://host:port`` of replicas running elsewhere.
    """

    name: str
    cloud: str
    store: str | None = None
    residency: str | None = None
    priority: int = 0
    cost_per_hour: float = 0.0
    capacity_rps: float = 500.0
    replicas: int = 1
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topology:
    """A whole deployment: the model, the policy, the router and the regions.

    Build it with :func:`load_topology`.
    """

    model: str
    regions: tuple[Region, ...]
    policy: str = "latency"
    registry: str | None = None
    residencies: tuple[str, ...] = ()
    router: RouterConfig = field(default_factory=RouterConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    state_dir: Path = Path(".polyclass-deploy")
    source: str = "<topology>"

    def region(self, name: str) -> Region:
        """The region called ``name`` (KeyError when there is none)."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def regions_with(self, residency: str) -> tuple[Region, ...]:
        """The regions carrying the residency tag ``residency``."""
        return tuple(r for r in self.regions if r.residency == residency)


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file.

    Parameters
    ----------
    path : str or Path
        The TOML file.

    Returns
    -------
    Topology
        Relative ``registry``, ``state_dir`` and ``file://`` paths resolved against the
        file's folder.

    Raises
    ------
    TopologyError
        Naming every problem (unknown key, duplicate region, unknown cloud, a residency
        no region carries, a region without a store...) with its fix.

    Examples
    --------
    >>> topology = polyclass.deploy.load_topology("topology.toml")  # doctest: +SKIP
    >>> [r.name for r in topology.regions]  # doctest: +SKIP
    ['eu-west', 'us-east']
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError(str(file), [f"cannot read the file ({exc.strerror})"]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(str(file), [f"not valid TOML ({exc}); fix the syntax"]) from None
    return parse_topology(document, source=str(file), base=file.resolve().parent)


def parse_topology(
    document: Mapping[str, Any], *, source: str = "<topology>", base: Path | None = None
) -> Topology:
    """Validate a parsed topology document (see :func:`load_topology`)."""
    problems: list[str] = []
    base = base or Path.cwd()
    _unknown_keys(document, _TOP_KEYS, "the top level", problems)
    model = _model(document.get("model"), problems)
    policy = _policy(document.get("policy", "latency"), problems)
    router = _router(_table(document, "router", problems), base, problems)
    controller = _controller(_table(document, "controller", problems), problems)
    regions = _regions(document.get("regions"), base, problems)
    residencies = _residencies(document.get("residencies"), regions, problems)
    registry = _optional_text(document.get("registry"), "registry", problems)
    state = _optional_text(document.get("state_dir"), "state_dir", problems)
    if problems:
        raise TopologyError(source, problems)
    return Topology(
        model=model,
        regions=tuple(regions),
        policy=policy,
        registry=_local_path(registry, base),
        residencies=residencies,
        router=router,
        controller=controller,
        state_dir=base / (state or f".polyclass-deploy/{Path(source).stem}"),
        source=source,
    )


def _unknown_keys(
    table: Mapping[str, Any], known: tuple[str, ...], where: str, out: list[str]
) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            out.append(
                f"unknown key {key!r} in {where}: {hint}remove it or use one of {', '.join(known)}"
            )


def _table(document: Mapping[str, Any], key: str, out: list[str]) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, Mapping):
        out.append(f"{key!r} must be a table ([{key}]), got {value!r}")
        return {}
    return value


def _model(value: object, out: list[str]) -> str:
    if value is None:
        out.append(
            'the key "model" is missing: add model = "NAME@ALIAS" (e.g. penguins@production)'
        )
        return ""
    from polyclass.registry import RegistryError, parse_ref

    if not isinstance(value, str):
        out.append(f'"model" must be a reference such as "penguins@production", got {value!r}')
        return ""
    try:
        parse_ref(value)
    except RegistryError as exc:
        out.append(f'"model": {exc}')
    return value


def _policy(value: object, out: list[str]) -> str:
    if value not in POLICIES:
        out.append(f'"policy" must be one of {", ".join(POLICIES)}; got {value!r}')
        return "latency"
    return str(value)


def _check(
    table: Mapping[str, Any],
    key: str,
    where: str,
    accept: Callable[[Any], bool],
    expected: str,
    default: _Value,
    out: list[str],
) -> _Value:
    """``table[key]`` when ``accept`` takes it, else the default and a problem naming it."""
    if key not in table:
        return default
    value = table[key]
    if (isinstance(value, bool) and expected != "true or false") or not accept(value):
        out.append(f"{where}: {key!r} must be {expected}, got {value!r}")
        return default
    return value  # type: ignore[no-any-return]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _address(text: object, key: str, out: list[str]) -> tuple[str, int] | None:
    if not isinstance(text, str):
        out.append(f'[router] {key!r} must be "HOST:PORT" such as "127.0.0.1:9000", got {text!r}')
        return None
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if (host != "localhost" and number == -1) or not 0 < number < 65536:
        out.append(
            f'[router] {key!r} must be "IP:PORT" with a port from 1 to 65535 '
            f'(e.g. "127.0.0.1:9000"), got {text!r}'
        )
        return None
    return ("127.0.0.1" if host == "localhost" else host), number


def _router(table: Mapping[str, Any], base: Path, out: list[str]) -> RouterConfig:
    _unknown_keys(table, _ROUTER_KEYS, "[router]", out)
    listen = _address(table.get("listen", "127.0.0.1:9000"), "listen", out) or ("127.0.0.1", 9000)
    # Envoy's admin API can stop the router and dump its config: never off loopback
    default_admin = f"127.0.0.1:{min(listen[1] + 1, 65535)}"
    admin = _address(table.get("admin", default_admin), "admin", out) or ("127.0.0.1", 0)
    if admin == listen:
        out.append("[router] 'admin' must differ from 'listen': give Envoy's admin its own port")
    if not is_loopback(admin[0]):
        out.append(
            f"[router] 'admin' {table.get('admin')!r} is not a loopback address: Envoy's "
            'admin API can stop the router; use "127.0.0.1:PORT" (reach it over SSH)'
        )
    tokens = _optional_text(table.get("token_file"), "[router] token_file", out)
    where = "[router]"
    positive = "a positive number of seconds"
    interval = _check(
        table,
        "health_interval",
        where,
        lambda v: _number(v) and 0 < v <= 1,
        "a number of seconds in (0, 1] (sub-second health checks)",
        0.1,
        out,
    )
    per_try = _check(
        table, "per_try_timeout", where, lambda v: _number(v) and v > 0, positive, None, out
    )
    timeout = _check(table, "timeout", where, lambda v: _number(v) and v > 0, positive, 5.0, out)
    retries = _check(
        table,
        "retries",
        where,
        lambda v: isinstance(v, int) and 0 <= v <= 10,
        "a whole number from 0 to 10",
        3,
        out,
    )
    hedge = _check(table, "hedge", where, lambda v: isinstance(v, bool), "true or false", True, out)
    base_id = _check(
        table,
        "base_id",
        where,
        lambda v: isinstance(v, int) and v >= 0,
        "a whole number >= 0",
        None,
        out,
    )
    return RouterConfig(
        host=listen[0],
        port=listen[1],
        admin_host=admin[0],
        admin_port=admin[1],
        health_interval=float(interval),
        per_try_timeout=None if per_try is None else float(per_try),
        timeout=float(timeout),
        retries=int(retries),
        hedge=bool(hedge),
        base_id=base_id,
        token_file=_local_path(tokens, base),
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def require_tokens(topology: Topology, token_file: str | None = None) -> None:
    """Refuse a router listening off loopback whose replicas take no bearer tokens.

    The router forwards every path, so without tokens anyone who reaches it could post
    ``/feedback`` (labels ``retrain`` learns from) and ``/admin/reload``; the same rule
    as ``polyclass serve`` off loopback.
    """
    router = topology.router
    if token_file or router.token_file or is_loopback(router.host):
        return
    raise TopologyError(
        topology.source,
        [
            f"[router] listen {router.address} is not loopback, and the replicas would answer "
            "POST /feedback and /admin/reload from anyone who reaches it: add token_file = "
            '"tokens.txt" (bearer tokens, one a line) under [router], or pass --token-file'
        ],
    )


def _controller(table: Mapping[str, Any], out: list[str]) -> ControllerConfig:
    _unknown_keys(table, _CONTROLLER_KEYS, "[controller]", out)
    where = "[controller]"
    interval = _check(
        table,
        "interval",
        where,
        lambda v: _number(v) and 0 < v <= 60,
        "a number of seconds in (0, 60]",
        1.0,
        out,
    )
    objective = _check(
        table,
        "latency_objective_ms",
        where,
        lambda v: _number(v) and v > 0,
        "a positive number of milliseconds",
        50.0,
        out,
    )
    return ControllerConfig(interval=float(interval), latency_objective_ms=float(objective))


def _regions(value: object, base: Path, out: list[str]) -> list[Region]:
    if not isinstance(value, list) or not value:
        out.append("no [[regions]]: add at least one [[regions]] table with name, cloud and store")
        return []
    regions: list[Region] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(value, start=1):
        if not isinstance(table, Mapping):
            out.append(f"[[regions]] #{number} must be a table, got {table!r}")
            continue
        region = _region(table, number, base, out)
        if region is None:
            continue
        if region.name in seen:
            out.append(
                f"duplicate region {region.name!r} ([[regions]] #{seen[region.name]} and "
                f"#{number}): give each region a unique name"
            )
        seen.setdefault(region.name, number)
        regions.append(region)
    return regions


def _region(table: Mapping[str, Any], number: int, base: Path, out: list[str]) -> Region | None:
    name = table.get("name")
    where = f"[[regions]] #{number}" + (f" ({name})" if isinstance(name, str) else "")
    before = len(out)
    _unknown_keys(table, _REGION_KEYS, where, out)
    if not isinstance(name, str) or not _REGION_NAME.fullmatch(name):
        out.append(
            f"{where}: 'name' must be 1-63 lower-case letters, digits or '-' "
            f'(e.g. "eu-west"), got {name!r}'
        )
    cloud = table.get("cloud")
    if cloud not in CLOUDS:
        close = difflib.get_close_matches(str(cloud), CLOUDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        out.append(f"{where}: unknown cloud {cloud!r}{hint}: use one of {', '.join(CLOUDS)}")
    residency = _check(
        table,
        "residency",
        where,
        lambda v: isinstance(v, str) and bool(_TAG.fullmatch(v)),
        'a lower-case tag such as "eu"',
        None,
        out,
    )
    priority = _check(
        table,
        "priority",
        where,
        lambda v: isinstance(v, int) and v >= 0,
        "a whole number >= 0 (0 is used first)",
        0,
        out,
    )
    cost = _check(
        table, "cost_per_hour", where, lambda v: _number(v) and v >= 0, "a number >= 0", 0.0, out
    )
    capacity = _check(
        table,
        "capacity_rps",
        where,
        lambda v: _number(v) and v > 0,
        "a positive number of requests/s",
        500.0,
        out,
    )
    replicas = _check(
        table,
        "replicas",
        where,
        lambda v: isinstance(v, int) and 0 <= v <= 64,
        "a whole number from 0 to 64",
        1,
        out,
    )
    endpoints = _endpoints(table.get("endpoints", []), where, out)
    store = _store(table.get("store"), cloud, replicas, where, base, out)
    if replicas == 0 and not endpoints:
        out.append(f"{where}: no replicas and no endpoints: set replicas >= 1 or list endpoints")
    if len(out) > before:
        return None
    return Region(
        name=str(name),
        cloud=str(cloud),
        store=store,
        residency=residency,
        priority=int(priority),
        cost_per_hour=float(cost),
        capacity_rps=float(capacity),
        replicas=int(replicas),
        endpoints=endpoints,
    )


def _store(
    value: object, cloud: object, replicas: int, where: str, base: Path, out: list[str]
) -> str | None:
    from polyclass.cloud import UsageError, redact_url, split_url

    if value is None:
        if replicas > 0:
            out.append(
                f'{where}: region without a store: add store = "s3://bucket/prefix" (or '
                "gs://, az://, file://), the store its replicas load the model from"
            )
        return None
    scheme = value.split("://", 1)[0].lower() if isinstance(value, str) and "://" in value else ""
    if scheme not in _SCHEME_CLOUDS:
        out.append(
            f"{where}: 'store' must be a store URL (s3://, gs://, az://, abfs:// or file://), "
            f"got {redact_url(value)!r}"
        )
        return None
    text = str(value).rstrip("/")
    rest = text.split("://", 1)[1]
    if scheme == "file" and not rest.startswith("/"):  # relative to the topology file
        text = f"file://{base / rest}"
    try:  # the check `serve --store` and `cloud replicate` make: no credentials, no options
        split_url(text)
    except UsageError as exc:
        out.append(f"{where}: 'store': {str(exc).rstrip('.')}")
        return None
    if cloud in CLOUDS and cloud not in _SCHEME_CLOUDS[scheme]:
        out.append(
            f"{where}: a {scheme}:// store cannot be in cloud {cloud!r}: use a store of that "
            f"cloud or set cloud to {' or '.join(_SCHEME_CLOUDS[scheme])}"
        )
    return text


def _endpoints(value: object, where: str, out: list[str]) -> tuple[str, ...]:
    from polyclass.cloud import redact_url

    if not isinstance(value, list):
        out.append(
            f"{where}: 'endpoints' must be a list of URLs such as [\"http://10.0.0.5:8080\"]"
        )
        return ()
    good: list[str] = []
    for url in value:
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:  # an unbalanced '[' (IPv6) in the host
            parts = None
        if parts is None or parts.scheme != "http" or not parts.hostname or not _port(parts):
            out.append(
                f"{where}: endpoint {redact_url(url)!r} must be http://HOST:PORT (the replica's "
                "`polyclass serve` address; put TLS in front of the router, not here)"
            )
            continue
        good.append(f"http://{parts.hostname}:{parts.port}")
    return tuple(good)


def _port(parts: SplitResult) -> int | None:
    """The URL's port, None when missing or not a number from 1 to 65535."""
    try:
        port = parts.port
    except ValueError:  # "x:abc" and "x:99999" raise here
        return None
    return port if port else None


def _residencies(value: object, regions: list[Region], out: list[str]) -> tuple[str, ...]:
    carried = sorted({r.residency for r in regions if r.residency})
    if value is None:
        return tuple(carried)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        out.append(f'"residencies" must be a list of tags such as ["eu", "us"], got {value!r}')
        return tuple(carried)
    for tag in value:
        if tag not in carried and regions:
            out.append(
                f'residency {tag!r} has no region: add residency = "{tag}" to a [[regions]] '
                'table, or remove it from "residencies"'
            )
    for tag in carried:
        if tag not in value:
            out.append(
                f'a region has residency {tag!r} but "residencies" omits it: add it to '
                '"residencies" (or remove "residencies" to accept every region\'s tag)'
            )
    return tuple(dict.fromkeys(value))


def _optional_text(value: object, key: str, out: list[str]) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        out.append(f"{key!r} must be a non-empty string, got {value!r}")
        return None
    return value


def _local_path(value: str | None, base: Path) -> str | None:
    """A registry given as a relative folder is relative to the topology file."""
    if value is None or "://" in value or Path(value).is_absolute():
        return value
    return str(base / value)
