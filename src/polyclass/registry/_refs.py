"""Names, aliases and references: ``name``, ``name:3``, ``name:latest``, ``name@production``."""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Literal

from polyclass.registry._errors import InvalidNameError

#: A model name or alias: letters, digits, '.', '_', '-', starting with a letter or digit
#: (names are directory names, so '.', '..' and hidden names are refused).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REF = re.compile(r"(?P<name>[^:@]+)(?:(?P<sep>[:@])(?P<tail>.*))?")


def validate_name(name: object, what: str = "model name") -> str:
    """Return ``name`` if it is a valid model name (or alias), else raise InvalidNameError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"Invalid {what} {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (for example 'penguins' or 'churn-v2')."
        )
    return name


def validate_version(version: object) -> int:
    """Return ``version`` as an int if it is a whole number (not a bool), else raise."""
    if isinstance(version, bool) or not isinstance(version, numbers.Integral):
        raise InvalidNameError(f"version must be a whole number, got {version!r}.")
    return int(version)


def validate_alias(alias: object) -> str:
    """Return ``alias`` if valid: a name that is not all digits and not ``latest``."""
    alias = validate_name(alias, "alias")
    if alias.isdigit() or alias == "latest":
        raise InvalidNameError(
            f"Invalid alias {alias!r}: an alias may not be a number or 'latest', which would "
            "read like a version. Choose a word such as 'production' or 'staging'."
        )
    return alias


@dataclass(frozen=True)
class Ref:
    """A parsed registry reference."""

    name: str
    kind: Literal["latest", "version", "alias"]
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.kind == "version":
            return f"{self.name}:{self.version}"
        if self.kind == "alias":
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str) -> Ref:
    """Parse ``name``, ``name:latest``, ``name:VERSION`` or ``name@ALIAS``.

    Examples
    --------
    >>> parse_ref("penguins@production")
    Ref(name='penguins', kind='alias', version=None, alias='production')
    """
    match = _REF.fullmatch(ref)
    hint = "Write NAME, NAME:VERSION (e.g. penguins:3), NAME:latest or NAME@ALIAS."
    if match is None:
        raise InvalidNameError(f"Invalid model reference {ref!r}. {hint}")
    name = validate_name(match["name"])
    sep, tail = match["sep"], match["tail"]
    if sep is None:
        return Ref(name, "latest")
    if sep == ":":
        if tail == "latest":
            return Ref(name, "latest")
        if tail.isdigit() and tail.isascii() and int(tail) >= 1:
            return Ref(name, "version", version=int(tail))
        raise InvalidNameError(
            f"Invalid version {tail!r} in {ref!r}: versions are whole numbers from 1. {hint}"
        )
    return Ref(name, "alias", alias=validate_alias(tail))
