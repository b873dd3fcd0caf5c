"""``polyclass registry ...``: list, show, version and move models from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from polyclass._cli_errors import fail
from polyclass.registry._env import ENV_ROOT, ENV_URL
from polyclass.registry._errors import InvalidNameError, RegistryError
from polyclass.registry._limits import ImportLimits
from polyclass.registry._refs import parse_ref
from polyclass.registry._types import ModelVersion, Replica

if TYPE_CHECKING:
    from polyclass.registry._store import Registry

registry_app = typer.Typer(
    name="registry",
    help="Registered models: versions, aliases (production, staging...), lineage.",
    no_args_is_help=True,
)
console = Console()

RegistryURL = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar=ENV_URL,
        show_default="./.polyclass",
        help="SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...) or directory of the "
        "registry.",
    ),
]
Root = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar=ENV_ROOT,
        show_default="artifacts/ beside a SQLite file",
        help="Artifact folder.",
    ),
]
Alias = Annotated[str, typer.Option("--alias", help="The alias to move.")]


@contextmanager
def _registry(url: str | None, root: Path | None) -> Iterator[Registry]:
    # NumPy and SQLAlchemy load only when a command runs, so --help answers at once
    from polyclass.artifact import ArtifactError
    from polyclass.registry._store import Registry

    try:
        with Registry(url, root) as registry:
            yield registry
    except (RegistryError, ArtifactError) as exc:
        fail(str(exc))


def _metrics(version: ModelVersion) -> str:
    metrics = version.lineage.get("metrics") or {}
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if isinstance(v, int | float | str)
    )


AsJSON = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _print_json(value: Any) -> None:
    # plain stdout, not Rich: a terminal's width must never wrap a machine's JSON
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


@registry_app.command("list")
def list_models(as_json: AsJSON = False, registry: RegistryURL = None, root: Root = None) -> None:
    """List registered models with their latest version and aliases."""
    with _registry(registry, root) as reg:
        models = reg.list_models()
        if as_json:
            _print_json([asdict(model) for model in models])
            return
        if not models:
            console.print(f"No models registered in {escape(reg.url)} yet.")
            return
        table = Table(title=f"Models in {escape(reg.url)}")
        for column in ("name", "latest", "versions", "aliases", "created"):
            table.add_column(column)
        for model in models:
            aliases = ", ".join(f"{a}→{v}" for a, v in model.aliases.items())
            latest = "-" if model.latest_version is None else str(model.latest_version)
            table.add_row(
                model.name, latest, str(model.version_count), aliases, model.created_at[:19]
            )
        console.print(table)


@registry_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a path.")],
    as_json: AsJSON = False,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Show one version: its artifact, aliases, lineage, residencies and replicas."""
    with _registry(registry, root) as reg:
        found = reg.resolve(ref)
        replicas = reg.replicas(found.name, found.version) if found.registered else []
        residencies = reg.residencies(found.name) if found.registered else None
        record = _version_record(found)
        record["residencies"] = residencies
        record["replicas"] = [asdict(r) for r in replicas]
        if as_json:
            _print_json(record)
            return
        table = Table(title=escape(found.ref), show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key in ("name", "version", "path", "artifact_sha256", "created_at", "user"):
            table.add_row(key, escape(str(record[key])))
        table.add_row("aliases", ", ".join(found.aliases) or "-")
        lineage = dict(found.lineage)
        table.add_row("data_fingerprint", str(lineage.pop("data_fingerprint", None) or "-"))
        table.add_row("metrics", escape(_metrics(found)) or "-")
        lineage.pop("metrics", None)
        for key in ("user", "created_at"):
            lineage.pop(key, None)
        for key, value in lineage.items():
            shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            table.add_row(escape(key), escape(shown))
        table.add_row("residencies", ", ".join(residencies) if residencies else "any")
        console.print(table)
        _print_replicas(replicas)


def _version_record(found: ModelVersion) -> dict[str, Any]:
    return {
        "name": found.name,
        "version": found.version,
        "path": str(found.path),
        "artifact_sha256": found.artifact_sha256,
        "created_at": found.created_at,
        "user": found.user,
        "aliases": list(found.aliases),
        "lineage": found.lineage,
    }


def _print_replicas(replicas: list[Replica]) -> None:
    if not replicas:
        console.print("No replicas recorded (polyclass cloud replicate copies it to a store).")
        return
    table = Table(title="Replicas")
    for column in ("store", "cloud", "region", "residency", "status", "last verified"):
        table.add_column(column, overflow="fold")
    for r in replicas:
        table.add_row(
            escape(r.url),
            escape(r.cloud),
            escape(r.region or "-"),
            escape(r.residency or "-"),
            r.status,
            (r.verified_at or "never")[:19],
        )
    console.print(table)


@registry_app.command("versions")
def versions(
    name: Annotated[str, typer.Argument(help="The model name.")],
    as_json: AsJSON = False,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """List every version of a model."""
    with _registry(registry, root) as reg:
        if as_json:
            _print_json([_version_record(v) for v in reg.versions(name)])
            return
        table = Table(title=f"Versions of {escape(name)}")
        for column in ("version", "created", "user", "aliases", "data", "metrics"):
            table.add_column(column)
        for version in reg.versions(name):
            fingerprint = version.lineage.get("data_fingerprint") or "-"
            table.add_row(
                str(version.version),
                version.created_at[:19],
                escape(version.user),
                ", ".join(version.aliases),
                str(fingerprint)[:12],
                escape(_metrics(version)),
            )
        console.print(table)


def _moved(found: ModelVersion, alias: str) -> None:
    console.print(f"{escape(found.name)}@{escape(alias)} → version {found.version}")


@registry_app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="The model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. staging.")],
    version: Annotated[int, typer.Argument(help="The version the alias points to.")],
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Point an alias of a model at a version."""
    with _registry(registry, root) as reg:
        _moved(reg.set_alias(name, alias_name, version), alias_name)


@registry_app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="The model name.")],
    version: Annotated[int, typer.Argument(help="The version to promote.")],
    alias_name: Alias = "production",
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Point the production alias (or --alias) at a version."""
    with _registry(registry, root) as reg:
        _moved(reg.promote(name, version, alias_name), alias_name)


