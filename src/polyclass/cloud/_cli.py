"""``polyclass cloud replicate | verify | repair``: replicas of model versions in stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from polyclass._cli_errors import fail

if TYPE_CHECKING:
    from polyclass.cloud._api import VersionCheck
    from polyclass.cloud._replicate import ReplicateResult

cloud_app = typer.Typer(
    name="cloud",
    help="Replicas of model versions in S3, GCS, Azure Blob or file:// stores: "
    "replicate, verify, repair. Credentials come from each cloud's standard variables.",
    no_args_is_help=True,
)
console = Console()

Registry = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="POLYCLASS_REGISTRY",
        show_default=False,
        help="SQLAlchemy URL or directory of the registry \\[default: ./.polyclass].",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
StoresFile = Annotated[
    Path | None,
    typer.Option(
        "--stores-file",
        envvar="POLYCLASS_STORES",
        show_default=False,
        help='TOML stores file: \\[stores."URL"] with cloud, region, residency.',
    ),
]
ModelArg = Annotated[
    str | None,
    typer.Argument(
        show_default=False, help="NAME (every version with replicas), NAME:N or NAME@ALIAS."
    ),
]
AllFlag = Annotated[bool, typer.Option("--all", help="Every model in the registry.")]
ExtraStores = Annotated[
    list[str] | None,
    typer.Option("--store", show_default=False, help="Also check this store (repeatable)."),
]


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Bad input (URL, reference, residency, stores file) leaves with code 2."""
    from polyclass.cloud._errors import UsageError
    from polyclass.registry import RegistryError

    try:
        yield
    except (UsageError, RegistryError) as exc:
        fail(str(exc))


@cloud_app.command("replicate")
def replicate_command(
    model: Annotated[str, typer.Argument(help="NAME (latest), NAME:N or NAME@ALIAS.")],
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to",
            show_default=False,
            help="Store URL (repeatable) \\[default: every store in the stores file].",
        ),
    ] = None,
    stores_file: StoresFile = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region of the --to stores.")
    ] = None,
    residency: Annotated[
        str | None,
        typer.Option("--residency", help="Residency tag of the --to stores (eu, us...)."),
    ] = None,
    registry: Registry = None,
    as_json: AsJson = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
) -> None:
    """Copy a version to every store at once; blobs already there are skipped."""
    from polyclass.cloud._api import replicate
    from polyclass.cloud._config import read_stores_file, targets

    with _usage_errors():
        stores = targets(
            to or [], read_stores_file(stores_file), region=region, residency=residency
        )
        with _progress_bar(progress and not as_json) as (advance, plan):
            result = replicate(model, stores, registry=registry, progress=advance, planned=plan)
    if as_json:
        typer.echo(json.dumps(_replicate_json(result), indent=2))
    else:
        _print_replicate(result)
    raise typer.Exit(0 if result.ok else 1)


@cloud_app.command("verify")
def verify_command(
    model: ModelArg = None,
    all_models: AllFlag = False,
    store: ExtraStores = None,
    registry: Registry = None,
    as_json: AsJson = False,
) -> None:
    """Re-hash every blob of every replica; exit 1 (with a table) if any is not whole."""
    from polyclass.cloud._api import verify

    with _usage_errors():
        checks = verify(model, all_models=all_models, registry=registry, stores=store or [])
    _report(checks, as_json, "verified")


@cloud_app.command("repair")
def repair_command(
    model: ModelArg = None,
    all_models: AllFlag = False,
    store: ExtraStores = None,
    registry: Registry = None,
    as_json: AsJson = False,
) -> None:
    """Restore missing or corrupt blobs from any good copy; exit 1 if something stays broken."""
    from polyclass.cloud._api import repair

    with _usage_errors():
        checks = repair(model, all_models=all_models, registry=registry, stores=store or [])
    _report(checks, as_json, "repaired")


# ---------------------------------------------------------------------------- output
@contextmanager
def _progress_bar(
    show: bool,
) -> Iterator[tuple[Callable[[int], None] | None, Callable[[int], None] | None]]:
    if not show:
        yield None, None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(
        "[progress.description]{task.description}", *columns, console=Console(stderr=True)
    ) as bar:
        task = bar.add_task("uploading", total=0)

        def plan(size: int) -> None:
            bar.update(task, total=(bar.tasks[0].total or 0) + size)

        yield (lambda n: bar.update(task, advance=n)), plan


def _replicate_json(result: ReplicateResult) -> dict[str, Any]:
    return {
        "model": result.name,
        "version": result.version,
        "ok": result.ok,
        "stores": [vars(s) for s in result.stores],
    }


def _print_replicate(result: ReplicateResult) -> None:
    table = Table(title=f"{result.name}:{result.version} replicated", title_justify="left")
    for column in ("store", "uploaded", "skipped", "manifest", "problem"):
        table.add_column(column)
    for s in result.stores:
        table.add_row(
            s.url,
            f"{s.uploaded_blobs} files, {_mb(s.uploaded_bytes)}",
            f"{s.skipped_blobs} files, {_mb(s.skipped_bytes)}",
            "written" if s.manifest_written else "not written",
            s.error or "",
            style=None if s.ok else "red",
        )
    console.print(table)
    failed = [s for s in result.stores if not s.ok]
    if failed and all(s.transient for s in failed):
        console.print("Some stores failed; run the same command again to resume.")
    elif failed:
        console.print(
            "Some stores failed; fix the problem each names, then run the same command "
            "again (what was uploaded is kept)."
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _report(checks: list[VersionCheck], as_json: bool, verb: str) -> None:
    whole = all(c.ok for c in checks)
    if as_json:
        typer.echo(json.dumps([_check_json(c) for c in checks], indent=2))
    else:
        summary = Table(title=f"replicas {verb}", title_justify="left")
        for column in ("model", "store", "status", "read"):
            summary.add_column(column)
        problems = Table(title="problems", title_justify="left")
        for column in ("store", "file", "problem"):
            problems.add_column(column, overflow="fold")
        for version in checks:
            for r in version.replicas:
                style = None if r.ok else "red"
                summary.add_row(
                    f"{r.name}:{r.version}", r.url, r.status, _mb(r.bytes_read), style=style
                )
                for p in r.problems:
                    problems.add_row(p.store, p.file, p.problem)
        console.print(summary)
        if not whole:
            console.print(problems)
    raise typer.Exit(0 if whole else 1)


def _check_json(check: VersionCheck) -> dict[str, Any]:
    return {
        "model": check.name,
        "version": check.version,
        "ok": check.ok,
        "replicas": [
            {
                "store": r.url,
                "status": r.status,
                "bytes_read": r.bytes_read,
                "problems": [vars(p) for p in r.problems],
            }
            for r in check.replicas
        ],
    }
