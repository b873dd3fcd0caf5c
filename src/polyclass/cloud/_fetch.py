"""Bring a model version from the first store that holds it whole into the local cache."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from polyclass.cloud._cache import Cache
from polyclass.cloud._errors import CloudError, IntegrityError, StoreError, UsageError
from polyclass.cloud._layout import (
    Manifest,
    blob_key,
    manifest_key,
    parse_manifest,
    split_replica_url,
)
from polyclass.cloud._secrets import redact_url
from polyclass.cloud._stores import Store

if TYPE_CHECKING:
    from polyclass.registry import ModelVersion

DOWNLOADS_PER_STORE = 4


class StoreSkippedWarning(UserWarning):
    """A store was down or held a damaged copy; the next store was tried."""


class CacheDiscardedWarning(UserWarning):
    """A cached version failed verification; it was dropped and downloaded again."""


class ReplicaFallbackWarning(UserWarning):
    """The registry's local artifact was missing; a recorded replica was loaded instead."""


def is_store_url(text: str) -> bool:
    """Whether ``text`` is a URL with a scheme (``s3://``, ``file://``...), not a path or ref."""
    return "://" in text


def fetch(
    model: str,
    stores: Sequence[str] = (),
    *,
    registry: str | None = None,
    cache: str | Path | None = None,
) -> Path:
    """Download a model version into the local cache and return its artifact directory.

    Parameters
    ----------
    model : str
        A replica URL (``s3://bucket/prefix/models/NAME/VERSION``), or a registry
        reference (``name``, ``name:3``, ``name@production``) with ``stores``.
    stores : sequence of str
        Store URLs to try in this order; a store that is down or holds a corrupt blob
        is skipped for the next with a :class:`StoreSkippedWarning` naming it.
    registry : str, optional
        The registry resolving ``name`` and ``name@alias`` (``name:N`` needs none).
    cache : str or Path, optional
        The cache directory (default ``$POLYCLASS_CACHE`` or ``~/.cache/polyclass``).

    Returns
    -------
    pathlib.Path
        An artifact directory whose every file matched its sha256 (a cached copy is
        re-hashed; one that fails is discarded, with a :class:`CacheDiscardedWarning`,
        and downloaded again).

    Examples
    --------
    >>> polyclass.cloud.fetch("penguins:3", ["s3://models/pc"])  # doctest: +SKIP
    """
    name, version, urls = _locate(model, stores, registry)
    local = Cache(cache)
    keys = [f"{Store(u).url}|{name}|{version}" for u in urls]
    for key in keys:  # a warm cache needs no store at all
        manifest = local.cached_manifest(key)
        if manifest is None or not all(local.has_blob(s, n) for s, n in manifest.blobs.items()):
            continue
        damaged = local.damaged(manifest)
        if not damaged:
            return local.artifact(manifest)
        local.discard(manifest, damaged)
        warnings.warn(
            f"The cached copy of {name}:{version} in {local.root} failed verification "
            f"({', '.join(damaged)} changed since it was downloaded); discarded it, "
            "downloading it again from the store.",
            CacheDiscardedWarning,
            stacklevel=2,
        )
        break
    failures: list[str] = []
    for url, key in zip(urls, keys, strict=True):
        try:
            manifest = _download(Store(url), name, version, local)
        except (CloudError, FileNotFoundError) as exc:
            failures.append(f"{url}: {exc}")
            if url != urls[-1]:
                warnings.warn(
                    f"Skipping store {url} for {name}:{version}: {exc}",
                    StoreSkippedWarning,
                    stacklevel=2,
                )
            continue
        local.remember_manifest(key, manifest)
        return local.artifact(manifest)
    raise StoreError(
        f"No store holds a whole copy of {name}:{version}. Tried: "
        + " | ".join(failures)
        + " Check the stores, or run `polyclass cloud verify` and `repair`.",
    )


