"""Models in every cloud: replicas in S3, GCS, Azure Blob or file:// stores, verified.

A store is a URL. It holds content-addressed blobs (``blobs/<sha256>``) and one
manifest per model version, written last as the commit point. ``replicate`` copies a
registered version to several stores at once, ``verify`` re-hashes every replica,
``repair`` heals damaged ones from any good copy, and ``fetch`` (behind
``polyclass.load(URL)`` and ``polyclass serve --store``) downloads a version into a
local content-addressed cache, falling back store by store. ``write_bytes`` and
``read_bytes`` move one small object atomically (the registry's backup uses them).
Credentials come only from each cloud's standard mechanisms and never appear in a
message: ``split_url`` is the one check of a store URL (it refuses a user, password,
query or fragment) and ``redact_url`` the one way a refused URL is shown.

Each public name loads its module on first use, so a command that never touches a store
(``polyclass serve DIR``, ``polyclass train``) does not import this package's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach

if TYPE_CHECKING:
    from polyclass.cloud._api import VersionCheck, repair, replicate, verify
    from polyclass.cloud._cache import ENV_CACHE, Cache
    from polyclass.cloud._config import ENV_STORES, StoreSpec, read_stores_file, spec
    from polyclass.cloud._errors import (
        CloudError,
        IntegrityError,
        StoreError,
        UsageError,
    )
    from polyclass.cloud._fetch import (
        CacheDiscardedWarning,
        ReplicaFallbackWarning,
        StoreSkippedWarning,
        fetch,
        fetch_recorded,
        is_store_url,
    )
    from polyclass.cloud._layout import Manifest
    from polyclass.cloud._replicate import ReplicateResult, StoreOutcome
    from polyclass.cloud._secrets import redact_url
    from polyclass.cloud._stores import Store, read_bytes, split_url, write_bytes
    from polyclass.cloud._verify import Problem, ReplicaCheck, read_manifest

__all__ = [
    "ENV_CACHE",
    "ENV_STORES",
    "Cache",
    "CacheDiscardedWarning",
    "CloudError",
    "IntegrityError",
    "Manifest",
    "Problem",
    "ReplicaCheck",
    "ReplicaFallbackWarning",
    "ReplicateResult",
    "Store",
    "StoreError",
    "StoreOutcome",
    "StoreSkippedWarning",
    "StoreSpec",
    "UsageError",
    "VersionCheck",
    "fetch",
    "fetch_recorded",
    "is_store_url",
    "read_bytes",
    "read_manifest",
    "read_stores_file",
    "redact_url",
    "repair",
    "replicate",
    "spec",
    "split_url",
    "verify",
    "write_bytes",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "VersionCheck": "polyclass.cloud._api",
        "repair": "polyclass.cloud._api",
        "replicate": "polyclass.cloud._api",
        "verify": "polyclass.cloud._api",
        "ENV_CACHE": "polyclass.cloud._cache",
        "Cache": "polyclass.cloud._cache",
        "ENV_STORES": "polyclass.cloud._config",
        "StoreSpec": "polyclass.cloud._config",
        "read_stores_file": "polyclass.cloud._config",
        "spec": "polyclass.cloud._config",
        "CloudError": "polyclass.cloud._errors",
        "IntegrityError": "polyclass.cloud._errors",
        "StoreError": "polyclass.cloud._errors",
        "UsageError": "polyclass.cloud._errors",
        "CacheDiscardedWarning": "polyclass.cloud._fetch",
        "ReplicaFallbackWarning": "polyclass.cloud._fetch",
        "StoreSkippedWarning": "polyclass.cloud._fetch",
        "fetch": "polyclass.cloud._fetch",
        "fetch_recorded": "polyclass.cloud._fetch",
        "is_store_url": "polyclass.cloud._fetch",
        "Manifest": "polyclass.cloud._layout",
        "ReplicateResult": "polyclass.cloud._replicate",
        "StoreOutcome": "polyclass.cloud._replicate",
        "redact_url": "polyclass.cloud._secrets",
        "Store": "polyclass.cloud._stores",
        "read_bytes": "polyclass.cloud._stores",
        "split_url": "polyclass.cloud._stores",
        "write_bytes": "polyclass.cloud._stores",
        "Problem": "polyclass.cloud._verify",
        "ReplicaCheck": "polyclass.cloud._verify",
        "read_manifest": "polyclass.cloud._verify",
    },
    __all__,
)
