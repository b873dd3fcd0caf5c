"""Where a registry lives and how it talks to its database: the base every part builds on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.exc import NoSuchModuleError, OperationalError

from polyclass.registry import _schema as schema
from polyclass.registry._env import DEFAULT_DIR, ENV_ROOT, ENV_URL
from polyclass.registry._errors import RegistryError

#: How often a write that lost a race with another process (a unique key) is retried.
ATTEMPTS = 5


class RegistryBase:
    """The database engine, the artifact root and transactions; see ``Registry``."""

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

    def __enter__(self) -> Self:
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
        for attempt in range(ATTEMPTS):
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
                if attempt == ATTEMPTS - 1:
                    raise
