"""A store is a URL; ``Store`` is its fsspec file system with atomic writes and clear errors.

Credentials and endpoints come only from each cloud's standard mechanisms (environment,
profiles, connection strings), which the cloud libraries read themselves; this module
never reads, stores or prints one.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from polyclass.cloud._errors import StoreError, UsageError
from polyclass.cloud._secrets import CREDENTIAL_HINTS, ENDPOINT_HINTS, redact_url, scrub

#: URL scheme -> (cloud name, fsspec protocol).
SCHEMES = {
    "s3": ("s3", "s3"),
    "gs": ("gcs", "gcs"),
    "gcs": ("gcs", "gcs"),
    "az": ("azure", "az"),
    "abfs": ("azure", "az"),
    "file": ("file", "file"),
}
#: Objects up to this size are read with one GET; larger ones are streamed in such blocks.
_WHOLE = 64 << 20
_EXTRA = {"s3": "s3fs", "gcs": "gcsfs", "az": "adlfs"}
_MISSING_BUCKET = (
    "nosuchbucket",
    "bucket does not exist",
    "containernotfound",
    "container does not exist",
    "no such bucket",
)
_REFUSED = (
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "authenticationfailed",
    "authorizationfailure",
    "accessdenied",
    "access denied",
    "forbidden",
    "invalid_grant",
    "unauthorized",
    "nocredentials",
    "unable to locate credentials",
    "expiredtoken",
    "permission",
)
_UNREACHABLE = (
    "connection refused",
    "cannot connect",
    "connecterror",
    "could not connect",
    "connection reset",
    "name or service not known",
    "nodename nor servname",
    "timed out",
    "timeout",
    "server disconnected",
    "connection aborted",
    "endpointconnectionerror",
    "serviceunavailable",
    "max retries exceeded",
)


def split_url(url: str) -> tuple[str, str, str]:
    """Return ``(cloud, protocol, root)`` for a store URL, or raise UsageError.

    This is the one check of a store URL: a known scheme, a bucket, and no user,
    password, query or fragment (credentials come only from the cloud's standard
    mechanisms). Every refusal shows the URL through :func:`redact_url`. ``root`` is the
    path fsspec uses: ``bucket/prefix`` for object stores, an absolute directory for
    ``file://``.
    """
    if not isinstance(url, str) or "://" not in url:
        raise UsageError(
            f"Invalid store URL {redact_url(url)!r}: write s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, "
            "az://CONTAINER/PREFIX or file:///ABSOLUTE/PATH."
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        named = f"{scheme!r} " if scheme.isascii() and scheme.isalnum() else ""
        raise UsageError(
            f"Unknown store scheme {named}in {redact_url(url)!r}: use one of s3, gs, az or file."
        )
    # '@' anywhere: a secret key may hold '/', which would end urlsplit's user part early
    if "@" in url or "?" in url or "#" in url:
        raise UsageError(
            f"Store URL {redact_url(url)!r} carries credentials or options; give the bare URL "
            "and set credentials the cloud's standard way "
            f"({CREDENTIAL_HINTS[SCHEMES[scheme][0]]})."
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unbalanced '[' (IPv6) in the host
        raise UsageError(f"Invalid store URL {redact_url(url)!r}: {exc}.") from None
    cloud, protocol = SCHEMES[scheme]
    if protocol == "file":
        root = os.path.abspath(os.path.expanduser(parts.netloc + parts.path))
        return cloud, protocol, root.rstrip("/") or "/"
    bucket = parts.netloc
    if not bucket:
        raise UsageError(f"Store URL {url!r} names no bucket: write {scheme}://BUCKET/PREFIX.")
    root = "/".join(p for p in [bucket, *parts.path.split("/")] if p)
    return cloud, protocol, root


#: The variables that decide a file system's credentials and endpoint, per protocol.
_ENVIRONMENT = {
    "s3": (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_MAX_ATTEMPTS",
    ),
    "gcs": ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"),
    "az": (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
    ),
    "file": (),
}
_FILESYSTEMS: dict[tuple[str, ...], Any] = {}
_LOCK = threading.Lock()


def _filesystem(protocol: str) -> Any:
    """One file system per protocol and credential environment (a new one when it changes)."""
    import fsspec

    key = (protocol, *(os.environ.get(v, "") for v in _ENVIRONMENT[protocol]))
    with _LOCK:
        if key not in _FILESYSTEMS:
            try:
                _FILESYSTEMS[key] = _tune(
                    fsspec.filesystem(protocol, skip_instance_cache=True, **_options(protocol))
                )
            except ImportError as exc:
                raise StoreError(
                    f"No library for {protocol}:// stores ({exc}). Install it: pip install "
                    f"'polyclass[cloud]' (or pip install {_EXTRA.get(protocol, 'fsspec')}).",
                    transient=False,
                ) from None
        return _FILESYSTEMS[key]


def _options(protocol: str) -> dict[str, Any]:
    """Arguments a file system needs beyond what its library reads from the environment.

    With ``STORAGE_EMULATOR_HOST`` and no ``GOOGLE_APPLICATION_CREDENTIALS``, GCS requests
    go unauthenticated, as Google's own client does there; gcsfs would first try every
    credential source, probing the GCE metadata server, which waits seconds off GCE.
    """
    if (
        protocol == "gcs"
        and os.environ.get("STORAGE_EMULATOR_HOST")
        and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    ):
        return {"token": "anon"}
    return {}


def _tune(fs: Any) -> Any:
    """Shorten the Azure SDK's retry backoff (15 s, x3), which waits ~80 s on a store that
    is down before the next store can be tried."""
    policy = getattr(
        getattr(getattr(fs, "service_client", None), "_config", None), "retry_policy", None
    )
    if policy is not None and hasattr(policy, "initial_backoff"):
        policy.initial_backoff, policy.increment_base, policy.random_jitter_range = 0.5, 2, 0.5
        for attempts in ("total_retries", "connect_retries", "read_retries", "status_retries"):
            setattr(policy, attempts, 2)
    return fs


class Store:
    """One store: an fsspec file system and a root path inside it.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``az://container/prefix`` or
        ``file:///path``.
    """

    def __init__(self, url: str) -> None:
        self.cloud, self.protocol, self.root = split_url(url)
        scheme = url.split("://", 1)[0].lower()
        self.url = f"file://{self.root}" if self.protocol == "file" else f"{scheme}://{self.root}"
        self._fs: Any = None
        # s3fs asks for an object's size (a HEAD) before every whole read unless told to
        # read it in one GET; the callers know the size, so the HEAD is a wasted round trip.
        self._one_get: dict[str, Any] = {"max_concurrency": 1} if self.protocol == "s3" else {}

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def fs(self) -> Any:
        """The fsspec file system, created on first use."""
        if self._fs is None:
            self._fs = _filesystem(self.protocol)
        return self._fs

    def path(self, key: str) -> str:
        """The file system path of ``key`` (a '/'-separated name under the root)."""
        return f"{self.root}/{key}" if key else self.root

    # ------------------------------------------------------------------ reads
    def read(self, key: str) -> bytes:
        """The whole object ``key``; FileNotFoundError when it is absent."""
        with self.errors():
            data: bytes = self.fs.cat_file(self.path(key), **self._one_get)
            return data

    def open(self, key: str) -> IO[bytes]:
        """A binary stream of ``key``, for reading in chunks."""
        with self.errors():
            handle: IO[bytes] = self.fs.open(self.path(key), "rb", block_size=8 << 20)
            return handle

    def chunks(self, key: str, size: int) -> Iterator[bytes]:
        """The bytes of ``key`` in order: one GET when ``size`` fits in memory, else
        blocks of that size; FileNotFoundError when it is absent."""
        with self.errors():
            if size <= _WHOLE:  # one GET is the fastest read
                yield self.fs.cat_file(self.path(key), **self._one_get)
                return
            with self.fs.open(self.path(key), "rb", block_size=_WHOLE, cache_type="none") as f:
                while chunk := f.read(_WHOLE):
                    yield chunk

    def sizes(self, folder: str) -> dict[str, int]:
        """Name -> size of the objects directly in ``folder`` ({} when it is absent)."""
        with self.errors():
            try:
                entries = self.fs.ls(self.path(folder), detail=True, refresh=True)
            except FileNotFoundError as exc:
                self._raise_if_no_bucket(exc)
                return {}
        return {
            e["name"].rstrip("/").rsplit("/", 1)[-1]: int(e.get("size") or 0)
            for e in entries
            if e.get("type") == "file"
        }

    # ------------------------------------------------------------------ writes
    def write(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key``; a reader sees the old object or the new, never a part."""
        with self.errors(writing=True):
            if self.protocol == "file":
                self._local_atomic(key, lambda tmp: Path(tmp).write_bytes(data))
            else:  # one PUT (or a multipart upload) becomes visible only when complete
                self.fs.pipe_file(self.path(key), data)

    def put_file(self, local: Path, key: str, callback: Any = None) -> None:
        """Upload the local file ``local`` to ``key``, atomically as :meth:`write`."""
        with self.errors(writing=True):
            if self.protocol == "file":
                self._local_atomic(key, lambda tmp: _copy(local, Path(tmp), callback))
            elif callback is None:
                self.fs.put_file(str(local), self.path(key))
            else:
                self.fs.put_file(str(local), self.path(key), callback=callback)

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is absent)."""
        with self.errors():
            try:
                self.fs.rm_file(self.path(key))
            except FileNotFoundError:
                pass

    def check(self) -> None:
        """Raise StoreError unless the bucket (or directory) can be listed."""
        self.sizes("")

    def _local_atomic(self, key: str, fill: Callable[[str], object]) -> None:
        target = Path(self.path(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            fill(tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ errors
    def _raise_if_no_bucket(self, exc: BaseException) -> None:
        text = _chain_text(exc).lower()
        if self.protocol == "file":
            if not Path(self.root).is_dir():
                raise StoreError(
                    f"Store {self.url}: the directory does not exist. Create it "
                    f"(mkdir -p {self.root}) or fix the URL.",
                    url=self.url,
                    transient=False,
                ) from None
            return
        if any(word in text for word in _MISSING_BUCKET) or not self.fs.exists(
            self.root.split("/", 1)[0]
        ):
            raise self._no_bucket() from None

    def _no_bucket(self) -> StoreError:
        bucket = self.root.split("/", 1)[0]
        what = "container" if self.cloud == "azure" else "bucket"
        return StoreError(
            f"Store {self.url}: the {what} {bucket!r} does not exist (or these credentials "
            f"cannot see it). Create it or fix the URL; credentials come from "
            f"{CREDENTIAL_HINTS[self.cloud]}.",
            url=self.url,
            transient=False,
        )

    @contextmanager
    def errors(self, *, writing: bool = False) -> Iterator[None]:
        """Turn the cloud libraries' errors into StoreError naming this store and the fix.

        FileNotFoundError for an object being read passes through: callers decide what
        absent means. A write never expects one: there it means no bucket.
        """
        try:
            yield
        except StoreError:
            raise
        except FileNotFoundError as exc:
            if writing or any(word in _chain_text(exc).lower() for word in _MISSING_BUCKET):
                raise self._no_bucket() from None
            raise
        except Exception as exc:
            raise self.describe(exc) from None

    def describe(self, exc: BaseException) -> StoreError:
        """A StoreError for ``exc``: what went wrong at which store, and what to check."""
        text = _chain_text(exc)
        lowered = text.lower()
        reason = scrub(_first_line(text))
        if any(word in lowered for word in _MISSING_BUCKET):
            return self._no_bucket()
        if isinstance(exc, PermissionError) or any(word in lowered for word in _REFUSED):
            return StoreError(
                f"Store {self.url} refused the credentials ({reason}). Check "
                f"{CREDENTIAL_HINTS[self.cloud]}.",
                url=self.url,
                transient=False,
            )
        if isinstance(exc, ConnectionError | TimeoutError) or any(
            word in lowered for word in _UNREACHABLE
        ):
            return StoreError(
                f"Store {self.url} cannot be reached ({reason}). Check "
                f"{ENDPOINT_HINTS[self.cloud]}.",
                url=self.url,
            )
        if self.protocol == "file" and isinstance(exc, NotADirectoryError | IsADirectoryError):
            # running again meets the same thing in the way
            return StoreError(
                f"Store {self.url}: a file stands where the store needs a directory, or a "
                f"directory where it needs a file ({reason}). Move it away or fix the URL.",
                url=self.url,
                transient=False,
            )
        return StoreError(f"Store {self.url} failed: {reason}", url=self.url)


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line if len(line) <= 300 else line[:297] + "..."


def _copy(source: Path, target: Path, callback: Any) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(8 << 20):
            dst.write(chunk)
            if callback is not None:
                callback.relative_update(len(chunk))


def temporary_key(key: str) -> str:
    """A unique sibling name for ``key``, for writes that must not be seen half-done."""
    return f"{key}.tmp-{uuid.uuid4().hex}"


def write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` to the object at ``url``; readers see the old bytes or all the new.

    Parameters
    ----------
    url : str
        ``s3://bucket/key``, ``gs://bucket/key``, ``az://container/key`` or ``file:///path``.
    data : bytes
        The whole object.

    Raises
    ------
    StoreError
        The store cannot be reached, refuses the credentials or has no such bucket; the
        message names the URL and what to check, never a credential.

    Examples
    --------
    >>> import tempfile
    >>> url = "file://" + tempfile.mkdtemp() + "/backup.json"
    >>> write_bytes(url, b"{}")
    >>> read_bytes(url)
    b'{}'
    """
    store, key = _object(url)
    store.write(key, bytes(data))


def read_bytes(url: str) -> bytes:
    """Read the whole object at ``url``.

    Raises
    ------
    FileNotFoundError
        No object at ``url``.
    StoreError
        As :func:`write_bytes`.
    """
    store, key = _object(url)
    try:
        return store.read(key)
    except FileNotFoundError:
        raise FileNotFoundError(f"No object at {store.url}/{key}.") from None


def _object(url: str) -> tuple[Store, str]:
    split_url(url)  # the whole URL: a query after the object's name is refused too
    head, sep, key = url.rstrip("/").rpartition("/")
    if not sep or not key or head.endswith(":/") or head.endswith("://"):
        raise UsageError(
            f"URL {redact_url(url)!r} names no object: write s3://BUCKET/KEY (and the like "
            "for gs://, az://, file://)."
        )
    return Store(head), key
