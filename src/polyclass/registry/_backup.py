"""The registry's backup document: every table's rows as one versioned JSON document.

The document holds the registry's state (models, versions with lineage and the sha256 of
each artifact's model.json, aliases and their history, replicas, residencies), not the
artifacts' files: those stay in the artifact folder and in the stores replicas point to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Integer, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.types import JSON

from polyclass._version import __version__
from polyclass.artifact import MANIFEST_NAME
from polyclass.registry import _schema as schema
from polyclass.registry._base import RegistryBase
from polyclass.registry._errors import RegistryError
from polyclass.registry._lineage import current_user, now
from polyclass.registry._refs import validate_alias, validate_name

FORMAT = "polyclass-registry-backup"
#: Bump when the document's layout changes; restore refuses newer documents.
FORMAT_VERSION = 1

# In restore order (foreign keys first); alias history keeps its order, not its ids.
_TABLES: dict[str, Table] = {
    "models": schema.models,
    "residencies": schema.residencies,
    "versions": schema.versions,
    "aliases": schema.aliases,
    "alias_history": schema.alias_history,
    "replicas": schema.replicas,
}
_SKIP = {"alias_history": {"id"}}


def _columns(key: str) -> list[str]:
    return [c.name for c in _TABLES[key].columns if c.name not in _SKIP.get(key, set())]


def dump(conn: Connection) -> dict[str, Any]:
    """Every row of every registry table, in a stable order, as plain JSON values."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": schema.SCHEMA_VERSION,
        "created_at": now(),
        "created_by": current_user(),
        "polyclass_version": __version__,
    }
    for key, table in _TABLES.items():
        order = [table.c.id] if key == "alias_history" else list(table.primary_key.columns)
        names = _columns(key)
        rows = conn.execute(select(*(table.c[n] for n in names)).order_by(*order))
        document[key] = [dict(zip(names, row, strict=True)) for row in rows]
    return document


def model_names(conn: Connection) -> list[str]:
    """The model names already in the registry (empty when a restore may go ahead)."""
    names = conn.execute(select(schema.models.c.name).order_by(schema.models.c.name))
    return list(names.scalars())


def row_counts(conn: Connection) -> dict[str, int]:
    return {
        key: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for key, table in _TABLES.items()
    }


def _bad(where: str, problem: str) -> RegistryError:
    return RegistryError(
        f"The backup document is not valid: {where} {problem}. Use a document written by "
        "polyclass registry backup (Registry.backup_document), unedited."
    )


def _check_value(key: str, index: int, row: dict[str, Any], column: Any) -> None:
    value = row[column.name]
    where = f"{key}[{index}].{column.name}"
    if value is None:
        if not column.nullable:
            raise _bad(where, "is null")
        return
    if isinstance(column.type, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(where, f"must be a whole number, got {value!r}")
    elif isinstance(column.type, String):
        if not isinstance(value, str) or len(value) > (column.type.length or 1 << 30):
            raise _bad(where, f"must be text of at most {column.type.length} characters")
    elif isinstance(column.type, JSON) and not isinstance(value, dict):
        raise _bad(where, "must be a JSON object")


def check(document: object) -> dict[str, list[dict[str, Any]]]:
    """Validate a backup document's layout and values; return its rows by table."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _bad("the document", f"is not a {FORMAT} (its 'format' field is missing)")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RegistryError(
            f"The backup document has format version {version!r}; this polyclass reads up "
            f"to {FORMAT_VERSION}. Upgrade polyclass (pip install -U polyclass)."
        )
    tables: dict[str, list[dict[str, Any]]] = {}
    for key, table in _TABLES.items():
        rows = document.get(key)
        if not isinstance(rows, list):
            raise _bad(key, "is missing or not a list")
        names = set(_columns(key))
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != names:
                raise _bad(f"{key}[{index}]", f"must have exactly the fields {sorted(names)}")
            for column in table.columns:
                if column.name in names:
                    _check_value(key, index, row, column)
            validate_name(row["name"])
            if "alias" in row:
                validate_alias(row["alias"])
        tables[key] = rows
    return tables


def load(conn: Connection, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Insert the rows of a checked document (the caller's transaction makes it all or none)."""
    for key, table in _TABLES.items():
        if tables[key]:
            conn.execute(insert(table), tables[key])


class BackupMethods(RegistryBase):
    """The registry's backup document and restore; see ``Registry``."""

    def backup_document(self) -> dict[str, Any]:
        """All registry state as one versioned JSON document (for disaster recovery).

        The document holds models, versions (lineage, the sha256 of each artifact's
        ``model.json``, the artifact's path under the root), aliases and their full
        history, replicas and residencies, read in one consistent snapshot. It does
        not hold the artifacts' files: back up the artifact folder (``root``) too, or
        rely on the stores the replicas point to.

        Returns
        -------
        dict
            JSON-serialisable; ``format`` and ``format_version`` identify it.
        """
        with self._snapshot() as conn:
            return dump(conn)

    def restore_document(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild an empty registry from :meth:`backup_document`'s output.

        Every row comes back as it was: version numbers (and the counters that keep
        them from being reused), lineage, aliases, alias history in order, replicas
        and residencies. Artifact files are not in the document: a version whose
        directory is missing under this registry's ``root`` is listed in the result's
        ``missing_artifacts``; copy the old artifact folder back, or load from a
        replica's store.

        Raises
        ------
        RegistryError
            When the registry already holds models, or the document is malformed.
            Nothing is written then (one transaction).

        Returns
        -------
        dict
            Rows restored per table and ``missing_artifacts`` (``name:version`` refs).
        """
        tables = check(dict(document) if isinstance(document, Mapping) else document)
        with self._write() as conn:
            if any(row_counts(conn).values()):
                present = ", ".join(model_names(conn)) or "rows without models"
                raise RegistryError(
                    f"The registry at {self.url} already holds models ({present}); "
                    "restore only into an empty registry. Point --registry at a new database "
                    "or directory and restore there."
                )
            try:
                load(conn, tables)
            except SQLIntegrityError as exc:
                raise RegistryError(
                    f"The backup document is not consistent ({exc.orig}): a row refers to a "
                    "model or version the document does not hold. Use an unedited document "
                    "written by polyclass registry backup."
                ) from None
            counts = row_counts(conn)
        missing = [
            f"{row['name']}:{row['version']}"
            for row in tables["versions"]
            if not (self.root / row["artifact_path"] / MANIFEST_NAME).is_file()
        ]
        return {**counts, "missing_artifacts": missing}
