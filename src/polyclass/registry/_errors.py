"""Registry errors: each names the problem, what exists, and the fix."""

from __future__ import annotations

from collections.abc import Sequence


class RegistryError(Exception):
    """Base class of every error the model registry raises."""


class InvalidNameError(RegistryError, ValueError):
    """A model name, alias or reference is not well formed."""


class UnknownModelError(RegistryError, LookupError):
    """No model of that name is registered.

    Attributes
    ----------
    name : str
        The name asked for.
    known : list of str
        The registered model names.
    """

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        listing = ", ".join(self.known) if self.known else "none yet"
        super().__init__(
            f"No model named {name!r} in the registry. Known models: {listing}. "
            "Register one with polyclass train, or check the --registry URL."
        )


class UnknownVersionError(RegistryError, LookupError):
    """The model exists but not with that version.

    Attributes
    ----------
    name : str
        The model name.
    version : int or None
        The version asked for (None when the latest was asked for and none exists).
    versions : list of int
        The versions that exist.
    """

    def __init__(self, name: str, version: int | None, versions: Sequence[int]) -> None:
        self.name = name
        self.version = version
        self.versions = list(versions)
        if not self.versions:
            message = (
                f"Model {name!r} has no versions left (all were deleted). Register a new "
                "one with polyclass train."
            )
        else:
            listing = ", ".join(map(str, self.versions))
            message = (
                f"Model {name!r} has no version {version}. Its versions: {listing}. "
                f"Use one of them, e.g. {name}:{self.versions[-1]}."
            )
        super().__init__(message)


class UnknownAliasError(RegistryError, LookupError):
    """The model has no alias of that name.

    Attributes
    ----------
    name : str
        The model name.
    alias : str
        The alias asked for.
    aliases : dict of str to int
        The model's aliases and the versions they point to.
    """

    def __init__(self, name: str, alias: str, aliases: dict[str, int]) -> None:
        self.name = name
        self.alias = alias
        self.aliases = dict(aliases)
        listing = (
            ", ".join(f"{a} -> {v}" for a, v in sorted(self.aliases.items()))
            if self.aliases
            else "none"
        )
        super().__init__(
            f"Model {name!r} has no alias {alias!r}. Its aliases: {listing}. Set one with "
            f"polyclass registry alias {name} {alias} VERSION."
        )


class AliasInUseError(RegistryError):
    """A version cannot be deleted while aliases point to it."""


class RollbackError(RegistryError):
    """An alias has no earlier version to move back to."""


class ArchiveError(RegistryError):
    """An export archive is malformed, altered or cannot be written."""


class IntegrityError(RegistryError):
    """Stored artifact files no longer match what was registered."""


class ResidencyError(RegistryError):
    """A store's residency is outside the residencies a model is restricted to."""
