"""Read-side queries shared by the registry's methods (each runs on a given connection)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, select

from polyclass.artifact import MANIFEST_NAME, ArtifactError
from polyclass.registry import _schema as schema
from polyclass.registry._errors import UnknownAliasError, UnknownModelError, UnknownVersionError
from polyclass.registry._files import manifest_sha256
from polyclass.registry._refs import Ref
from polyclass.registry._types import ModelVersion


def model_exists(conn: Connection, name: str) -> bool:
    m = schema.models
    return conn.execute(select(m.c.name).where(m.c.name == name)).first() is not None


def require_model(conn: Connection, name: str) -> None:
    """Raise UnknownModelError (listing the known names) unless ``name`` is registered."""
    if not model_exists(conn, name):
        known = conn.execute(select(schema.models.c.name).order_by(schema.models.c.name))
        raise UnknownModelError(name, list(known.scalars()))


def aliases_of(conn: Connection, name: str) -> dict[str, int]:
    a = schema.aliases
    rows = conn.execute(select(a.c.alias, a.c.version).where(a.c.name == name))
    return {row.alias: row.version for row in sorted(rows)}


def version_numbers(conn: Connection, name: str) -> list[int]:
    v = schema.versions
    rows = conn.execute(select(v.c.version).where(v.c.name == name).order_by(v.c.version))
    return list(rows.scalars())


def get_version(conn: Connection, root: Path, name: str, version: int) -> ModelVersion:
    """One version, or UnknownModelError / UnknownVersionError listing what exists."""
    v = schema.versions
    row = conn.execute(select(v).where(v.c.name == name, v.c.version == version)).first()
    if row is None:
        require_model(conn, name)
        raise UnknownVersionError(name, version, version_numbers(conn, name))
    return to_version(row, root, aliases_of(conn, name))


def resolve_ref(conn: Connection, root: Path, ref: Ref) -> ModelVersion:
    """The version a parsed ``name``, ``name:N`` or ``name@alias`` names."""
    if ref.kind == "version" and ref.version is not None:
        return get_version(conn, root, ref.name, ref.version)
    require_model(conn, ref.name)
    if ref.kind == "alias" and ref.alias is not None:
        aliases = aliases_of(conn, ref.name)
        if ref.alias not in aliases:
            raise UnknownAliasError(ref.name, ref.alias, aliases)
        return get_version(conn, root, ref.name, aliases[ref.alias])
    numbers = version_numbers(conn, ref.name)
    if not numbers:
        raise UnknownVersionError(ref.name, None, [])
    return get_version(conn, root, ref.name, numbers[-1])


def to_version(row: Row[Any], root: Path, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        path=root / row.artifact_path,
        artifact_sha256=row.artifact_sha256,
        created_at=row.created_at,
        user=row.created_by,
        lineage=dict(row.lineage),
        aliases=tuple(sorted(a for a, v in aliases.items() if v == row.version)),
    )


def looks_like_path(ref: object) -> bool:
    """A string with a path separator or a leading '.' or '~' is a path, not a name."""
    if not isinstance(ref, str):
        return False
    return "/" in ref or os.sep in ref or ref.startswith((".", "~"))


def version_from_path(path: Path) -> ModelVersion:
    """An unregistered ModelVersion for an artifact directory."""
    directory = path.expanduser().absolute()
    if not (directory / MANIFEST_NAME).is_file():
        problem = f"no {MANIFEST_NAME} in it" if directory.is_dir() else "it does not exist"
        raise ArtifactError(
            f"No artifact at {directory}: {problem}. "
            "Pass an artifact directory, or a registry reference (NAME, NAME:VERSION, "
            "NAME@ALIAS).",
            path=directory,
        )
    try:
        document = json.loads((directory / MANIFEST_NAME).read_bytes())
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    metadata = document.get("metadata")
    return ModelVersion(
        name=directory.name,
        version=None,
        path=directory,
        artifact_sha256=manifest_sha256(directory),
        created_at=str(document.get("created_at", "")),
        user="",
        lineage=dict(metadata.get("lineage", {})) if isinstance(metadata, dict) else {},
    )