@registry_app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="The model name.")],
    alias_name: Alias = "production",
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Move the production alias (or --alias) back to the version it pointed to before."""
    with _registry(registry, root) as reg:
        _moved(reg.rollback(name, alias_name), alias_name)


@registry_app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION or NAME@ALIAS.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete even if aliases point to it.")
    ] = False,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Delete one version (refused while an alias points to it, unless --force)."""
    with _registry(registry, root) as reg:
        parsed = parse_ref(ref)
        if parsed.kind == "latest":
            raise InvalidNameError(
                f"Deleting needs an explicit version: write {parsed.name}:VERSION (see "
                f"polyclass registry versions {parsed.name})."
            )
        found = reg.resolve(ref)
        if found.version is None:  # pragma: no cover - parse_ref refused paths above
            raise InvalidNameError(f"{ref!r} is not a registered version.")
        reg.delete(found.name, found.version, force=force)
        console.print(f"Deleted {escape(found.ref)}.")


@registry_app.command("export")
def export(
    ref: Annotated[str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a path.")],
    dest: Annotated[Path, typer.Argument(help="A .tar.gz path or an existing directory.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing archive.")
    ] = False,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Export a version (artifact, lineage, checksums) to a .tar.gz archive."""
    with _registry(registry, root) as reg:
        written = reg.export(ref, dest, overwrite=overwrite)
        console.print(f"Wrote {escape(str(written))}")


@registry_app.command("import")
def import_(
    archive: Annotated[Path, typer.Argument(help="A .tar.gz written by export.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Register under this name instead.")
    ] = None,
    max_bytes: Annotated[
        int,
        typer.Option(
            "--max-bytes", min=1, help="Refuse an archive whose files add up to more bytes."
        ),
    ] = ImportLimits.max_bytes,
    max_files: Annotated[
        int, typer.Option("--max-files", min=1, help="Refuse an archive of more files.")
    ] = ImportLimits.max_files,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Verify an exported archive and register it as a new version."""
    limits = ImportLimits(max_bytes=max_bytes, max_files=max_files)
    with _registry(registry, root) as reg:
        found = reg.import_(archive, name=name, limits=limits)
        console.print(f"Imported {escape(found.ref)} from {escape(str(archive))}")


@registry_app.command("residency")
def residency(
    name: Annotated[str, typer.Argument(help="The model name.")],
    tags: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TAG",
            help="Restrict the model to stores with these residency tags (eu, us...).",
            show_default=False,
        ),
    ] = None,
    anywhere: Annotated[
        bool, typer.Option("--any", help="Lift the restriction: any store may hold it.")
    ] = False,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Show, set (TAG...) or lift (--any) the residencies a model's replicas must have."""
    with _registry(registry, root) as reg:
        if tags and anywhere:
            fail("Give residency tags or --any, not both.")
        if anywhere:
            now_in_force = reg.set_residencies(name, None)
        elif tags:
            now_in_force = reg.set_residencies(name, list(tags))
        else:
            now_in_force = reg.residencies(name)
        shown = ", ".join(now_in_force) if now_in_force else "any (unrestricted)"
        console.print(f"{escape(name)} residencies: {escape(shown)}")


StoreObject = Annotated[
    str,
    typer.Argument(
        metavar="URL",
        help="The backup document's object: s3://BUCKET/KEY.json, gs://..., az://... or "
        "file:///path/backup.json.",
    ),
]


@contextmanager
def _store_errors() -> Iterator[None]:
    # the cloud box (fsspec and the stores' libraries) loads only for these two commands
    try:
        yield
    except ImportError as exc:
        fail(f"{exc}. Install the stores' libraries: pip install 'polyclass[cloud]'.")
    except FileNotFoundError as exc:
        fail(f"{exc} Check the URL (polyclass registry backup writes it).")
    except Exception as exc:
        from polyclass.cloud import CloudError

        if isinstance(exc, CloudError):
            fail(str(exc))
        raise


@registry_app.command("backup")
def backup(
    url: StoreObject,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a backup already at URL.")
    ] = False,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Write all registry state (not the artifacts' files) as one JSON document to a store."""
    with _registry(registry, root) as reg, _store_errors():
        from polyclass.cloud import read_bytes, write_bytes

        if not overwrite:
            try:
                read_bytes(url)
            except FileNotFoundError:
                pass
            else:
                fail(f"A backup already exists at {url}. Pass --overwrite to replace it.")
        document = reg.backup_document()
        write_bytes(url, json.dumps(document, indent=1, sort_keys=True).encode())
        console.print(
            f"Wrote {len(document['models'])} models, {len(document['versions'])} versions "
            f"and {len(document['replicas'])} replicas to {escape(url)}. The artifacts' "
            f"files are not in it: keep {escape(str(reg.root))} backed up too."
        )


@registry_app.command("restore")
def restore(
    url: StoreObject,
    registry: RegistryURL = None,
    root: Root = None,
) -> None:
    """Rebuild an empty registry from a document written by polyclass registry backup."""
    with _registry(registry, root) as reg, _store_errors():
        from polyclass.cloud import read_bytes

        text = read_bytes(url)
        try:
            document = json.loads(text)
        except ValueError as exc:
            fail(f"{url} is not a JSON backup document ({exc}). Pass a file written by backup.")
        result = reg.restore_document(document)
        console.print(
            f"Restored {result['models']} models, {result['versions']} versions, "
            f"{result['aliases']} aliases, {result['alias_history']} alias changes and "
            f"{result['replicas']} replicas into {escape(reg.url)}."
        )
        missing = result["missing_artifacts"]
        if missing:
            console.print(
                f"[yellow]warning:[/] no artifact files under {escape(str(reg.root))} for "
                f"{escape(', '.join(missing))}: copy the old artifact folder there (same "
                "layout), or load those versions from a replica's store."
            )
