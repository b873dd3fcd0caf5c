"""What goes wrong with a store, as exceptions that name the store and the fix."""

from __future__ import annotations


class CloudError(Exception):
    """Base class of every ``polyclass.cloud`` error."""


class StoreError(CloudError):
    """A store cannot be read or written: unreachable, refused credentials, no bucket.

    The message names the store's URL (never a credential) and what to check.
    ``transient`` is False when only a fix (a bucket, a credential, a library) helps,
    not a second try.
    """

    def __init__(self, message: str, *, url: str = "", transient: bool = True) -> None:
        super().__init__(message)
        self.url = url
        self.transient = transient


class IntegrityError(CloudError):
    """Bytes read from a store do not hash to what the manifest records."""


class UsageError(CloudError, ValueError):
    """A bad argument: a malformed URL, an unknown scheme, a bad stores file."""
