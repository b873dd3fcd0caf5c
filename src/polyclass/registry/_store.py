"""The model registry: versions, aliases and lineage in SQL; artifacts in a folder."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from polyclass._version import __version__
from polyclass.artifact import MANIFEST_NAME, verify_artifact
from polyclass.registry import _queries as q
from polyclass.registry import _schema as schema
from polyclass.registry._archive import read_archive, write_archive
from polyclass.registry._backup import BackupMethods
from polyclass.registry._base import ATTEMPTS
from polyclass.registry._errors import (
    AliasInUseError,
    ArchiveError,
    IntegrityError,
    InvalidNameError,
    RollbackError,
    UnknownAliasError,
)
from polyclass.registry._files import (
    STAGING,
    copy_artifact_files,
    fsync_dir,
    manifest_sha256,
    new_staging_dir,
    remove_tree,
)
from polyclass.registry._limits import ImportLimits
from polyclass.registry._lineage import current_user, lineage_record, now
from polyclass.registry._refs import parse_ref, validate_alias, validate_name
from polyclass.registry._replicas import ReplicaMethods
from polyclass.registry._types import ModelVersion, RegisteredModel


class Registry(ReplicaMethods, BackupMethods):
    """Versions, aliases and lineage of trained models.

    Metadata lives in a SQL database reached through SQLAlchemy Core (a SQLite file
    by default, PostgreSQL or any other backend by URL); artifact directories live
    under ``root``. Versions are numbered 1, 2, 3... per name, immutable and never
    reused. Registration copies the artifact under a temporary name, renames it into
    place and only then commits the database row, so an interrupted registration
    leaves no version behind; concurrent registrations get distinct versions.

    Parameters
    ----------
    url : str, optional
        An SQLAlchemy URL (``sqlite:///path/registry.db``,
        ``postgresql+psycopg://...``) or a directory (its ``registry.db`` and
        ``artifacts/``). Default: ``$POLYCLASS_REGISTRY``, else ``./.polyclass``.
    root : str or pathlib.Path, optional
        The artifact folder. Default: ``artifacts/`` beside a SQLite file, else
        ``$POLYCLASS_REGISTRY_ROOT``, else ``./.polyclass/artifacts``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from polyclass.artifact import save_artifact
    >>> tmp = tempfile.mkdtemp()
    >>> art = save_artifact(tmp + "/art", {}, {"w": np.ones(2)})
    >>> with Registry(tmp + "/reg") as registry:
    ...     v = registry.register("demo", art, lineage={"metrics": {"f1": 0.9}})
    ...     _ = registry.promote("demo", v.version)
    ...     registry.resolve("demo@production").version
    1
    """

    # ------------------------------------------------------------------ register

    def register(
        self, name: str, artifact_dir: str | Path, *, lineage: Mapping[str, Any] | None = None
    ) -> ModelVersion:
        """Copy an artifact into the store as the next version of ``name``.

        Parameters
        ----------
        name : str
            The model name: letters, digits, ``.``, ``_``, ``-``.
        artifact_dir : str or pathlib.Path
            A directory written by :func:`polyclass.artifact.save_artifact`; it is
            verified before copying.
        lineage : mapping, optional
            ``data_fingerprint`` (else taken from the artifact metadata),
            ``parameters``, ``metrics`` and any other JSON values. ``user``,
            ``created_at`` and ``polyclass_version`` are filled in.

        Returns
        -------
        ModelVersion
            The new version.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from polyclass.artifact import save_artifact
        >>> tmp = tempfile.mkdtemp()
        >>> art = save_artifact(tmp + "/art", {}, {"w": np.ones(2)})
        >>> with Registry(tmp + "/reg") as registry:
        ...     [registry.register("demo", art).version for _ in range(2)]
        [1, 2]
        """
        name = validate_name(name)
        source = Path(artifact_dir).expanduser().absolute()
        verify_artifact(source)
        staging = new_staging_dir(self.root)
        try:
            copied = copy_artifact_files(source, staging)
            if copied[MANIFEST_NAME] != manifest_sha256(source):
                raise IntegrityError(f"{source} changed while it was being registered; retry.")
            verify_artifact(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._register_staged(name, staging, lineage or {})

    def _register_staged(
        self, name: str, staging: Path, lineage: Mapping[str, Any]
    ) -> ModelVersion:
        """Move a verified staging directory into place and commit its row."""
        try:
            document = json.loads((staging / MANIFEST_NAME).read_bytes())
            record = lineage_record(lineage, document.get("metadata", {}))
            sha256 = manifest_sha256(staging)
            for attempt in range(ATTEMPTS):
                try:
                    return self._commit_version(name, staging, record, sha256, document)
                except SQLIntegrityError:
                    if attempt == ATTEMPTS - 1:  # a concurrent first registration of name
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already after a success
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit_version(
        self,
        name: str,
        staging: Path,
        record: dict[str, Any],
        sha256: str,
        document: dict[str, Any],
    ) -> ModelVersion:
        final: Path | None = None
        with self._engine.connect() as conn:
            conn.execution_options(**{schema.WRITE_OPTION: True})
            transaction = conn.begin()
            try:
                models = schema.models
                if conn.execute(select(models.c.name).where(models.c.name == name)).first() is None:
                    conn.execute(insert(models).values(name=name, last_version=0, created_at=now()))
                # the UPDATE takes the row's write lock: concurrent registrars queue here
                conn.execute(
                    update(models)
                    .where(models.c.name == name)
                    .values(last_version=models.c.last_version + 1)
                )
                version = int(
                    conn.execute(
                        select(models.c.last_version).where(models.c.name == name)
                    ).scalar_one()
                )
                relative = f"{name}/v{version}-{uuid.uuid4().hex[:8]}"
                record["created_at"] = created_at = now()
                conn.execute(
                    insert(schema.versions).values(
                        name=name,
                        version=version,
                        artifact_path=relative,
                        artifact_sha256=sha256,
                        format_version=int(document.get("format_version", 0)),
                        data_fingerprint=record.get("data_fingerprint"),
                        created_by=record["user"],
                        created_at=created_at,
                        polyclass_version=record["polyclass_version"],
                        lineage=record,
                    )
                )
                final = self.root / relative
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, final)
                fsync_dir(final.parent)
            except BaseException:
                transaction.rollback()
                if final is not None and final.exists():
                    shutil.rmtree(final, ignore_errors=True)
                raise
            # Committed last: a crash before this line leaves at most an unreferenced
            # directory, never a version without its files.
            transaction.commit()
        return ModelVersion(
            name=name,
            version=version,
            path=final,
            artifact_sha256=sha256,
            created_at=created_at,
            user=record["user"],
            lineage=record,
            aliases=(),
        )

    # ------------------------------------------------------------------ read

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Return version ``version`` of model ``name``.

        Raises :class:`UnknownModelError` (listing the known models) or
        :class:`UnknownVersionError` (listing the versions).

        Examples
        --------
        >>> import tempfile
        >>> with Registry(tempfile.mkdtemp()) as registry:
        ...     registry.get_version("nope", 1)
        Traceback (most recent call last):
        ...
        polyclass.registry._errors.UnknownModelError: No model named 'nope' ...
        """
        name = validate_name(name)
        if isinstance(version, bool) or not isinstance(version, int | np.integer):
            raise InvalidNameError(f"version must be a whole number, got {version!r}.")
        with self._read() as conn:
            return q.get_version(conn, self.root, name, int(version))

    def resolve(self, ref: str | Path) -> ModelVersion:
        """Find the artifact a reference names.

        Parameters
        ----------
        ref : str or pathlib.Path
            An artifact directory path, ``name`` (latest version), ``name:latest``,
            ``name:VERSION`` or ``name@ALIAS``. A ``Path``, a string with a path
            separator or starting with ``.`` or ``~``, or an existing artifact
            directory is a path.

        Returns
        -------
        ModelVersion
            For a path, an unregistered ``ModelVersion`` with ``version=None``.

        Examples
        --------
        >>> import tempfile
        >>> with Registry(tempfile.mkdtemp()) as registry:
        ...     registry.resolve("penguins@production")
        Traceback (most recent call last):
        ...
        polyclass.registry._errors.UnknownModelError: No model named 'penguins' ...
        """
        if isinstance(ref, Path) or q.looks_like_path(ref):
            return q.version_from_path(Path(ref))
        if not isinstance(ref, str):
            raise InvalidNameError(f"A model reference must be a str or Path, got {ref!r}.")
        parsed = parse_ref(ref)
        local = Path(ref)
        if parsed.kind == "latest" and (local / MANIFEST_NAME).is_file():
            with self._read() as conn:
                registered = q.model_exists(conn, parsed.name)
            if registered:
                raise InvalidNameError(
                    f"{ref!r} is both a directory here and a registered model. Write "
                    f"./{ref} for the directory or {ref}:latest for the registry."
                )
            return q.version_from_path(local)
        with self._read() as conn:
            return q.resolve_ref(conn, self.root, parsed)

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model name with its latest version, count and aliases."""
        v = schema.versions
        with self._read() as conn:
            stats = {
                row.name: (row.latest, row.n)
                for row in conn.execute(
                    select(
                        v.c.name, func.max(v.c.version).label("latest"), func.count().label("n")
                    ).group_by(v.c.name)
                )
            }
            aliases: dict[str, dict[str, int]] = {}
            for row in conn.execute(select(schema.aliases)):
                aliases.setdefault(row.name, {})[row.alias] = row.version
            models = conn.execute(select(schema.models).order_by(schema.models.c.name)).all()
        return [
            RegisteredModel(
                name=m.name,
                created_at=m.created_at,
                latest_version=stats.get(m.name, (None, 0))[0],
                version_count=int(stats.get(m.name, (None, 0))[1]),
                aliases=dict(sorted(aliases.get(m.name, {}).items())),
            )
            for m in models
        ]

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        name = validate_name(name)
        with self._read() as conn:
            q.require_model(conn, name)
            aliases = q.aliases_of(conn, name)
            rows = conn.execute(
                select(schema.versions)
                .where(schema.versions.c.name == name)
                .order_by(schema.versions.c.version)
            ).all()
        return [q.to_version(row, self.root, aliases) for row in rows]

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for model ``name``."""
        name = validate_name(name)
        with self._read() as conn:
            q.require_model(conn, name)
            return q.aliases_of(conn, name)

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias change of ``name`` (optionally one alias), oldest first."""
        name = validate_name(name)
        h = schema.alias_history
        query = select(h).where(h.c.name == name)
        if alias is not None:
            query = query.where(h.c.alias == validate_alias(alias))
        with self._read() as conn:
            q.require_model(conn, name)
            rows = conn.execute(query.order_by(h.c.id)).all()
        return [
            {
                k: getattr(row, k)
                for k in (
                    "alias",
                    "action",
                    "version",
                    "previous_version",
                    "changed_at",
                    "changed_by",
                )
            }
            for row in rows
        ]

    def verify(self, ref: str | Path) -> ModelVersion:
        """Check a version's files against its checksums and its registered model.json hash."""
        found = self.resolve(ref)
        verify_artifact(found.path)
        if found.registered and manifest_sha256(found.path) != found.artifact_sha256:
            raise IntegrityError(
                f"{found.ref}: {found.path / MANIFEST_NAME} differs from the one registered "
                "(its sha256 changed). Files in the store were edited; re-register the model "
                "or restore it from an export."
            )
        return found

    # ------------------------------------------------------------------ aliases

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        """Point ``alias`` of ``name`` at ``version`` (recorded in the alias history).

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from polyclass.artifact import save_artifact
        >>> tmp = tempfile.mkdtemp()
        >>> art = save_artifact(tmp + "/art", {}, {})
        >>> with Registry(tmp + "/reg") as registry:
        ...     _ = registry.register("demo", art)
        ...     registry.set_alias("demo", "staging", 1).aliases
        ('staging',)
        """
        name, alias = validate_name(name), validate_alias(alias)
        with self._write() as conn:
            q.get_version(conn, self.root, name, int(version))
            current = q.aliases_of(conn, name).get(alias)
            if current != version:
                self._move_alias(conn, name, alias, int(version), current, "set")
            return q.get_version(conn, self.root, name, int(version))

    def promote(self, name: str, version: int, alias: str = "production") -> ModelVersion:
        """Point ``alias`` (default ``production``) at ``version``; see :meth:`set_alias`."""
        return self.set_alias(name, alias, version)

    def rollback(self, name: str, alias: str = "production") -> ModelVersion:
        """Move ``alias`` back to the version it pointed to before its last move.

        Successive rollbacks walk further back through the alias's history.

        Raises
        ------
        RollbackError
            When the alias never pointed elsewhere, or that version was deleted.
        """
        name, alias = validate_name(name), validate_alias(alias)
        with self._write() as conn:
            current_aliases = q.aliases_of(conn, name)
            q.require_model(conn, name)
            if alias not in current_aliases:
                raise UnknownAliasError(name, alias, current_aliases)
            h = schema.alias_history
            stack: list[int] = []
            undone: list[int] = []  # versions that rollbacks moved the alias away from
            for row in conn.execute(
                select(h.c.action, h.c.version)
                .where(h.c.name == name, h.c.alias == alias)
                .order_by(h.c.id)
            ):
                if row.action == "set":
                    stack.append(row.version)
                elif row.action == "rollback" and stack:
                    undone.append(stack.pop())
                elif row.action == "remove":
                    stack.clear()
            current = current_aliases[alias]
            if len(stack) < 2 and undone:
                raise RollbackError(
                    f"{name}@{alias} is already back at version {current}, the first version "
                    f"it pointed to: earlier rollbacks undid its later moves, so there is "
                    f"nothing older to roll back to. To go forward again, set it: "
                    f"polyclass registry alias {name} {alias} {undone[-1]}."
                )
            if len(stack) < 2:
                raise RollbackError(
                    f"{name}@{alias} has pointed only at version {current}; there is no "
                    f"earlier version to roll back to. Set it explicitly with "
                    f"polyclass registry alias {name} {alias} VERSION."
                )
            target = stack[-2]
            exists = conn.execute(
                select(schema.versions.c.version).where(
                    schema.versions.c.name == name, schema.versions.c.version == target
                )
            ).first()
            if exists is None:
                raise RollbackError(
                    f"{name}@{alias} pointed to version {target} before version {current}, but "
                    f"version {target} was deleted. Set the alias explicitly with "
                    f"polyclass registry alias {name} {alias} VERSION."
                )
            self._move_alias(conn, name, alias, target, current, "rollback")
            return q.get_version(conn, self.root, name, target)

    def _move_alias(
        self,
        conn: Connection,
        name: str,
        alias: str,
        version: int,
        current: int | None,
        action: str,
    ) -> None:
        stamp = now()
        a = schema.aliases
        if current is None:
            conn.execute(
                insert(a).values(name=name, alias=alias, version=version, updated_at=stamp)
            )
        else:
            conn.execute(
                update(a)
                .where(a.c.name == name, a.c.alias == alias)
                .values(version=version, updated_at=stamp)
            )
        conn.execute(
            insert(schema.alias_history).values(
                name=name,
                alias=alias,
                action=action,
                version=version,
                previous_version=current,
                changed_at=stamp,
                changed_by=current_user(),
            )
        )

    # ------------------------------------------------------------------ delete

    def delete(self, name: str, version: int, *, force: bool = False) -> None:
        """Delete one version's row and files.

        Raises :class:`AliasInUseError` while aliases point to it, unless ``force``
        (which removes those aliases). The version number is never reused.
        """
        name = validate_name(name)
        with self._write() as conn:
            found = q.get_version(conn, self.root, name, int(version))
            pointing = sorted(a for a, v in q.aliases_of(conn, name).items() if v == version)
            if pointing and not force:
                raise AliasInUseError(
                    f"{name}:{version} is the target of alias "
                    f"{', '.join(f'{name}@{a}' for a in pointing)}. Move the alias first "
                    f"(polyclass registry alias {name} {pointing[0]} VERSION) or force the "
                    "delete (--force), which removes the alias."
                )
            a = schema.aliases
            for alias in pointing:
                conn.execute(sql_delete(a).where(a.c.name == name, a.c.alias == alias))
                conn.execute(
                    insert(schema.alias_history).values(
                        name=name,
                        alias=alias,
                        action="remove",
                        version=None,
                        previous_version=version,
                        changed_at=now(),
                        changed_by=current_user(),
                    )
                )
            r, v = schema.replicas, schema.versions
            conn.execute(sql_delete(r).where(r.c.name == name, r.c.version == version))
            conn.execute(sql_delete(v).where(v.c.name == name, v.c.version == version))
        # Files go after the commit: a crash here leaves an unreferenced directory only.
        remove_tree(found.path, self.root)

    def clean(self, *, min_age_seconds: float = 3600.0) -> list[Path]:
        """Remove leftovers of interrupted work; return what was removed.

        A registration killed before its commit leaves an unreferenced directory
        (a staging copy, or a version directory without a row); deletions leave
        nothing visible. Only entries older than ``min_age_seconds`` are removed, so
        a registration in flight in another process is never touched.
        """
        cutoff = time.time() - min_age_seconds
        with self._read() as conn:
            referenced = {
                self.root / p
                for p in conn.execute(select(schema.versions.c.artifact_path)).scalars()
            }
        candidates: list[Path] = []
        staging = self.root / STAGING
        if staging.is_dir():
            candidates.extend(staging.iterdir())
        for model_dir in self.root.iterdir():
            if model_dir.is_dir() and model_dir.name != STAGING:
                candidates.extend(p for p in model_dir.iterdir() if p not in referenced)
        removed = []
        for path in sorted(candidates):
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    # ------------------------------------------------------------------ export / import

    def export(self, ref: str | Path, dest: str | Path, *, overwrite: bool = False) -> Path:
        """Write one version (artifact, lineage, checksums) to a ``.tar.gz`` archive.

        Parameters
        ----------
        ref : str or pathlib.Path
            Any reference :meth:`resolve` accepts.
        dest : str or pathlib.Path
            The archive path (ending in ``.tar.gz`` or ``.tgz``), or an existing
            directory to write ``NAME-VERSION.tar.gz`` into.
        overwrite : bool, default False
            Replace an existing archive.

        Returns
        -------
        pathlib.Path
            The archive written.
        """
        found = self.verify(ref)
        target = Path(dest).expanduser().absolute()
        if target.is_dir():
            stem = found.name if found.version is None else f"{found.name}-{found.version}"
            target = target / f"{stem}.tar.gz"
        elif not target.name.endswith((".tar.gz", ".tgz")):
            raise ArchiveError(
                f"Export destination {target} must end in .tar.gz (or .tgz), or be an "
                "existing directory."
            )
        if target.exists() and not overwrite:
            raise ArchiveError(
                f"{target} already exists. Choose another destination or pass overwrite=True "
                "(--overwrite)."
            )
        if not target.parent.is_dir():
            raise ArchiveError(f"The directory {target.parent} does not exist; create it first.")
        manifest = {
            "name": found.name,
            "version": found.version,
            "artifact_sha256": found.artifact_sha256,
            "created_at": found.created_at,
            "user": found.user,
            "lineage": found.lineage,
            "aliases": list(found.aliases),
            "exported_at": now(),
            "exported_by": current_user(),
            "polyclass_version": __version__,
        }
        return write_archive(found.path, manifest, target)

    def import_(
        self, archive: str | Path, *, name: str | None = None, limits: ImportLimits | None = None
    ) -> ModelVersion:
        """Register the artifact of an export archive as a new version, after verifying it.

        Parameters
        ----------
        archive : str or pathlib.Path
            A file written by :meth:`export`.
        name : str, optional
            Register under this name instead of the archived one.
        limits : ImportLimits, optional
            The most files and bytes to extract (default ``ImportLimits()``: 100,000
            files, 2 GiB), checked on the archive's headers before anything is written.

        Returns
        -------
        ModelVersion
            The new version (numbered by this registry); its lineage keeps the
            original and records the source under ``imported_from``.
        """
        path = Path(archive).expanduser().absolute()
        if not path.is_file():
            raise ArchiveError(f"No archive at {path}. Pass a file written by export.")
        staging = new_staging_dir(self.root)
        try:
            document = read_archive(path, staging, limits or ImportLimits())
            target = validate_name(name if name is not None else document.get("name"))
            verify_artifact(staging)
            if manifest_sha256(staging) != document.get("artifact_sha256"):
                raise ArchiveError(
                    f"The model.json in {path} does not match the sha256 its manifest "
                    "records; the archive was altered. Export it again."
                )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        original = document.get("lineage")
        lineage = dict(original) if isinstance(original, dict) else {}
        lineage["imported_from"] = {
            "archive": path.name,
            "name": document.get("name"),
            "version": document.get("version"),
            "created_at": document.get("created_at"),
            "exported_at": document.get("exported_at"),
        }
        lineage.pop("created_at", None)
        return self._register_staged(target, staging, lineage)
