"""Export archives: a ``.tar.gz`` holding a manifest and one artifact directory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import uuid
from pathlib import Path
from typing import Any

from polyclass.artifact import sha256_file
from polyclass.registry._errors import ArchiveError
from polyclass.registry._files import fsync_dir

ARCHIVE_MANIFEST = "polyclass-export.json"
ARCHIVE_FORMAT = "polyclass-registry-export"
ARCHIVE_VERSION = 1
_PREFIX = "artifact/"
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CHUNK = 1 << 20


def write_archive(artifact_dir: Path, manifest: dict[str, Any], dest: Path) -> Path:
    """Write ``dest`` (via a temporary sibling and a rename) and return it."""
    files = {p.name: sha256_file(p) for p in sorted(artifact_dir.iterdir())}
    document = {
        **manifest,
        "format": ARCHIVE_FORMAT,
        "format_version": ARCHIVE_VERSION,
        "files": files,
    }
    payload = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
    partial = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        with tarfile.open(partial, "w:gz") as tar:
            info = tarfile.TarInfo(ARCHIVE_MANIFEST)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
            for name in files:
                tar.add(artifact_dir / name, arcname=_PREFIX + name, filter=_anonymous)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, dest)
        fsync_dir(dest.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def read_archive(archive: Path, into: Path) -> dict[str, Any]:
    """Extract the artifact of ``archive`` into the empty directory ``into``, verified.

    Only regular files named ``polyclass-export.json`` or ``artifact/<plain name>`` are
    accepted (no links, directories elsewhere, absolute paths or ``..``), and every
    file's sha256 must match the archive manifest.
    """
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(
            f"{archive} is not a readable .tar.gz archive ({exc}). Pass a file written by "
            "polyclass registry export."
        ) from None
    with tar:
        try:
            members = tar.getmembers()
            document = _read_manifest(archive, tar, members)
            expected: dict[str, str] = document["files"]
            seen: set[str] = set()
            for member in members:
                if member.name == ARCHIVE_MANIFEST:
                    continue
                name = member.name[len(_PREFIX) :] if member.name.startswith(_PREFIX) else ""
                if not member.isfile() or not _FILE.fullmatch(name) or name not in expected:
                    raise ArchiveError(
                        f"{archive} holds an unexpected entry {member.name!r}; an export "
                        f"archive holds only {ARCHIVE_MANIFEST} and the files it lists under "
                        f"{_PREFIX}. The archive was altered; export it again."
                    )
                actual = _extract(tar, member, into / name)
                if actual != expected[name]:
                    raise ArchiveError(
                        f"{member.name} in {archive} has sha256 {actual[:12]}…, but the "
                        f"archive manifest records {expected[name][:12]}…; the archive was "
                        "altered or damaged. Export it again."
                    )
                seen.add(name)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArchiveError(
                f"{archive} is damaged or truncated ({exc}). Export it again."
            ) from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise ArchiveError(
            f"{archive} lacks {', '.join(missing)}, listed in its manifest; it is "
            "incomplete. Export it again."
        )
    fsync_dir(into)
    return document


def _read_manifest(
    archive: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]
) -> dict[str, Any]:
    found = [m for m in members if m.name == ARCHIVE_MANIFEST]
    handle = tar.extractfile(found[0]) if len(found) == 1 and found[0].isfile() else None
    if handle is None:
        raise ArchiveError(
            f"{archive} has no {ARCHIVE_MANIFEST}; it was not written by polyclass registry export."
        )
    try:
        document = json.loads(handle.read(1 << 22).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ArchiveError(f"{ARCHIVE_MANIFEST} in {archive} is not valid JSON.") from None
    if not isinstance(document, dict) or document.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{archive} is not a polyclass registry export.")
    version = document.get("format_version")
    if not isinstance(version, int) or version > ARCHIVE_VERSION:
        raise ArchiveError(
            f"{archive} has export format version {version!r}; this polyclass reads "
            f"version {ARCHIVE_VERSION}. Upgrade polyclass (pip install -U polyclass)."
        )
    files = document.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ArchiveError(f"{ARCHIVE_MANIFEST} in {archive} has no valid 'files' table.")
    return document


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> str:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isfile() was checked
        raise ArchiveError(f"cannot read {member.name}")
    digest = hashlib.sha256()
    with source, open(dest, "xb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()
