"""The layout of a store: content-addressed blobs and one manifest per model version.

``blobs/<sha256>`` holds a file's bytes, once however many versions share it;
``models/<name>/<version>/manifest.json`` lists a version's files by sha256 and is
written last, so a manifest never points at a blob that is not there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from polyclass.cloud._errors import IntegrityError, UsageError

BLOBS = "blobs"
MANIFEST_FORMAT = "polyclass-replica"
MANIFEST_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_REPLICA = re.compile(
    r"(?P<store>.+)/models/(?P<name>[^/]+)/(?P<version>[0-9]+)(?:/manifest\.json)?/?"
)


def blob_key(sha256: str) -> str:
    """The key of the blob with this sha256."""
    return f"{BLOBS}/{sha256}"


def version_prefix(name: str, version: int) -> str:
    """The folder of one model version in a store."""
    return f"models/{name}/{version}"


def manifest_key(name: str, version: int) -> str:
    """The key of one model version's manifest."""
    return f"{version_prefix(name, version)}/manifest.json"


def split_replica_url(url: str) -> tuple[str, str, int] | None:
    """``(store URL, name, version)`` for ``STORE/models/NAME/VERSION``, else None."""
    match = _REPLICA.fullmatch(url)
    if match is None:
        return None
    return match["store"], match["name"], int(match["version"])


@dataclass(frozen=True)
class FileEntry:
    """One file of a model version: its name in the artifact, sha256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What one model version holds in a store."""

    name: str
    version: int
    files: tuple[FileEntry, ...]
    written_at: str = ""

    @property
    def blobs(self) -> dict[str, int]:
        """sha256 -> size of every distinct blob the version needs."""
        return {f.sha256: f.size for f in self.files}

    @property
    def total_bytes(self) -> int:
        return sum(self.blobs.values())

    def to_bytes(self) -> bytes:
        document = {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "name": self.name,
            "version": self.version,
            "written_at": self.written_at or datetime.now(UTC).isoformat(timespec="seconds"),
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }
        return json.dumps(document, indent=1, sort_keys=True).encode()

    def same_content(self, other: Manifest) -> bool:
        return (self.name, self.version, self.files) == (other.name, other.version, other.files)


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Read and check a manifest; IntegrityError naming ``where`` when it is not one."""

    def bad(detail: str) -> IntegrityError:
        return IntegrityError(
            f"{where} is not a valid replica manifest: {detail}. Run `polyclass cloud "
            "repair` to rewrite it from a good replica."
        )

    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise bad(f"expected format={MANIFEST_FORMAT!r}")
    if document.get("format_version") != MANIFEST_VERSION:
        raise bad(
            f"format_version {document.get('format_version')!r}; this polyclass reads "
            f"{MANIFEST_VERSION} (upgrade polyclass for newer ones)"
        )
    name, version, files = document.get("name"), document.get("version"), document.get("files")
    if not isinstance(name, str) or not isinstance(version, int) or isinstance(version, bool):
        raise bad("'name' must be a string and 'version' a whole number")
    if not isinstance(files, list) or not files:
        raise bad("'files' must be a non-empty list")
    return Manifest(
        name, version, tuple(_entry(f, bad) for f in files), str(document.get("written_at", ""))
    )


def _entry(item: Any, bad: Any) -> FileEntry:
    if not isinstance(item, dict):
        raise bad("every file must be an object with path, sha256 and size")
    path, sha, size = item.get("path"), item.get("sha256"), item.get("size")
    if not isinstance(path, str) or not _FILE.fullmatch(path) or path in {".", ".."}:
        raise bad(f"file name {path!r} is not a plain file name")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise bad(f"{path}: sha256 {sha!r} is not 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise bad(f"{path}: size {size!r} is not a non-negative whole number")
    return FileEntry(path, sha, size)


def check_name(name: str) -> str:
    """A model name is a path segment in a store: refuse anything that is not plain."""
    if not _FILE.fullmatch(name) or name in {".", ".."}:
        raise UsageError(f"Invalid model name {name!r} for a store path.")
    return name
