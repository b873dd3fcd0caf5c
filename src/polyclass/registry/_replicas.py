"""Replica records and residency restrictions: validation and the SQL behind them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from polyclass.registry import _queries as q
from polyclass.registry import _schema as schema
from polyclass.registry._base import ATTEMPTS, RegistryBase
from polyclass.registry._errors import InvalidNameError, ResidencyError
from polyclass.registry._lineage import now
from polyclass.registry._refs import validate_name, validate_version
from polyclass.registry._types import REPLICA_STATUSES, Replica

_TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_CLOUD = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def store_url(url: object) -> str:
    """Check a store URL: ``scheme://...``, no credentials in it, at most 1024 characters.

    A refused URL is shown through ``polyclass.cloud.redact_url``, as every store URL
    in a message is.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidNameError(
            f"A replica's url must be a store URL such as s3://bucket/prefix or "
            f"file:///path, got {_shown(url)!r}."
        )
    if "@" in url:  # anywhere: a secret key may hold '/', which ends urlsplit's netloc
        raise InvalidNameError(
            f"The store URL {_shown(url)} carries credentials; the "
            "registry never stores them. Pass the URL without user or password and give "
            "credentials through the cloud's own mechanism (environment or profile)."
        )
    if "?" in url or "#" in url:
        raise InvalidNameError(
            f"The store URL {_shown(url)} has a query or "
            "fragment, which may carry a credential (a SAS token, a signature); the "
            "registry never stores them. Pass the URL without '?...' or '#...'."
        )
    if len(url) > 1024 or any(c.isspace() for c in url):
        raise InvalidNameError(
            f"A store URL must be at most 1024 characters without spaces, got "
            f"{_shown(url[:200])!r} ({len(url)} characters)."
        )
    return url


def _shown(url: object) -> str:
    """``url`` without user, password, query or fragment, as every message shows one."""
    from polyclass.cloud import redact_url

    return redact_url(url)


def residency_tag(tag: object, what: str = "residency") -> str:
    """A residency tag such as ``eu`` or ``us-east``, lower-cased."""
    if not isinstance(tag, str) or not _TAG.fullmatch(tag.lower()):
        raise InvalidNameError(
            f"A {what} tag is 1-32 letters, digits, '.', '_' or '-' (e.g. 'eu', 'us'), got {tag!r}."
        )
    return tag.lower()


def _optional(value: object, pattern: re.Pattern[str], what: str, example: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidNameError(
            f"A replica's {what} must be a short name of letters, digits, '.', '_' or '-' "
            f"(e.g. {example!r}), got {value!r}."
        )
    return value


def _timestamp(value: object) -> str | None:
    if value is None:
        return None
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidNameError(
            f"verified_at must be a timezone-aware datetime or ISO 8601 text with a zone "
            f"(e.g. '2026-12-07T13:00:00Z'), or None; got {value!r}."
        )
    stamp = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def replica_values(
    *,
    url: object,
    cloud: object,
    region: object,
    residency: object,
    status: object,
    verified_at: object,
) -> dict[str, Any]:
    """The validated columns of one replica record (without its name and version)."""
    if status not in REPLICA_STATUSES:
        raise InvalidNameError(
            f"A replica's status must be one of {', '.join(REPLICA_STATUSES)}; got {status!r}."
        )
    if not isinstance(cloud, str) or not _CLOUD.fullmatch(cloud):
        raise InvalidNameError(
            "A replica's cloud must be a short lower-case name (e.g. 'aws', 'gcp', "
            f"'azure', 'local'), got {cloud!r}."
        )
    return {
        "url": store_url(url),
        "cloud": cloud,
        "region": _optional(region, _REGION, "region", "eu-west-1"),
        "residency": None if residency is None else residency_tag(residency),
        "status": status,
        "verified_at": _timestamp(verified_at),
        "recorded_at": now(),
    }


def residencies_of(conn: Connection, name: str) -> list[str] | None:
    """The residencies ``name`` is restricted to (sorted), or None when unrestricted."""
    r = schema.residencies
    tags = list(conn.execute(select(r.c.residency).where(r.c.name == name)).scalars())
    return sorted(tags) or None


def check_residency(conn: Connection, name: str, residency: str | None, url: str) -> None:
    """Refuse a store whose residency is outside the ones ``name`` is restricted to."""
    allowed = residencies_of(conn, name)
    if allowed is None or residency in allowed:
        return
    have = "has no residency tag" if residency is None else f"has residency {residency!r}"
    raise ResidencyError(
        f"Model {name!r} is restricted to residencies {', '.join(allowed)}, but the store "
        f"{url} {have}. Use a store tagged {' or '.join(allowed)}, or change the model's "
        f"residencies (Registry.set_residencies)."
    )


def write_residencies(conn: Connection, name: str, tags: Iterable[str] | None) -> None:
    r = schema.residencies
    conn.execute(delete(r).where(r.c.name == name))
    for tag in sorted(set(tags or ())):
        conn.execute(insert(r).values(name=name, residency=tag))


def upsert_replica(conn: Connection, name: str, version: int, values: dict[str, Any]) -> None:
    r = schema.replicas
    key = (r.c.name == name, r.c.version == version, r.c.url == values["url"])
    if conn.execute(select(r.c.url).where(*key)).first() is None:
        conn.execute(insert(r).values(name=name, version=version, **values))
    else:
        conn.execute(update(r).where(*key).values(**values))


def replicas_of(conn: Connection, name: str, version: int | None = None) -> list[Replica]:
    r = schema.replicas
    query = select(r).where(r.c.name == name)
    if version is not None:
        query = query.where(r.c.version == version)
    return [to_replica(row) for row in conn.execute(query.order_by(r.c.version, r.c.url))]


def to_replica(row: Row[Any]) -> Replica:
    return Replica(
        name=row.name,
        version=row.version,
        url=row.url,
        cloud=row.cloud,
        region=row.region,
        residency=row.residency,
        status=row.status,
        verified_at=row.verified_at,
        recorded_at=row.recorded_at,
    )


class ReplicaMethods(RegistryBase):
    """The registry's replica records and residency restrictions; see ``Registry``."""

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
        >>> from polyclass.registry import Registry
        >>> tmp = tempfile.mkdtemp()
        >>> art = save_artifact(tmp + "/art", {}, {})
        >>> with Registry(tmp + "/reg") as registry:
        ...     _ = registry.register("demo", art)
        ...     registry.record_replica(
        ...         "demo", 1, url="s3://models/demo", cloud="aws", status="ok"
        ...     ).status
        'ok'
        """
        name, version = validate_name(name), validate_version(version)
        values = replica_values(
            url=url,
            cloud=cloud,
            region=region,
            residency=residency,
            status=status,
            verified_at=verified_at,
        )
        for attempt in range(ATTEMPTS):
            try:
                with self._write() as conn:
                    q.get_version(conn, self.root, name, version)
                    check_residency(conn, name, values["residency"], values["url"])
                    upsert_replica(conn, name, version, values)
                    stored = replicas_of(conn, name, version)
                    return next(r for r in stored if r.url == values["url"])
            except SQLIntegrityError:
                if attempt == ATTEMPTS - 1:  # the same URL recorded concurrently
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def replicas(self, name: str, version: int | None = None) -> list[Replica]:
        """The recorded replicas of ``name`` (or of one version), by version then URL."""
        name = validate_name(name)
        number = None if version is None else validate_version(version)
        with self._read() as conn:
            if number is None:
                q.require_model(conn, name)
            else:
                q.get_version(conn, self.root, name, number)
            return replicas_of(conn, name, number)

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
