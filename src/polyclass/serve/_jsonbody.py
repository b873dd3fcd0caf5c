"""Number lists of a parsed JSON body as float64 arrays, fast and without loosening types.

``np.fromiter`` over a flat chain of the parsed lists is the fastest way to build the
float matrix of a 1,000-row request (about 0.26 ms for 20,000 values, against 0.39 ms
for ``np.array``, which first discovers the dtype and shape), but it also turns the
string ``"1.5"`` and the boolean ``true`` into numbers. The raw body settles both in C:
when the strings outside the number lists account for every quote mark of the body, no
number list holds a string; when the body holds no ``true``/``false`` token at all, none
holds a boolean. Otherwise callers take their exact, value-by-value path, which names
the offending value's place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["JsonBody", "duplicate_key", "float_rows", "float_values"]


def _keys(document: Any) -> int:
    """How many keys the objects of a parsed document hold (after merging repeats)."""
    count = 0
    stack = [document]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            count += len(item)
            stack.extend(v for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(v for v in item if type(v) in (dict, list))
    return count


class _Pairs(list[tuple[str, Any]]):
    """An object's members in order, repeats kept (``json.loads`` object_pairs_hook)."""


def _first_repeat(item: Any, loc: list[str | int]) -> tuple[str, list[str | int]] | None:
    """The first repeated key in a document of ``_Pairs``, and where its object is."""
    if isinstance(item, _Pairs):
        seen: set[str] = set()
        for key, value in item:
            if key in seen:
                return key, loc
            seen.add(key)
            found = _first_repeat(value, [*loc, key])
            if found:
                return found
    elif isinstance(item, list):
        for i, value in enumerate(item):
            found = _first_repeat(value, [*loc, i])
            if found:
                return found
    return None


def duplicate_key(raw: bytes, document: Any) -> tuple[str, list[str | int]] | None:
    """A key repeated within one object of the body, and that object's place; else None.

    ``orjson`` keeps the last of repeated keys silently. Each key of the body has one
    colon after it, so when the body has no more colons than ``document`` has keys, no
    key was repeated; otherwise the body is parsed again keeping every member.
    """
    if raw.count(b":") <= _keys(document):
        return None
    import json

    return _first_repeat(json.loads(raw, object_pairs_hook=_Pairs), [])


def _strings_outside(document: Any, skip: set[int]) -> int | None:
    """Strings (keys and values) in ``document`` outside the objects in ``skip``.

    None when one of them holds a quote mark (its quotes in the body are then not 2).
    """
    count = 0
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if '"' in item:
                return None
            count += 1
        elif isinstance(item, dict):
            for key, value in item.items():
                if '"' in key:
                    return None
                count += 1
                if id(value) not in skip:
                    stack.append(value)
        elif isinstance(item, list) and id(item) not in skip:
            stack.extend(item)
    return count


def _has_token(data: NDArray[np.uint8], token: bytes) -> bool:
    """Whether ``token`` occurs in ``data``: its first byte found by NumPy, then the rest.

    About 20 µs for 200 KB, against 110 µs for ``token in bytes``.
    """
    starts = np.flatnonzero(data[: len(data) - len(token) + 1] == token[0])
    for k in range(1, len(token)):
        starts = starts[data[starts + k] == token[k]]
    return len(starts) > 0


@dataclass
class JsonBody:
    """A request body's bytes and the document ``orjson`` parsed from them."""

    raw: bytes
    document: Any
    _bytes: NDArray[np.uint8] | None = field(default=None, repr=False)
    _booleans: bool | None = field(default=None, repr=False)

    @property
    def _view(self) -> NDArray[np.uint8]:
        if self._bytes is None:
            self._bytes = np.frombuffer(self.raw, dtype=np.uint8)
        return self._bytes

    @property
    def has_booleans(self) -> bool:
        """Whether a ``true`` or ``false`` token may be anywhere in the body."""
        if self._booleans is None:
            self._booleans = _has_token(self._view, b"true") or _has_token(self._view, b"false")
        return self._booleans

    def has_strings_in(self, *values: Any, strings_inside: int = 0) -> bool:
        """Whether a string may sit inside ``values`` (lists of the document).

        ``strings_inside`` counts strings known to be there without a quote mark of their
        own (the keys of row objects, say).
        """
        outside = _strings_outside(self.document, {id(v) for v in values})
        if outside is None:
            return True
        quotes = int(np.count_nonzero(self._view == ord('"')))  # 5x faster than bytes.count
        return quotes != 2 * (outside + strings_inside)


def float_rows(rows: Sequence[Any], width: int) -> NDArray[np.float64] | None:
    """``rows`` (lists of ``width`` numbers or None) as an (n, width) matrix, else None.

    None (missing) becomes NaN. The caller has ruled out strings and booleans
    (:class:`JsonBody`); anything else (a ragged row, a nested list, an object) gives
    None, and the caller looks closer.
    """
    n = len(rows)
    if (
        not n
        or len(set(map(type, rows))) != 1
        or type(rows[0]) is not list
        or set(map(len, rows)) != {width}
    ):
        return None
    try:
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * width)
    except (TypeError, ValueError, OverflowError):
        return None
    return flat.reshape(n, width)


def float_values(values: Any, count: int) -> NDArray[np.float64] | None:
    """Numbers (or None) from an iterable of exactly ``count`` items as a vector, else None."""
    try:
        return np.fromiter(values, dtype=np.float64, count=count)
    except (TypeError, ValueError, OverflowError):
        return None
