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

from polyclass.artifact import ArtifactError, parse_json_document, sha256_file
from polyclass.registry._errors import ArchiveError
from polyclass.registry._files import fsync_dir
from polyclass.registry._limits import ImportLimits

ARCHIVE_MANIFEST = "polyclass-export.json"
ARCHIVE_FORMAT = "polyclass-registry-export"
ARCHIVE_VERSION = 1
_PREFIX = "artifact/"
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a plain name: no "/", no leading dot
_CHUNK = 1 << 20
_RAISE_LIMIT = "If you trust the archive and the model is this large, raise the limit with"


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


def read_archive(archive: Path, into: Path, limits: ImportLimits) -> dict[str, Any]:
    """Extract the artifact of ``archive`` into the empty directory ``into``, verified.

    Every header is checked before anything is written, stopping at the first problem:
    the manifest ``polyclass-export.json`` comes first (as ``write_archive`` puts it),
    then only regular files ``artifact/<plain name>`` that it lists, each once, within
    ``limits`` (files, declared bytes). Files are then hashed as they are written, and
    each sha256 must match the manifest.
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
            document = _read_manifest(archive, tar, limits)
            expected: dict[str, str] = document["files"]
            members = _plan(archive, tar, expected, limits)
            for name, member in members.items():
                actual = _extract(tar, member, into / name)
                if actual != expected[name]:
                    raise ArchiveError(
                        f"{member.name} in {archive} has sha256 {actual[:12]}…, but the "
                        f"archive manifest records {expected[name][:12]}…; the archive was "
                        "altered or damaged. Export it again."
                    )
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArchiveError(
                f"{archive} is damaged or truncated ({exc}). Export it again."
            ) from None
    fsync_dir(into)
    return document


def _read_manifest(archive: Path, tar: tarfile.TarFile, limits: ImportLimits) -> dict[str, Any]:
    """Read and check the first member, the archive manifest."""
    member = tar.next()
    if member is None or member.name != ARCHIVE_MANIFEST or not _regular(member):
        raise ArchiveError(
            f"{archive} has no {ARCHIVE_MANIFEST} as its first member; it was not written by "
            "polyclass registry export."
        )
    if member.size > limits.max_manifest_bytes:
        raise ArchiveError(
            f"{ARCHIVE_MANIFEST} in {archive} is {member.size:,} bytes, over the "
            f"{limits.max_manifest_bytes:,}-byte limit; it was not written by polyclass."
        )
    handle = tar.extractfile(member)
    raw = handle.read() if handle is not None else b""
    try:
        document = parse_json_document(raw, f"{ARCHIVE_MANIFEST} in {archive}")
    except ArtifactError as exc:
        raise ArchiveError(str(exc)) from None
    if document.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{archive} is not a polyclass registry export.")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > ARCHIVE_VERSION:
        raise ArchiveError(
            f"{archive} has export format version {version!r}; this polyclass reads "
            f"version {ARCHIVE_VERSION}. Upgrade polyclass (pip install -U polyclass)."
        )
    files = document.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and _FILE.fullmatch(k) and isinstance(v, str) for k, v in files.items()
    ):
        raise ArchiveError(f"{ARCHIVE_MANIFEST} in {archive} has no valid 'files' table.")
    if len(files) > limits.max_files:
        raise ArchiveError(
            f"{archive} lists {len(files):,} files, over the import limit of "
            f"{limits.max_files:,}; nothing was written. {_RAISE_LIMIT} --max-files "
            "(ImportLimits.max_files)."
        )
    return document


def _plan(
    archive: Path, tar: tarfile.TarFile, expected: dict[str, str], limits: ImportLimits
) -> dict[str, tarfile.TarInfo]:
    """Read the remaining headers (not the data): the listed files by name, within limits."""
    members: dict[str, tarfile.TarInfo] = {}
    total = 0
    while (member := tar.next()) is not None:
        name = member.name[len(_PREFIX) :] if member.name.startswith(_PREFIX) else ""
        if not _regular(member) or name not in expected or name in members:
            raise ArchiveError(
                f"{archive} holds an unexpected entry {member.name!r}; an export "
                f"archive holds only {ARCHIVE_MANIFEST} and the files it lists under "
                f"{_PREFIX}, each once. The archive was altered; export it again."
            )
        members[name] = member
        total += member.size
        if total > limits.max_bytes:
            raise ArchiveError(
                f"{archive} declares {total:,} bytes of files up to {member.name!r}, over "
                f"the import limit of {limits.max_bytes:,} bytes; nothing was written. "
                f"{_RAISE_LIMIT} --max-bytes (ImportLimits.max_bytes)."
            )
    missing = sorted(set(expected) - set(members))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5:,} more" * (len(missing) > 5))
        raise ArchiveError(
            f"{archive} lacks {shown}, listed in its manifest; it is incomplete. Export it again."
        )
    return members


def _regular(member: tarfile.TarInfo) -> bool:
    return member.isreg() and not member.issparse()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> str:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isreg() was checked
        raise ArchiveError(f"cannot read {member.name}")
    digest = hashlib.sha256()
    with source, open(dest, "xb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()
