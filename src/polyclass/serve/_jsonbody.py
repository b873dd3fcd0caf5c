"""Keys repeated within one object of a request body: refused (which one was meant?)."""

from __future__ import annotations

from typing import Any

__all__ = ["duplicate_key"]


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
