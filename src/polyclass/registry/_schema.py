"""The registry's tables (portable SQLAlchemy Core) and its database engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import URL, make_url

#: Bump with a migration when the tables change; older polyclass refuses newer schemas.
#: 2 added the replica and residency tables (a version-1 registry gains them on open).
SCHEMA_VERSION = 2
_NAME = 128
_TIME = 32
_SCHEMA_LOCK = 0x706F6C79  # an arbitrary advisory-lock key: "poly"

metadata = MetaData()

info = Table(
    "polyclass_registry_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

models = Table(
    "polyclass_models",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    # the highest version ever issued: versions are never reused, even after a delete
    Column("last_version", Integer, nullable=False),
    Column("created_at", String(_TIME), nullable=False),
)

versions = Table(
    "polyclass_versions",
    metadata,
    Column("name", String(_NAME), ForeignKey("polyclass_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("artifact_path", String(1024), nullable=False),  # relative to the root, '/'-joined
    Column("artifact_sha256", String(64), nullable=False),  # sha256 of model.json
    Column("format_version", Integer, nullable=False),
    Column("data_fingerprint", String(128), nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", String(_TIME), nullable=False),
    Column("polyclass_version", String(64), nullable=False),
    Column("lineage", JSON, nullable=False),
)

aliases = Table(
    "polyclass_aliases",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("alias", String(_NAME), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", String(_TIME), nullable=False),
    ForeignKeyConstraint(
        ["name", "version"], ["polyclass_versions.name", "polyclass_versions.version"]
    ),
)

alias_history = Table(
    "polyclass_alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False, index=True),
    Column("alias", String(_NAME), nullable=False),
    Column("action", String(16), nullable=False),  # 'set', 'rollback' or 'remove'
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("changed_at", String(_TIME), nullable=False),
    Column("changed_by", String(255), nullable=False),
)

replicas = Table(
    "polyclass_replicas",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("url", String(1024), primary_key=True),  # a store URL, never with credentials
    Column("cloud", String(32), nullable=False),
    Column("region", String(64), nullable=True),
    Column("residency", String(32), nullable=True),
    Column("status", String(16), nullable=False),  # 'ok', 'missing', 'corrupt', 'unverified'
    Column("verified_at", String(_TIME), nullable=True),
    Column("recorded_at", String(_TIME), nullable=False),
    ForeignKeyConstraint(
        ["name", "version"], ["polyclass_versions.name", "polyclass_versions.version"]
    ),
)

residencies = Table(
    "polyclass_residencies",
    metadata,
    Column("name", String(_NAME), ForeignKey("polyclass_models.name"), primary_key=True),
    Column("residency", String(32), primary_key=True),
)

#: Execution option that makes a SQLite transaction take the write lock at BEGIN.
WRITE_OPTION = "polyclass_write"


def lock_schema(conn: Connection) -> None:
    """On PostgreSQL, serialise schema creation: concurrent CREATE TABLEs collide there."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for other backends and memory."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: URL) -> Engine:
    """An engine for ``url``; SQLite gets a busy timeout and write-locking transactions.

    SQLite's default deferred transactions let two writers read the same "next
    version" and then fail to upgrade their locks; ``BEGIN IMMEDIATE`` on write
    transactions makes them queue instead (for up to the busy timeout).
    """
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 60.0})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def parse_url(url: str) -> URL:
    """Parse an SQLAlchemy URL, making a relative SQLite file path absolute."""
    parsed = make_url(url)
    file = sqlite_file(parsed)
    if file is not None and not file.is_absolute():
        parsed = parsed.set(database=str(file.absolute()))
    return parsed
