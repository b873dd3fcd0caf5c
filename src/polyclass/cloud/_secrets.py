"""Keep credentials out of every message: the variables each cloud reads, a scrubber, and
the one way a store URL is shown."""

from __future__ import annotations

import os
import re

#: Where each cloud's libraries look for credentials, named in errors as what to check.
CREDENTIAL_HINTS = {
    "s3": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS (or gcloud auth application-default login)",
    "azure": "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME with "
    "AZURE_STORAGE_ACCOUNT_KEY, or DefaultAzureCredential's AZURE_CLIENT_ID/AZURE_TENANT_ID)",
    "file": "the file permissions of the directory",
}
#: Where each cloud's libraries look for the endpoint, named when a store cannot be reached.
ENDPOINT_HINTS = {
    "s3": "AWS_ENDPOINT_URL (unset for AWS itself) and your network",
    "gcs": "STORAGE_EMULATOR_HOST (unset for Google Cloud itself) and your network",
    "azure": "the BlobEndpoint in AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME) "
    "and your network",
    "file": "that the directory exists and is mounted",
}
_SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CLIENT_SECRET",
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# Key material that can appear inside a library's message even when no variable holds it.
_PATTERNS = (
    re.compile(r"(AccountKey=)[^;\s'\"]+", re.IGNORECASE),
    re.compile(r"(SharedAccessSignature=)[^;\s'\"]+", re.IGNORECASE),
    re.compile(r"([?&]sig=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(Signature=)[^,&\s'\"]+"),
    re.compile(r"(Credential=)[^,&/\s'\"]+"),
    re.compile(r"(\"private_key\"\s*:\s*\")[^\"]+"),
)


def scrub(text: str) -> str:
    """Return ``text`` with every credential this process can see replaced by ``***``."""
    for name in _SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
            # A connection string's parts can show up alone.
            for part in value.split(";"):
                _, _, secret = part.partition("=")
                if len(secret) >= 8 and part.split("=", 1)[0].lower().endswith(
                    ("key", "signature")
                ):
                    text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def redact_url(url: object) -> str:
    """Return a store URL as messages, logs, the registry and JSON may show it.

    The scheme and location stay; a user or password becomes ``***@`` and a query or
    fragment ``?***`` / ``#***``, whatever its keys: ``s3://KEY:SECRET@bucket/pc?token=T``
    is shown ``s3://***@bucket/pc?***``. Everything up to the last ``@`` counts as
    credentials, because a secret key may itself hold ``/``, ``?`` or ``#``.

    Parameters
    ----------
    url : object
        The URL as given (anything else is shown as its ``repr``, scrubbed).

    Returns
    -------
    str
        The URL without credentials or options, also passed through :func:`scrub`.

    Examples
    --------
    >>> redact_url("s3://AKIA:s3cr3t@bucket/pc?X-Amz-Security-Token=t0k")
    's3://***@bucket/pc?***'
    """
    if not isinstance(url, str):
        return scrub(repr(url))
    scheme, sep, rest = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        scheme, sep, rest = "", "", url
    user = "***@" if "@" in rest else ""
    rest = rest.rpartition("@")[2]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    options = rest[cut : cut + 1] + "***" if cut < len(rest) else ""
    return scrub(f"{scheme}{sep}{user}{rest[:cut]}{options}")
