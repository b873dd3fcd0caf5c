"""Read and verify an artifact directory, dispatching on its format version."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from polyclass.artifact._errors import ArtifactError
from polyclass.artifact._files import open_regular
from polyclass.artifact._format import (
    ARRAY_NAME,
    FORMAT_MARKER,
    FORMAT_VERSION,
    MANIFEST_NAME,
    Artifact,
)
from polyclass.artifact._json import load_document

_CHUNK = 1 << 22
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RESTORE = "Restore the artifact from the registry or save it again"


def read_artifact(directory: str | Path) -> Artifact:
    """Load an artifact directory, verifying every file.

    Every array file is checked against the sha256, dtype and shape recorded in
    ``model.json`` and read without pickle. A missing, truncated, altered or
    unexpected file, or a format version newer than this polyclass reads, raises
    :class:`ArtifactError` naming the file and the fix.

    Parameters
    ----------
    directory : str or pathlib.Path
        A directory written by :func:`save_artifact`.

    Returns
    -------
    Artifact
        The metadata and arrays.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from polyclass.artifact import save_artifact
    >>> path = save_artifact(tempfile.mkdtemp() + "/m", {"k": 1}, {"w": np.arange(3)})
    >>> art = read_artifact(path)
    >>> art.metadata, art.arrays["w"].tolist()
    ({'k': 1}, [0, 1, 2])
    """
    path, document, version = _open(directory)
    return _READERS[version](path, document, True)


def verify_artifact(directory: str | Path) -> None:
    """Check an artifact directory's files against ``model.json`` without loading arrays.

    Parameters
    ----------
    directory : str or pathlib.Path
        A directory written by :func:`save_artifact`.

    Raises
    ------
    ArtifactError
        If a file is missing, altered, truncated or unexpected, or the format is unknown.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from polyclass.artifact import save_artifact
    >>> verify_artifact(save_artifact(tempfile.mkdtemp() + "/m", {}, {"w": np.ones(2)}))
    """
    path, document, version = _open(directory)
    _READERS[version](path, document, False)


def _open(directory: str | Path) -> tuple[Path, dict[str, Any], int]:
    path = Path(directory).expanduser().absolute()
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise ArtifactError(
            f"No artifact at {path}: the path {what}. Pass the directory that "
            f"save_artifact wrote (it holds {MANIFEST_NAME}).",
            path=path,
        )
    manifest = path / MANIFEST_NAME
    document = load_document(manifest)
    if document.get("format") != FORMAT_MARKER:
        raise ArtifactError(
            f"{manifest} is not a polyclass artifact manifest: expected "
            f"format={FORMAT_MARKER!r}, got {document.get('format')!r}. Pass a directory "
            "written by polyclass.",
            path=manifest,
        )
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArtifactError(
            f"{manifest} has format_version={version!r}; expected a positive integer. {_RESTORE}.",
            path=manifest,
        )
    if version not in _READERS:
        raise ArtifactError(
            f"{manifest} has format version {version}, newer than this polyclass reads "
            f"(versions {min(_READERS)} to {max(_READERS)}). Upgrade polyclass "
            "(pip install -U polyclass) to load it.",
            path=manifest,
        )
    return path, document, version


# ---------------------------------------------------------------------------- version 1


def _read_v1(path: Path, document: dict[str, Any], load: bool) -> Artifact:
    manifest = path / MANIFEST_NAME
    metadata = document.get("metadata")
    entries = document.get("arrays")
    if not isinstance(metadata, dict) or not isinstance(entries, dict):
        raise ArtifactError(
            f"{manifest} is malformed: 'metadata' and 'arrays' must be JSON objects. {_RESTORE}.",
            path=manifest,
        )
    expected = {MANIFEST_NAME}
    checked: dict[str, tuple[str, np.dtype[Any], tuple[int, ...], str]] = {}
    for name, entry in entries.items():
        checked[name] = _check_entry_v1(manifest, name, entry)
        expected.add(checked[name][0])
    present = set(os.listdir(path))
    missing = sorted(expected - present)
    if missing:
        raise ArtifactError(
            f"Artifact {path} is missing {', '.join(missing)}, listed in {MANIFEST_NAME}. "
            f"{_RESTORE}.",
            path=path / missing[0],
        )
    extra = sorted(present - expected)
    if extra:
        raise ArtifactError(
            f"Artifact {path} holds unexpected {'file' if len(extra) == 1 else 'files'} "
            f"{', '.join(extra)}, not listed in {MANIFEST_NAME}; an artifact holds exactly "
            "the files its manifest lists. Remove them, or save the artifact again.",
            path=path / extra[0],
        )
    arrays: dict[str, NDArray[Any]] = {}
    for name, (file_name, dtype, shape, sha256) in checked.items():
        array = _read_npy(path / file_name, dtype, shape, sha256, load=load)
        if array is not None:
            arrays[name] = array
    written_by = document.get("written_by")
    created_at = document.get("created_at")
    return Artifact(
        path=path,
        format_version=1,
        metadata=metadata,
        arrays=arrays,
        written_by=dict(written_by) if isinstance(written_by, dict) else {},
        created_at=created_at if isinstance(created_at, str) else "",
    )


def _check_entry_v1(
    manifest: Path, name: Any, entry: Any
) -> tuple[str, np.dtype[Any], tuple[int, ...], str]:
    def bad(detail: str) -> ArtifactError:
        return ArtifactError(
            f"{manifest} is malformed: arrays[{name!r}] {detail}. {_RESTORE}.", path=manifest
        )

    if not isinstance(name, str) or not ARRAY_NAME.fullmatch(name):
        raise bad("has an invalid name")
    if not isinstance(entry, dict):
        raise bad("must be an object with file, dtype, shape and sha256")
    file_name, dtype_str = entry.get("file"), entry.get("dtype")
    shape, sha256 = entry.get("shape"), entry.get("sha256")
    if file_name != f"{name}.npy":
        raise bad(f"must name the file {name}.npy, got {file_name!r}")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise bad(f"has sha256={sha256!r}, expected 64 lowercase hex digits")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise bad(f"has shape={shape!r}, expected a list of non-negative integers")
    try:
        dtype = np.dtype(dtype_str) if isinstance(dtype_str, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.hasobject:
        raise bad(f"has dtype={dtype_str!r}, expected a plain NumPy dtype string such as '<f8'")
    if dtype.itemsize == 0 and math.prod(shape) > 0:  # elements that take no bytes
        raise bad(f"has dtype={dtype_str!r}, whose items have no size")
    return file_name, dtype, tuple(shape), sha256


class _HashingReader:
    """A read-only file wrapper that hashes every byte it hands out."""

    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self._raw = raw
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._digest.update(data)
        return data


def _read_npy(
    file: Path, dtype: np.dtype[Any], shape: tuple[int, ...], sha256: str, *, load: bool
) -> NDArray[Any] | None:
    """Read (or only hash) one ``.npy`` file in a single pass, checking it on the way."""
    digest = hashlib.sha256()
    with open_regular(file) as raw:
        if not load:
            while chunk := raw.read(_CHUNK):
                digest.update(chunk)
            _compare(file, digest.hexdigest(), sha256)
            return None
        fortran_order = _check_header(file, _HashingReader(raw, digest), dtype, shape)
        # the manifest's shape is checked against the bytes really there before allocating
        nbytes = math.prod(shape) * dtype.itemsize
        available = os.fstat(raw.fileno()).st_size - raw.tell()
        if nbytes > available:
            raise _damaged(
                file,
                f"it is truncated: its shape {list(shape)} needs {nbytes:,} bytes of data, "
                f"the file holds {available:,}",
            )
        flat = np.empty(math.prod(shape), dtype=dtype)
        buffer = flat.view(np.uint8)
        position = 0
        while position < buffer.size:
            got = raw.readinto(buffer[position : position + _CHUNK].data)
            if not got:
                raise _damaged(
                    file,
                    f"it is truncated: expected {buffer.size} bytes of data, found {position}",
                )
            digest.update(buffer[position : position + got].data)
            position += got
        rest = raw.read(1)  # read(_CHUNK) here would allocate _CHUNK bytes just to find EOF
        while rest:  # trailing bytes: hash them so the checksum comparison reports it
            digest.update(rest)
            rest = raw.read(_CHUNK)
    _compare(file, digest.hexdigest(), sha256)
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)


def _check_header(
    file: Path, reader: _HashingReader, dtype: np.dtype[Any], shape: tuple[int, ...]
) -> bool:
    """Read the ``.npy`` header, check it against the manifest; return its Fortran flag."""
    try:
        version = np.lib.format.read_magic(reader)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(reader)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(reader)
        else:
            raise ValueError
    except (ValueError, OSError, EOFError, SyntaxError):
        # NumPy's messages quote the bytes they found: never echo a file's content
        raise _damaged(file, "it does not start with a valid .npy header") from None
    file_shape, fortran_order, file_dtype = header
    if tuple(file_shape) != shape or file_dtype != dtype:
        raise _damaged(
            file,
            f"it holds dtype {file_dtype.str} shape {list(file_shape)} but "
            f"{MANIFEST_NAME} records dtype {dtype.str} shape {list(shape)}",
        )
    return bool(fortran_order)


def _compare(file: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise _damaged(
            file,
            f"its sha256 is {actual[:12]}…, but {MANIFEST_NAME} records {expected[:12]}… "
            "(the file was altered or truncated after saving)",
        )


def _damaged(file: Path, detail: str) -> ArtifactError:
    return ArtifactError(
        f"Artifact file {file.name} in {file.parent} failed verification: {detail}. "
        f"{_RESTORE}; never edit files inside an artifact.",
        path=file,
    )


#: One reader per format version ever written. Add a reader here when the format
#: changes; never remove one, so every artifact ever saved stays loadable.
_READERS: dict[int, Callable[[Path, dict[str, Any], bool], Artifact]] = {1: _read_v1}

if FORMAT_VERSION not in _READERS:  # pragma: no cover - a developer error at import
    raise RuntimeError(f"no reader for the current artifact format version {FORMAT_VERSION}")
