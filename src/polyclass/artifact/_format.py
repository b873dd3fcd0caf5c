"""What an artifact directory is: names, the format version, and the loaded result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

#: The format version :func:`save_artifact` writes.
FORMAT_VERSION = 1
#: The manifest file of every artifact directory.
MANIFEST_NAME = "model.json"
#: The value of the ``format`` key, so a stray model.json is not mistaken for ours.
FORMAT_MARKER = "polyclass-artifact"
#: Array names double as file names: letters, digits, ``.``, ``_``, ``-``; no leading dot.
ARRAY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: dtype kinds an artifact may hold: bool, integers, floats, complex, times, str, bytes.
ALLOWED_KINDS = frozenset("biufcmMUS")


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: the caller's metadata and its verified arrays.

    Attributes
    ----------
    path : pathlib.Path
        The artifact directory.
    format_version : int
        The format version the directory was written in.
    metadata : dict
        The JSON metadata given to :func:`save_artifact`.
    arrays : dict of str to numpy.ndarray
        Every array, checked against its recorded sha256, dtype and shape.
    written_by : dict of str to str
        Library versions of the writer (``polyclass``, ``numpy``, ``python``).
    created_at : str
        When the artifact was written, UTC ISO 8601.
    """

    path: Path
    format_version: int
    metadata: dict[str, Any]
    arrays: dict[str, NDArray[Any]] = field(repr=False)
    written_by: dict[str, str] = field(default_factory=dict)
    created_at: str = ""

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in self.arrays.items())
        return (
            f"Artifact(path={str(self.path)!r}, format_version={self.format_version}, "
            f"arrays=[{shapes}])"
        )
