"""Strict JSON for ``model.json``: plain types only, finite numbers, string keys."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from polyclass.artifact._errors import ArtifactError


def to_json_safe(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON types, or raise naming the offending entry.

    NumPy scalars become Python numbers and tuples become lists. Non-finite floats,
    non-string keys, arrays and other objects are refused: JSON cannot hold them
    faithfully, and guessing a conversion would change the value on the way back.
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
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ArtifactError(
                    f"{where} has the key {key!r} of type {type(key).__name__}; JSON keys "
                    "must be strings. Convert the key with str() before saving."
                )
            out[key] = to_json_safe(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [to_json_safe(item, f"{where}[{i}]") for i, item in enumerate(value)]
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
    """Read a JSON object from ``path`` or raise :class:`ArtifactError` saying why not."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(
            f"{path} is missing. Every artifact directory holds a model.json; pass the "
            "directory that save_artifact wrote, or restore the artifact from the registry.",
            path=path,
        ) from None
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {exc.strerror}.", path=path) from exc
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(
            f"{path} is not valid JSON ({exc}); it was truncated or edited. Restore the "
            "artifact from the registry (polyclass registry export/import) or save it again.",
            path=path,
        ) from None
    if not isinstance(document, dict):
        raise ArtifactError(
            f"{path} holds a JSON {type(document).__name__}, expected an object. Restore the "
            "artifact or save it again.",
            path=path,
        )
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")
