"""Bearer tokens and the request-size limit.

Tokens come from a file (``--token-file``): one per line, blank lines and ``#``
comments ignored. When tokens are set, admin and feedback routes need
``Authorization: Bearer <token>``; every stored token is compared in constant time
(``hmac.compare_digest``), so the answer's timing does not tell how much matched.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from polyclass.serve._errors import RequestError

__all__ = ["MAX_BODY_BYTES", "Tokens", "read_tokens"]

#: Default request-size limit: bodies above it are answered 413.
MAX_BODY_BYTES = 10 * 1024 * 1024


def read_tokens(path: str | Path) -> list[str]:
    """The tokens in ``path``, or a ValueError naming the problem and the fix.

    Examples
    --------
    >>> import tempfile, os
    >>> fd, name = tempfile.mkstemp(); _ = os.write(fd, b"# ops\\ns3cret-token-1\\n"); os.close(fd)
    >>> read_tokens(name)
    ['s3cret-token-1']
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(
            f"Cannot read the token file {file}: {exc.strerror}. Give a file "
            "with one token per line."
        ) from None
    tokens = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if not tokens:
        raise ValueError(
            f"The token file {file} holds no token. Put one token per line "
            "(at least 16 characters), or drop --token-file."
        )
    short = [i + 1 for i, t in enumerate(tokens) if len(t) < 16 or any(c.isspace() for c in t)]
    if short:
        raise ValueError(
            f"Token(s) on line(s) {short} of {file} are shorter than 16 "
            "characters or contain spaces; use long random tokens (for example "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
        )
    return tokens


class Tokens:
    """The accepted bearer tokens; empty means no route needs one."""

    def __init__(self, tokens: list[str] | None = None) -> None:
        self._tokens = [t.encode("utf-8") for t in tokens or []]

    @property
    def enabled(self) -> bool:
        """Whether tokens are required on protected routes."""
        return bool(self._tokens)

    def check(self, authorization: str | None) -> None:
        """Pass, or raise a 401 RequestError when tokens are set and none matches."""
        if not self._tokens:
            return
        scheme, _, given = (authorization or "").strip().partition(" ")
        if not scheme:
            raise RequestError(
                401,
                "This route needs a token: send the header 'Authorization: Bearer <token>'.",
                ["header", "authorization"],
            )
        if scheme.lower() != "bearer" or not given.strip():
            raise RequestError(
                401,
                "The token must follow the 'Bearer ' scheme (it is missing, or no token "
                "follows it): send the header 'Authorization: Bearer <token>'.",
                ["header", "authorization"],
            )
        candidate = given.strip().encode("utf-8")
        matched = False
        for token in self._tokens:  # compare with every token, always
            matched |= hmac.compare_digest(candidate, token)
        if not matched:
            raise RequestError(
                401, "The bearer token is not valid for this server.", ["header", "authorization"]
            )
