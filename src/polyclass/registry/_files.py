"""Durable file moves for the artifact store: copy with fsync, staging names, removal."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from polyclass.artifact import MANIFEST_NAME

STAGING = ".staging"
_CHUNK = 1 << 20


def new_staging_dir(root: Path) -> Path:
    """A fresh, empty directory under ``root/.staging`` on the same file system as the store."""
    staging = root / STAGING / uuid.uuid4().hex
    staging.mkdir(parents=True)
    return staging


def copy_artifact_files(source: Path, dest: Path) -> dict[str, str]:
    """Copy the files of an artifact directory into ``dest`` and fsync them.

    Returns each file's sha256 as copied, so the caller can compare with the manifest.
    """
    digests: dict[str, str] = {}
    for entry in sorted(source.iterdir()):
        digest = hashlib.sha256()
        with open(entry, "rb") as src, open(dest / entry.name, "xb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        digests[entry.name] = digest.hexdigest()
    fsync_dir(dest)
    return digests


def manifest_sha256(directory: Path) -> str:
    """SHA-256 of an artifact's model.json."""
    return hashlib.sha256((directory / MANIFEST_NAME).read_bytes()).hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk (POSIX only)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: Path, root: Path) -> None:
    """Remove a directory by first renaming it out of sight, so no half-deleted tree shows."""
    if not path.exists():
        return
    trash = root / STAGING / f"deleted-{uuid.uuid4().hex}"
    trash.parent.mkdir(parents=True, exist_ok=True)
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)
