"""Write an artifact directory atomically: stage in a sibling, fsync, rename into place."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass._version import __version__
from polyclass.artifact._checksum import fsync_dir
from polyclass.artifact._errors import ArtifactError
from polyclass.artifact._format import (
    ALLOWED_KINDS,
    ARRAY_NAME,
    FORMAT_MARKER,
    FORMAT_VERSION,
    MANIFEST_NAME,
)
from polyclass.artifact._json import dumps, to_json_safe


class _HashingWriter:
    """A write-only file wrapper that hashes every byte on its way to disk."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        written: int = self._raw.write(data)
        return written


def save_artifact(
    directory: str | Path,
    metadata: Mapping[str, Any],
    arrays: Mapping[str, ArrayLike],
    *,
    overwrite: bool = False,
) -> Path:
    """Write an artifact directory: ``model.json`` plus one ``.npy`` file per array.

    The files are written into a temporary sibling directory, flushed to disk, then
    renamed into place, so an interrupted save leaves either nothing or the previous
    artifact, never half of one. Nothing is pickled.

    Parameters
    ----------
    directory : str or pathlib.Path
        Where the artifact goes. It must not exist, or be an empty directory, unless
        ``overwrite=True`` (which only replaces an existing artifact directory).
    metadata : mapping
        JSON metadata: None, bool, int, float (finite), str, lists and dicts with
        string keys. NumPy scalars are converted.
    arrays : mapping of str to array-like
        Named arrays. Names use letters, digits, ``.``, ``_`` and ``-``. Object
        dtypes are refused: store strings as fixed-width unicode
        (``np.asarray(values, dtype=str)``) or in the metadata.
    overwrite : bool, default False
        Replace an existing artifact at ``directory``.

    Returns
    -------
    pathlib.Path
        The absolute artifact directory.

    Raises
    ------
    ArtifactError
        For an invalid name, dtype or metadata value, or an occupied ``directory``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = save_artifact(tempfile.mkdtemp() + "/m", {"classes": ["a", "b"]},
    ...                      {"coef": np.zeros((2, 3))})
    >>> sorted(p.name for p in path.iterdir())
    ['coef.npy', 'model.json']
    """
    target = Path(directory).expanduser().absolute()
    checked = _check_arrays(arrays)
    if not isinstance(metadata, Mapping):
        raise ArtifactError(
            f"metadata must be a dict, got {type(metadata).__name__}. Pass a dict of "
            "JSON values, e.g. {'classes': ['a', 'b']}."
        )
    safe_metadata = to_json_safe(metadata, "metadata", depth=2)  # inside the manifest object
    replace_existing = _check_target(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp) so the directory gets the usual umask permissions, not 0700
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()
    try:
        entries: dict[str, dict[str, Any]] = {}
        for name, array in checked.items():
            file_name = f"{name}.npy"
            entries[name] = {
                "file": file_name,
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "sha256": _write_npy(staging / file_name, array),
            }
        document = {
            "format": FORMAT_MARKER,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "written_by": {
                "polyclass": __version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "metadata": safe_metadata,
            "arrays": entries,
        }
        _write_bytes(staging / MANIFEST_NAME, dumps(document))
        fsync_dir(staging)
        _move_into_place(staging, target, replace_existing=replace_existing)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_arrays(arrays: Mapping[str, ArrayLike]) -> dict[str, NDArray[Any]]:
    if not isinstance(arrays, Mapping):
        raise ArtifactError(f"arrays must be a dict of name -> array, got {type(arrays).__name__}.")
    checked: dict[str, NDArray[Any]] = {}
    folded: dict[str, str] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not ARRAY_NAME.fullmatch(name):
            raise ArtifactError(
                f"Array name {name!r} is not allowed: names become file names and use only "
                "letters, digits, '.', '_' and '-', not starting with '.'. Rename it."
            )
        if name.lower() in folded:
            raise ArtifactError(
                f"Array names {folded[name.lower()]!r} and {name!r} differ only by case and "
                "would collide on case-insensitive file systems. Rename one."
            )
        folded[name.lower()] = name
        array = np.asarray(value)
        if array.dtype.kind not in ALLOWED_KINDS or array.dtype.hasobject:
            hint = (
                " Store strings as fixed-width unicode (np.asarray(values, dtype=str)) or "
                "put them in the JSON metadata."
                if array.dtype.kind == "O"
                else " Split a structured array into one plain array per field."
            )
            raise ArtifactError(
                f"Array {name!r} has dtype {array.dtype}, which an artifact cannot hold "
                f"without pickle; expected bool, numbers, datetimes, str or bytes.{hint}"
            )
        checked[name] = array
    return checked


def _check_target(target: Path, *, overwrite: bool) -> bool:
    """Return whether an existing artifact will be replaced; raise if ``target`` is taken."""
    if not target.exists() and not target.is_symlink():
        return False
    if not target.is_dir() or target.is_symlink():
        raise ArtifactError(
            f"{target} exists and is not a directory. Choose another path for the artifact.",
            path=target,
        )
    if not any(target.iterdir()):
        return False
    if not (target / MANIFEST_NAME).is_file():
        raise ArtifactError(
            f"{target} is a non-empty directory without {MANIFEST_NAME}; save_artifact "
            "never replaces a directory that is not an artifact. Choose a new or empty "
            "directory.",
            path=target,
        )
    if not overwrite:
        raise ArtifactError(
            f"An artifact already exists at {target}. Pass overwrite=True to replace it, or "
            "choose another directory.",
            path=target,
        )
    return True


def _write_npy(path: Path, array: NDArray[Any]) -> str:
    with open(path, "xb") as raw:
        writer = _HashingWriter(raw)
        np.lib.format.write_array(writer, array, allow_pickle=False)
        raw.flush()
        os.fsync(raw.fileno())
    return writer.digest.hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "xb") as raw:
        raw.write(data)
        raw.flush()
        os.fsync(raw.fileno())


def _move_into_place(staging: Path, target: Path, *, replace_existing: bool) -> None:
    if not replace_existing:
        if target.is_dir():  # an empty directory: make room for the rename
            target.rmdir()
        try:
            os.rename(staging, target)
        except OSError as exc:
            raise ArtifactError(
                f"Could not move the new artifact into {target}: {exc.strerror}. Another "
                "process may have written there at the same time; choose another directory.",
                path=target,
            ) from exc
        fsync_dir(target.parent)
        return
    retired = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(target, retired)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(retired, target)
        raise
    fsync_dir(target.parent)
    shutil.rmtree(retired, ignore_errors=True)