def fetch_recorded(
    version: ModelVersion, registry: str | None = None, *, cache: str | Path | None = None
) -> Path:
    """Fetch a registered version from the replicas its registry records.

    For a registry whose local artifact is missing (say, restored from a backup): the
    replicas are tried ``ok`` first, then ``unverified``, then the rest, with a
    :class:`ReplicaFallbackWarning` naming them.

    Parameters
    ----------
    version : polyclass.registry.ModelVersion
        The version, as the registry resolved it.
    registry : str, optional
        The registry URL (default: ``POLYCLASS_REGISTRY`` or ``./.polyclass``).
    cache : str or Path, optional
        The cache directory (default ``$POLYCLASS_CACHE`` or ``~/.cache/polyclass``).

    Returns
    -------
    pathlib.Path
        An artifact directory whose every file matched its sha256.

    Raises
    ------
    StoreError
        No recorded replica holds a whole copy (or none is recorded); the message
        names the replicas and ``--store``.
    """
    from polyclass.registry import Registry

    if version.version is None:
        raise UsageError(f"{version.path} is not a registered version; it has no replicas.")
    with Registry(registry) as reg:
        replicas = reg.replicas(version.name, version.version)
    label = f"{version.name}:{version.version}"
    hint = (
        f"Restore the registry's artifacts, or name a store that holds {label}: "
        f"polyclass.load({label!r}, stores=[URL]) or `polyclass serve {label} --store URL`."
    )
    if not replicas:
        raise StoreError(
            f"No artifact at {version.path}, and the registry records no replica of {label}. {hint}"
        )
    rank = {"ok": 0, "unverified": 1}  # then missing and corrupt: a last resort
    urls = [r.url for r in sorted(replicas, key=lambda r: rank.get(r.status, 2))]
    named = ", ".join(f"{r.url} ({r.status})" for r in replicas)
    warnings.warn(
        f"No artifact at {version.path}; loading {label} from the replicas the registry "
        f"records: {named}.",
        ReplicaFallbackWarning,
        stacklevel=2,
    )
    try:
        return fetch(label, urls, cache=cache)
    except StoreError as exc:
        raise StoreError(f"No artifact at {version.path}. {exc} {hint}") from None


def _locate(model: str, stores: Sequence[str], registry: str | None) -> tuple[str, int, list[str]]:
    """(name, version, store URLs) for a replica URL or a reference plus stores."""
    if is_store_url(model):
        parts = split_replica_url(model.rstrip("/"))
        if parts is None:
            raise UsageError(
                f"{redact_url(model)!r} is not a replica URL: write STORE/models/NAME/VERSION (for "
                "example s3://bucket/prefix/models/penguins/3), or NAME:VERSION with --store."
            )
        store, name, version = parts
        return name, version, [store, *stores]
    if not stores:
        raise UsageError(f"Loading {model!r} from a store needs at least one store URL (--store).")
    from polyclass.registry import parse_ref

    ref = parse_ref(model)
    if ref.kind == "version" and ref.version is not None:
        return ref.name, ref.version, list(stores)
    from polyclass.registry import Registry

    with Registry(registry) as reg:
        resolved = reg.resolve(model)
    if resolved.version is None:  # pragma: no cover - resolve of a ref always has one
        raise UsageError(f"{model!r} does not name a registered version.")
    return resolved.name, resolved.version, list(stores)


def _download(store: Store, name: str, version: int, local: Cache) -> Manifest:
    key = manifest_key(name, version)
    try:
        data = store.read(key)
    except FileNotFoundError:
        raise FileNotFoundError(f"no manifest at {store.url}/{key}") from None
    manifest = parse_manifest(data, f"{store.url}/{key}")
    if (manifest.name, manifest.version) != (name, version):
        raise IntegrityError(f"{store.url}/{key} describes {manifest.name}:{manifest.version}")
    todo = [(s, n) for s, n in manifest.blobs.items() if not local.has_blob(s, n)]

    def one(sha: str, size: int) -> None:
        # One GET per blob (a metadata request first would double the round trips).
        try:
            local.admit(store.chunks(blob_key(sha), size), sha, f"{store.url}/{blob_key(sha)}")
        except FileNotFoundError:
            raise FileNotFoundError(f"blob {blob_key(sha)} is missing") from None

    with ThreadPoolExecutor(max_workers=DOWNLOADS_PER_STORE) as pool:
        for done in [pool.submit(one, sha, size) for sha, size in todo]:
            done.result()
    return manifest
