"""Strict JSON for ``model.json``: plain types only, finite numbers, string keys."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from polyclass.artifact._errors import ArtifactError
from polyclass.artifact._files import open_regular

#: The largest ``model.json`` read, in bytes; arrays live in ``.npy`` files, not here.
MAX_MANIFEST_BYTES = 64 << 20
#: The deepest JSON nesting read; polyclass writes under ten levels.
MAX_JSON_DEPTH = 100
_DAMAGED = "it was truncated, edited or not written by polyclass"
_FIX = "Restore the artifact from the registry (polyclass registry export/import) or save it again"


def to_json_safe(value: Any, where: str, depth: int = 1) -> Any:
    """Return ``value`` as plain JSON types, or raise naming the offending entry.

    NumPy scalars become Python numbers and tuples become lists. Non-finite floats,
    non-string keys, arrays and other objects are refused: JSON cannot hold them
    faithfully, and guessing a conversion would change the value on the way back.
    Nesting deeper than the reader accepts is refused too (``depth`` is the level
    ``value`` would open in the manifest, were it a list or dict).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            raise ArtifactError(
                f"{where} is {number!r}, which JSON cannot store. "
                "Replace non-finite numbers with None (or a string) before saving."
            )
        return number
    if isinstance(value, Mapping | list | tuple) and depth > MAX_JSON_DEPTH:
        raise ArtifactError(
            f"{where} nests deeper than {MAX_JSON_DEPTH} levels, which read_artifact refuses. "
            "Flatten the metadata before saving."
        )
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ArtifactError(
                    f"{where} has the key {key!r} of type {type(key).__name__}; JSON keys "
                    "must be strings. Convert the key with str() before saving."
                )
            out[key] = to_json_safe(item, f"{where}[{key!r}]", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [to_json_safe(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        raise ArtifactError(
            f"{where} is a NumPy array; arrays go in the `arrays` argument (stored as .npy), "
            "not in JSON metadata. Move it there, or convert a short one with .tolist()."
        )
    raise ArtifactError(
        f"{where} is a {type(value).__name__}, which JSON cannot store. Use None, bool, "
        "int, float, str, lists and dicts with string keys."
    )


def dumps(document: Mapping[str, Any]) -> bytes:
    """Serialise a JSON-safe document the same way every time (sorted, indented, UTF-8)."""
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def load_document(path: Path) -> dict[str, Any]:
    """Read a JSON object from the regular file ``path`` or raise saying why not."""
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_MANIFEST_BYTES:
                raise ArtifactError(
                    f"{path} is {size:,} bytes, over the {MAX_MANIFEST_BYTES:,}-byte limit for "
                    f"a {path.name}; it is not one polyclass wrote. {_FIX}.",
                    path=path,
                )
            raw = handle.read(size + 1)  # read(n) allocates n bytes up front
    except FileNotFoundError:
        raise ArtifactError(
            f"{path} is missing. Every artifact directory holds a model.json; pass the "
            "directory that save_artifact wrote, or restore the artifact from the registry.",
            path=path,
        ) from None
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {exc.strerror}.", path=path) from None
    return parse_json_document(raw, str(path))


def parse_json_document(raw: bytes, source: str) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object under the artifact format's rules.

    The rules: UTF-8, at most :data:`MAX_JSON_DEPTH` levels of nesting (deeper input
    that reaches Python's recursion limit while parsing is refused the same way),
    finite numbers only (no ``NaN``/``Infinity``, no ``1e999``), and an object at the
    top. Errors name ``source`` and never quote the input.

    Parameters
    ----------
    raw : bytes
        The document.
    source : str
        What to call it in an error (a path, or a member of an archive).

    Returns
    -------
    dict
        The parsed object.

    Raises
    ------
    ArtifactError
        If any rule is broken.

    Examples
    --------
    >>> parse_json_document(b'{"a": [1, 2.5]}', "example")
    {'a': [1, 2.5]}
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(
            f"{source} is not UTF-8 text (byte {exc.start} is not); {_DAMAGED}. {_FIX}."
        ) from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); {_DAMAGED}. {_FIX}."
        ) from None
    except ValueError as exc:  # from the two hooks, or an integer of too many digits
        raise ArtifactError(f"{source} is not valid JSON: {exc}; {_DAMAGED}. {_FIX}.") from None
    except RecursionError:  # CPython's decoder counts its nesting against the limit
        document = None
    if document is None or _deeper_than(document, MAX_JSON_DEPTH):
        raise ArtifactError(
            f"{source} nests more than {MAX_JSON_DEPTH} levels deep, deeper than polyclass "
            f"ever writes. {_FIX}."
        )
    if not isinstance(document, dict):
        raise ArtifactError(
            f"{source} holds a JSON {type(document).__name__}, expected an object. {_FIX}."
        )
    return document


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels, walked level by level."""
    level = [document] if isinstance(document, dict | list) else []
    for _ in range(limit):
        below: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            below.extend(item for item in items if isinstance(item, dict | list))
        if not below:
            return False
        level = below
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"the non-finite constant {name} is not allowed (numbers must be finite)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"a number of {len(text)} characters overflows to {number}")
    return number
