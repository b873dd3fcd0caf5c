"""What the registry returns: a model version and a model summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The states a replica can be in, as the last verification of its store found it.
REPLICA_STATUSES = ("ok", "missing", "corrupt", "unverified")


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a registered model (or an unregistered artifact directory).

    Attributes
    ----------
    name : str
        The model name (for an unregistered directory, the directory name).
    version : int or None
        The version number, 1, 2, 3... per name; None for an unregistered directory.
    path : pathlib.Path
        The artifact directory; pass it to ``polyclass.load``.
    artifact_sha256 : str
        SHA-256 of the artifact's ``model.json`` (which holds every array's sha256).
    created_at : str
        When the version was registered, UTC ISO 8601.
    user : str
        Who registered it.
    lineage : dict
        ``data_fingerprint``, ``parameters``, ``metrics``, ``user``, ``created_at``,
        ``polyclass_version`` and anything else given at registration.
    aliases : tuple of str
        Aliases pointing to this version when it was read.
    """

    name: str
    version: int | None
    path: Path
    artifact_sha256: str
    created_at: str
    user: str
    lineage: dict[str, Any] = field(default_factory=dict, repr=False)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name:version``, or the path for an unregistered directory."""
        return str(self.path) if self.version is None else f"{self.name}:{self.version}"

    @property
    def registered(self) -> bool:
        """Whether this is a registry version (not a bare directory)."""
        return self.version is not None


@dataclass(frozen=True)
class RegisteredModel:
    """A summary of one model name in the registry.

    Attributes
    ----------
    name : str
        The model name.
    created_at : str
        When its first version was registered, UTC ISO 8601.
    latest_version : int or None
        The highest existing version, None when every version was deleted.
    version_count : int
        How many versions exist.
    aliases : dict of str to int
        Alias -> version.
    """

    name: str
    created_at: str
    latest_version: int | None
    version_count: int
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Replica:
    """One copy of a registered version in an object store.

    Attributes
    ----------
    name : str
        The model name.
    version : int
        The version the copy holds.
    url : str
        The store URL (``s3://bucket/prefix``, ``gs://...``, ``az://...``,
        ``file:///...``); never with credentials.
    cloud : str
        Which cloud holds it (as the caller named it, e.g. ``aws``, ``gcp``, ``azure``).
    region : str or None
        The store's region, when known.
    residency : str or None
        The store's data-residency tag (``eu``, ``us``...), when it has one.
    status : str
        ``ok``, ``missing``, ``corrupt`` or ``unverified``.
    verified_at : str or None
        When the copy was last verified, UTC ISO 8601; None if never.
    recorded_at : str
        When this record was last written, UTC ISO 8601.
    """

    name: str
    version: int
    url: str
    cloud: str
    region: str | None
    residency: str | None
    status: str
    verified_at: str | None
    recorded_at: str
