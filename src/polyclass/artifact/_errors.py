"""The one error class of the artifact package."""

from __future__ import annotations

from pathlib import Path


class ArtifactError(Exception):
    """An artifact directory cannot be written or read as asked.

    The message names the file, what was expected, what was found, and the fix.

    Parameters
    ----------
    message : str
        The sentence shown to a person.
    path : pathlib.Path, optional
        The file or directory the problem is about.
    """

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path
