"""The model registry: versions, aliases and lineage in SQL; artifacts in a folder."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.exc import NoSuchModuleError, OperationalError

from polyclass._version import __version__
from polyclass.artifact import MANIFEST_NAME, verify_artifact
from polyclass.registry import _backup as backup
from polyclass.registry import _queries as q
from polyclass.registry import _schema as schema
from polyclass.registry._archive import read_archive, write_archive
from polyclass.registry._env import DEFAULT_DIR, ENV_ROOT, ENV_URL
from polyclass.registry._errors import (
    AliasInUseError,
    ArchiveError,
    IntegrityError,
    InvalidNameError,
    RegistryError,
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
from polyclass.registry._replicas import (
    check_residency,
    replica_values,
    replicas_of,
    residencies_of,
    residency_tag,
    upsert_replica,
    write_residencies,
)
from polyclass.registry._types import ModelVersion, RegisteredModel, Replica

_ATTEMPTS = 5


class Registry:
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

    def __init__(self, url: str | None = None, root: str | Path | None = None) -> None:
        location = url if url is not None else os.environ.get(ENV_URL) or None
        if location is None:
            location = str(DEFAULT_DIR)
        if "://" not in location:  # a directory (or a .db file): SQLite plus artifacts/
            base = Path(location).expanduser().absolute()
            db = base if base.suffix in {".db", ".sqlite", ".sqlite3"} else base / "registry.db"
            location = f"sqlite:///{db}"
        try:
            self._url = schema.parse_url(location)
        except Exception as exc:  # sqlalchemy raises ArgumentError and others
            raise RegistryError(
                f"Invalid registry URL {location!r} ({exc}). Pass an SQLAlchemy URL such as "
                "sqlite:///path/registry.db or a directory."
            ) from None
        file = schema.sqlite_file(self._url)
        if root is not None:
            self.root = Path(root).expanduser().absolute()
        elif file is not None:
            self.root = file.parent / "artifacts"
        else:
            self.root = Path(os.environ.get(ENV_ROOT) or DEFAULT_DIR / "artifacts").absolute()
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._engine = schema.make_engine(self._url)
        except (ModuleNotFoundError, NoSuchModuleError) as exc:
            raise RegistryError(
                f"No database driver for {self.url} ({exc}). Install it (for PostgreSQL: "
                "pip install psycopg, URL postgresql+psycopg://...) or fix the URL."
            ) from None
        try:
            self._create_schema()
        except OperationalError as exc:
            self._engine.dispose()
            raise RegistryError(
                f"Cannot open the registry database {self.url}: {exc.orig}. Check the "
                "--registry URL, that the server is running, and your permissions."
            ) from None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The database URL, with any password hidden."""
        return self._url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release database connections."""
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry(url={self.url!r}, root={str(self.root)!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**{schema.WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        # PostgreSQL's default READ COMMITTED would let a dump of several tables see
        # a registration half-way; SQLite's read transaction is a snapshot already
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _create_schema(self) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    schema.lock_schema(conn)
                    schema.metadata.create_all(conn)
                    row = conn.execute(
                        select(schema.info.c.value).where(schema.info.c.key == "schema_version")
                    ).first()
                    if row is None:
                        conn.execute(
                            insert(schema.info).values(
                                key="schema_version", value=str(schema.SCHEMA_VERSION)
                            )
                        )
                    elif int(row[0]) > schema.SCHEMA_VERSION:
                        raise RegistryError(
                            f"The registry at {self.url} has schema version {row[0]}, newer "
                            f"than this polyclass supports ({schema.SCHEMA_VERSION}). Upgrade "
                            "polyclass (pip install -U polyclass)."
                        )
                    elif int(row[0]) < schema.SCHEMA_VERSION:
                        # every migration so far only adds tables, which create_all made
                        conn.execute(
                            update(schema.info)
                            .where(schema.info.c.key == "schema_version")
                            .values(value=str(schema.SCHEMA_VERSION))
                        )
                return
            except (SQLIntegrityError, OperationalError):
                # another process created the tables at the same moment: look again
                if attempt == _ATTEMPTS - 1:
                    raise

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
            for attempt in range(_ATTEMPTS):
                try:
                    return self._commit_version(name, staging, record, sha256, document)
                except SQLIntegrityError:
                    if attempt == _ATTEMPTS - 1:  # a concurrent first registration of name
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

    # ------------------------------------------------------------------ replicas

    def record_replica(
        self,
        name: str,
        version: int,
        *,
        url: str,
        cloud: str,
        region: str | None = None,
        residency: str | None = None,
        status: str = "unverified",
        verified_at: str | datetime | None = None,
    ) -> Replica:
        """Record (or update) a copy of ``name:version`` in an object store.

        One record per name, version and store URL: recording the same URL again
        updates it. The registry stores the URL only, never a credential.

        Parameters
        ----------
        name, version : str, int
            The registered version the store holds.
        url : str
            The store URL (``s3://bucket/prefix``, ``file:///path``...); a URL with a
            user, password, query or fragment is refused.
        cloud : str
            Which cloud holds it, e.g. ``aws``, ``gcp``, ``azure``, ``local``.
        region, residency : str, optional
            The store's region and data-residency tag (``eu``, ``us``...).
        status : {'ok', 'missing', 'corrupt', 'unverified'}, default 'unverified'
            What the last check found.
        verified_at : datetime or str, optional
            When it was last checked (timezone-aware; stored as UTC ISO 8601).

        Returns
        -------
        Replica
            The record as stored.

        Raises
        ------
        ResidencyError
            When the model is restricted to residencies and ``residency`` is not one.

        Examples
        --------
        >>> import tempfile
        >>> from polyclass.artifact import save_artifact
        >>> tmp = tempfile.mkdtemp()
        >>> art = save_artifact(tmp + "/art", {}, {})
        >>> with Registry(tmp + "/reg") as registry:
        ...     _ = registry.register("demo", art)
        ...     registry.record_replica(
        ...         "demo", 1, url="s3://models/demo", cloud="aws", status="ok"
        ...     ).status
        'ok'
        """
        name = validate_name(name)
        values = replica_values(
            url=url,
            cloud=cloud,
            region=region,
            residency=residency,
            status=status,
            verified_at=verified_at,
        )
        for attempt in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    q.get_version(conn, self.root, name, int(version))
                    check_residency(conn, name, values["residency"], values["url"])
                    upsert_replica(conn, name, int(version), values)
                    stored = replicas_of(conn, name, int(version))
                    return next(r for r in stored if r.url == values["url"])
            except SQLIntegrityError:
                if attempt == _ATTEMPTS - 1:  # the same URL recorded concurrently
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def replicas(self, name: str, version: int | None = None) -> list[Replica]:
        """The recorded replicas of ``name`` (or of one version), by version then URL."""
        name = validate_name(name)
        with self._read() as conn:
            if version is None:
                q.require_model(conn, name)
            else:
                q.get_version(conn, self.root, name, int(version))
            return replicas_of(conn, name, version)

    def set_residencies(self, name: str, residencies: list[str] | None) -> list[str] | None:
        """Restrict ``name`` to stores with these residency tags (None lifts the restriction).

        Replicas recorded from then on must carry one of the tags; those recorded
        before are kept as they are. Returns the residencies now in force.
        """
        name = validate_name(name)
        if residencies is not None:
            if isinstance(residencies, str) or not list(residencies):
                raise InvalidNameError(
                    f"residencies must be a non-empty list of tags such as ['eu'], or None "
                    f"to lift the restriction; got {residencies!r}."
                )
            residencies = [residency_tag(tag) for tag in residencies]
        with self._write() as conn:
            q.require_model(conn, name)
            write_residencies(conn, name, residencies)
            return residencies_of(conn, name)

    def residencies(self, name: str) -> list[str] | None:
        """The residencies ``name`` is restricted to, or None when it may go anywhere."""
        name = validate_name(name)
        with self._read() as conn:
            q.require_model(conn, name)
            return residencies_of(conn, name)

    def check_residency(self, name: str, residency: str | None, url: str = "") -> None:
        """Raise :class:`ResidencyError` unless a store with ``residency`` may hold ``name``."""
        name = validate_name(name)
        tag = None if residency is None else residency_tag(residency)
        with self._read() as conn:
            q.require_model(conn, name)
            check_residency(conn, name, tag, url or "given")

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

    # ------------------------------------------------------------------ backup / restore

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
            return backup.dump(conn)

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
        tables = backup.check(dict(document) if isinstance(document, Mapping) else document)
        with self._write() as conn:
            if any(backup.row_counts(conn).values()):
                present = ", ".join(backup.model_names(conn)) or "rows without models"
                raise RegistryError(
                    f"The registry at {self.url} already holds models ({present}); "
                    "restore only into an empty registry. Point --registry at a new database "
                    "or directory and restore there."
                )
            try:
                backup.load(conn, tables)
            except SQLIntegrityError as exc:
                raise RegistryError(
                    f"The backup document is not consistent ({exc.orig}): a row refers to a "
                    "model or version the document does not hold. Use an unedited document "
                    "written by polyclass registry backup."
                ) from None
            counts = backup.row_counts(conn)
        missing = [
            f"{row['name']}:{row['version']}"
            for row in tables["versions"]
            if not (self.root / row["artifact_path"] / MANIFEST_NAME).is_file()
        ]
        return {**counts, "missing_artifacts": missing}

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
