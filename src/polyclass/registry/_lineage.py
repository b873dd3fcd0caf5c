"""Lineage records: what is kept with every version, and the clock and user behind it."""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from polyclass._json import json_default
from polyclass._version import __version__
from polyclass.registry._errors import InvalidNameError, RegistryError


def now() -> str:
    """The current UTC time, ISO 8601 with microseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def current_user() -> str:
    """The login name, or ``unknown`` where there is none (some containers)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def lineage_record(lineage: Mapping[str, Any], metadata: Any) -> dict[str, Any]:
    """Validate the caller's lineage and complete it with fingerprint, user, time, version."""
    if not isinstance(lineage, Mapping):
        raise InvalidNameError(f"lineage must be a dict, got {type(lineage).__name__}.")
    try:
        record: dict[str, Any] = json.loads(
            json.dumps(dict(lineage), default=json_default, allow_nan=False)
        )
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"lineage cannot be stored as JSON ({exc}). Use None, bool, numbers (finite), "
            "str, lists and dicts with string keys."
        ) from None
    fingerprint = record.get("data_fingerprint")
    if fingerprint is None and isinstance(metadata, dict):
        fingerprint = metadata.get("data_fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise RegistryError(
            f"lineage['data_fingerprint'] must be a str (see "
            f"polyclass.artifact.fingerprint_table), got {fingerprint!r}."
        )
    for key in ("parameters", "metrics"):
        if not isinstance(record.setdefault(key, {}), dict):
            raise RegistryError(f"lineage[{key!r}] must be a dict, got {record[key]!r}.")
    record["data_fingerprint"] = fingerprint
    record["user"] = str(record.get("user") or current_user())
    # the columns' lengths: PostgreSQL enforces them, SQLite would silently keep more
    for key, limit in (("data_fingerprint", 128), ("user", 255)):
        if record[key] is not None and len(record[key]) > limit:
            raise RegistryError(
                f"lineage[{key!r}] must be at most {limit} characters, got "
                f"{len(record[key])}. Shorten it (a fingerprint is a hash, a user a login)."
            )
    record["polyclass_version"] = str(record.get("polyclass_version") or __version__)
    record["created_at"] = now()
    return record
