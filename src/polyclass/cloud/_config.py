"""Where stores are: a TOML stores file (URL -> cloud, region, residency) and/or flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from polyclass.cloud._errors import UsageError
from polyclass.cloud._secrets import redact_url
from polyclass.cloud._stores import split_url

ENV_STORES = "POLYCLASS_STORES"
#: The cloud recorded for a store when the stores file does not name one.
DEFAULT_CLOUD = {"s3": "aws", "gcs": "gcp", "azure": "azure", "file": "local"}
_KEYS = {"cloud", "region", "residency"}


@dataclass(frozen=True)
class StoreSpec:
    """A store URL and what the registry records about it."""

    url: str
    cloud: str
    region: str | None = None
    residency: str | None = None


def spec(
    url: str, *, cloud: str | None = None, region: str | None = None, residency: str | None = None
) -> StoreSpec:
    """A StoreSpec for ``url``, its cloud guessed from the scheme when not given."""
    kind = split_url(url)[0]
    return StoreSpec(url.rstrip("/"), cloud or DEFAULT_CLOUD[kind], region, residency)


def read_stores_file(path: str | Path | None = None) -> dict[str, StoreSpec]:
    """Read a stores file (default ``$POLYCLASS_STORES``; none -> no stores).

    The file maps each URL to its cloud, region and residency::

        [stores."s3://models-eu/polyclass"]
        region = "eu-west-1"
        residency = "eu"
    """
    if path is None:
        path = os.environ.get(ENV_STORES) or None
    if path is None:
        return {}
    file = Path(path).expanduser()
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"Cannot read the stores file {file}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"The stores file {file} is not valid TOML: {exc}.") from None
    stores = document.get("stores")
    if not isinstance(stores, dict) or set(document) - {"stores"}:
        raise UsageError(
            f'The stores file {file} must hold one [stores."URL"] table per store, with '
            "optional cloud, region and residency keys."
        )
    return {url.rstrip("/"): _entry(file, url, values) for url, values in stores.items()}


def _entry(file: Path, url: str, values: object) -> StoreSpec:
    if (
        not isinstance(values, Mapping)
        or set(values) - _KEYS
        or not all(isinstance(v, str) and v for v in values.values())
    ):
        raise UsageError(
            f'{file}: [stores."{redact_url(url)}"] may only set cloud, region and residency, as '
            "non-empty strings."
        )
    try:
        return spec(url, **dict(values))
    except UsageError as exc:
        raise UsageError(f"{file}: {exc}") from None


def targets(
    urls: Iterable[str],
    known: Mapping[str, StoreSpec],
    *,
    region: str | None = None,
    residency: str | None = None,
) -> list[StoreSpec]:
    """The stores to use: each URL given (flags override the file), else every known store."""
    chosen: list[StoreSpec] = []
    for url in urls or list(known):
        base = known.get(url.rstrip("/")) or spec(url)
        chosen.append(
            StoreSpec(base.url, base.cloud, region or base.region, residency or base.residency)
        )
    if not chosen:
        raise UsageError(
            "No store given: pass --to URL (several allowed) or a stores file "
            f"(--stores-file or ${ENV_STORES})."
        )
    return chosen
