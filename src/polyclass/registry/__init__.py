"""The model registry: immutable numbered versions, movable aliases, lineage.

Metadata in SQL through SQLAlchemy Core (a SQLite file under ``./.polyclass/`` by
default, any SQLAlchemy URL such as PostgreSQL for a team); artifact directories in
a folder beside it. ``Registry.resolve`` turns ``name``, ``name:3``,
``name@production`` or a path into the artifact directory to load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyclass.registry._env import ENV_ROOT, ENV_URL
from polyclass.registry._errors import (
    AliasInUseError,
    ArchiveError,
    IntegrityError,
    InvalidNameError,
    RegistryError,
    ResidencyError,
    RollbackError,
    UnknownAliasError,
    UnknownModelError,
    UnknownVersionError,
)
from polyclass.registry._limits import ImportLimits
from polyclass.registry._refs import Ref, parse_ref, validate_alias, validate_name
from polyclass.registry._types import REPLICA_STATUSES, ModelVersion, RegisteredModel, Replica

if TYPE_CHECKING:
    from polyclass.registry._store import Registry

__all__ = [
    "ENV_ROOT",
    "ENV_URL",
    "REPLICA_STATUSES",
    "AliasInUseError",
    "ArchiveError",
    "ImportLimits",
    "IntegrityError",
    "InvalidNameError",
    "ModelVersion",
    "Ref",
    "RegisteredModel",
    "Registry",
    "RegistryError",
    "Replica",
    "ResidencyError",
    "RollbackError",
    "UnknownAliasError",
    "UnknownModelError",
    "UnknownVersionError",
    "parse_ref",
    "validate_alias",
    "validate_name",
]


def __getattr__(name: str) -> Any:
    # Registry (and SQLAlchemy behind it) loads on first use, so `polyclass --help`
    # and code that only catches RegistryError stay fast.
    if name == "Registry":
        from polyclass.registry._store import Registry

        globals()["Registry"] = Registry
        return Registry
    raise AttributeError(f"module 'polyclass.registry' has no attribute {name!r}")
