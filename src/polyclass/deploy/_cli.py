"""``polyclass deploy check | up | status | rollout``: a topology file on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from polyclass._cli_errors import fail

__all__ = ["deploy_app"]

deploy_app = typer.Typer(
    name="deploy",
    help="One model in several regions and clouds from a topology file: check it, run it "
    "locally behind Envoy, watch it, roll out a new version.",
    no_args_is_help=True,
)
console = Console()

TopologyFile = Annotated[Path, typer.Argument(show_default=False, help="The topology file (TOML).")]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="POLYCLASS_REGISTRY",
        show_default=False,
        help="Registry URL or folder \\[default: the file's 'registry', then ./.polyclass].",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        show_default=False,
        help="Bearer tokens, one a line, every replica requires on /feedback and /admin/* "
        "\\[default: the file's [router] token_file]. Required when [router] listen is not "
        "loopback.",
    ),
]


@deploy_app.command("check")
def check_command(
    file: TopologyFile,
    registry: RegistryOption = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Check the file only, not the registry and the stores' replicas."
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Re-hash every replica of the version (as `polyclass cloud verify`) instead "
            "of reading only each store's manifest.",
        ),
    ] = False,
    token_file: TokenFile = None,
    as_json: AsJson = False,
) -> None:
    """Validate a topology file: keys, regions, residencies, and every store's replica
    (recorded verified, and its manifest still in the store)."""
    from polyclass.deploy import TopologyError, check_topology, load_topology, require_tokens

    try:
        topology = load_topology(file)
        require_tokens(topology, str(token_file) if token_file else None)
        stores = "hash" if verify else "manifest"
        version = (
            None if offline else check_topology(topology, registry=registry, stores=stores).ref
        )
    except TopologyError as exc:
        if as_json:  # a script asking for JSON gets its failure as JSON too
            console.print_json(
                json.dumps({"file": str(file), "ok": False, "problems": exc.problems})
            )
            raise typer.Exit(2) from None
        fail(str(exc))
    if as_json:
        summary = {
            "file": str(file),
            "ok": True,
            "model": topology.model,
            "version": version,
            "policy": topology.policy,
            "router": topology.router.address,
            "regions": [r.name for r in topology.regions],
            "residencies": list(topology.residencies),
        }
        console.print_json(json.dumps(summary))
        return
    serves = f"{topology.model} = {version}" if version else topology.model
    names = ", ".join(r.name for r in topology.regions)
    console.print(
        f"{file}: ok: {serves} in {len(topology.regions)} regions ({names}), policy "
        f"{topology.policy}, router {topology.router.address}",
        highlight=False,
        soft_wrap=True,
    )


@deploy_app.command("up")
def up_command(
    file: TopologyFile,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Run every region's replicas as `polyclass serve` processes on loopback "
            "ports of this machine, Envoy in front, the controller beside it.",
        ),
    ] = False,
    registry: RegistryOption = None,
    token_file: TokenFile = None,
) -> None:
    """Start the whole deployment in the foreground; SIGINT or SIGTERM stops everything."""
    from polyclass.deploy import TopologyError, check_topology, load_topology, require_tokens
    from polyclass.deploy._check import unreachable_stores
    from polyclass.deploy._local import LocalDeployment, busy_ports
    from polyclass.deploy._router import DeployError

    if not local:
        fail(
            "only --local is built: `polyclass deploy up FILE --local` runs the deployment on "
            "this machine; for a cluster, generate a bundle with `polyclass deploy bundle`"
        )
    try:
        topology = load_topology(file)
        require_tokens(topology, str(token_file) if token_file else None)
        # a store down now is one region down, not the deployment: its replicas retry
        checked = check_topology(topology, registry=registry, stores="record")
    except TopologyError as exc:
        fail(str(exc))
    for problem in unreachable_stores(checked).values():
        console.print(f"warning: {problem}", highlight=False, soft_wrap=True)
    tokens = str(token_file) if token_file else topology.router.token_file
    if tokens and not Path(tokens).is_file():
        fail(f"the token file {tokens} does not exist: create it (one bearer token a line)")
    for problem in busy_ports(topology):
        fail(problem)
    deployment = LocalDeployment(checked, registry=registry, token_file=tokens)
    try:
        down = deployment.start()
    except DeployError as exc:
        fail(str(exc), 1)
    for problem in down.values():
        console.print(
            f"down: {problem}; its replicas keep being started (`polyclass deploy status` "
            "shows when it is back)",
            highlight=False,
            soft_wrap=True,
        )
    replicas = sum(r.replicas for r in topology.regions)
    up = len(topology.regions) - len(down)
    console.print(
        f"polyclass deploy: {checked.ref} in {up} of {len(topology.regions)} regions "
        f"({replicas} local replicas), router http://{topology.router.address}, Envoy admin "
        f"http://{topology.router.admin_host}:{topology.router.admin_port}; Ctrl-C stops it",
        highlight=False,
        soft_wrap=True,
    )
    try:
        deployment.run()
    except DeployError as exc:
        fail(str(exc), 1)


@deploy_app.command("bundle")
def bundle_command(
    file: TopologyFile,
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle folder to write.")],
    bake: Annotated[
        bool,
        typer.Option("--bake", help="Copy the model into each image instead of fetching it."),
    ] = False,
    image_prefix: Annotated[
        str, typer.Option(help="Images are PREFIX-REGION:NAME-VERSION.")
    ] = "REGISTRY/polyclass",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace DIR.")] = False,
    registry: RegistryOption = None,
) -> None:
    """Write per region a Dockerfile, Kubernetes and KServe objects; Envoy and compose files."""
    from polyclass.cloud import CloudError, UsageError
    from polyclass.deploy import TopologyError, check_topology, load_topology
    from polyclass.deploy._bundle import write_bundle

    try:
        checked = check_topology(load_topology(file), registry=registry, stores="record")
        folder = write_bundle(
            checked, output, bake=bake, image_prefix=image_prefix, overwrite=overwrite
        )
    except (TopologyError, UsageError) as exc:
        fail(str(exc))
    except CloudError as exc:
        fail(str(exc), 1)
    regions = ", ".join(r.name for r in checked.topology.regions)
    console.print(
        f"wrote {folder}: {checked.ref} for {regions} (see {folder / 'README.md'})",
        highlight=False,
        soft_wrap=True,
    )


@deploy_app.command("status")
def status_command(file: TopologyFile, as_json: AsJson = False) -> None:
    """Every region and replica: address, pid, health, version, share, latency, errors, cost."""
    from rich.table import Table

    from polyclass.deploy import TopologyError, load_topology
    from polyclass.deploy._router import DeployError
    from polyclass.deploy._status import deployment_status

    try:
        status = deployment_status(load_topology(file))
    except TopologyError as exc:
        fail(str(exc))
    except DeployError as exc:
        fail(str(exc), 1)
    if as_json:
        console.print_json(json.dumps(status.to_dict()))
        return
    table = Table(title=f"router http://{status.router} ({status.version})")
    for column in ("region", "address", "pid", "health", "version", "share", "p50/p99 ms",
                   "errors", "cost/h"):  # fmt: skip
        table.add_column(column)
    for r in status.replicas:
        health = "ejected" if r.ejected else ("healthy" if r.healthy else "unhealthy")
        health = "down" if r.error is not None else health
        latency = "-" if r.p50_ms is None else f"{r.p50_ms:.1f}/{(r.p99_ms or 0):.1f}"
        table.add_row(
            r.region, r.address, str(r.pid or "-"), health, r.version, f"{r.share:.0%}",
            latency, f"{r.error_rate:.2%}", f"{r.cost_per_hour:.2f}",
        )  # fmt: skip
    console.print(table)
    for r in status.replicas:
        if r.error is not None:
            console.print(
                f"{r.region} {r.address}: down: {r.error} (started again until it answers)",
                highlight=False,
                soft_wrap=True,
            )
    cost = sum(r.cost_per_hour for r in status.replicas)
    console.print(
        f"outlier ejections so far: {status.ejections}; cost {cost:.2f}/h", highlight=False
    )


@deploy_app.command("rollout")
def rollout_command(
    file: TopologyFile,
    model: Annotated[
        str, typer.Argument(show_default=False, help="The new version: NAME:N or NAME@ALIAS.")
    ],
    registry: RegistryOption = None,
    canary: Annotated[
        float, typer.Option(min=0.01, max=0.5, help="Share of a region's traffic the canary gets.")
    ] = 0.1,
    watch: Annotated[
        float, typer.Option(min=0.5, help="Seconds the canary is watched before a verdict.")
    ] = 5.0,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the end.")] = 900.0,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote/--no-promote",
            help="When it is done, move the alias the file's model names (NAME@ALIAS) to "
            "MODEL, so a restarted `deploy up` serves it too.",
        ),
    ] = True,
) -> None:
    """Move a running deployment to MODEL region by region, canary first; roll back on a
    regression (error rate or latency against the old version). Exit 1 when rolled back.
    When done, the file's alias is moved to MODEL (unless --no-promote)."""
    import dataclasses
    import time

    from polyclass.deploy import TopologyError, check_topology, load_topology
    from polyclass.deploy._local import _write_json
    from polyclass.deploy._rollout import keep_rollout
    from polyclass.registry import RegistryError

    try:
        topology = load_topology(file)
        target = check_topology(dataclasses.replace(topology, model=model), registry=registry)
    except TopologyError as exc:
        fail(str(exc))
    folder = topology.state_dir
    if not _running(folder / "state.json"):
        fail(
            f"no running deployment of {file}: start it with `polyclass deploy up {file} --local`",
            1,
        )
    status_path = folder / "rollout-status.json"
    status_path.unlink(missing_ok=True)
    _write_json(folder / "rollout.json", {"target": target.ref, "canary": canary, "watch": watch})
    deadline, report = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            report = json.loads(status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if report["state"] != "running":
            break
    if report is None or report["state"] == "running":
        fail(f"the rollout to {target.ref} did not finish within {timeout:.0f} s", 1)
    for region in report["regions"]:
        extra = "; ".join(region.get("reasons", []))
        share = region.get("canary_requests")
        console.print(
            f"{region['region']}: {region['state']}"
            + (f" (canary answered {share} requests)" if share is not None else "")
            + (f": {extra}" if extra else ""),
            highlight=False,
        )
    mixed = report.get("mixed_version_seconds")
    console.print(
        f"rollout to {target.ref}: {report['state']}; two versions served at once for "
        + (f"{mixed:.1f} s" if mixed is not None else "no time")
        + (f" ({report['message']})" if report.get("message") else ""),
        highlight=False,
    )
    if report["state"] != "done":
        raise typer.Exit(1)
    try:
        kept = keep_rollout(topology, target, registry=registry, promote=promote)
    except RegistryError as exc:
        fail(
            f"the rollout is done but {topology.model} could not be moved to {target.ref}: {exc}", 1
        )
    console.print(kept, highlight=False, soft_wrap=True)


def _running(state: Path) -> bool:
    """Whether the ``deploy up`` that wrote ``state`` still runs (a SIGKILLed one leaves it)."""
    import os

    try:
        pid = int(json.loads(state.read_text(encoding="utf-8"))["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True
