"""A fresh database per test on the real PostgreSQL server at 127.0.0.1:5432."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def postgres_database() -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it (FORCE ends stray sessions).

    Fails when CI is "true" and the server or driver is missing; skips locally.
    """
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import OperationalError

        admin = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (ImportError, OperationalError) as exc:
        admin_missing = f"PostgreSQL at 127.0.0.1:5432 (db test, trust auth) unusable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(admin_missing)
        pytest.skip(admin_missing)
    name = f"polyclass_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
