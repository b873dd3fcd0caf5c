"""``POST /feedback``: ground-truth labels for earlier predictions, by request id.

The body is one item ``{"request_id": "...", "label": ...}`` (optionally ``"row": i``
for one row of a multi-row request; without it the label applies to every row), a
list of items, or ``{"items": [...]}``. Labels are stored as ``str(label)``, the way
predictions are, so they join on ``request_id`` (and ``row``).
"""

from __future__ import annotations

from typing import Any

from polyclass.serve._errors import bad_request, unprocessable

__all__ = ["MAX_FEEDBACK_ITEMS", "parse_feedback"]

MAX_FEEDBACK_ITEMS = 100_000
_ID_MAX = 128


def _item(item: Any, loc: list[str | int]) -> tuple[str, int, str]:
    if not isinstance(item, dict):
        raise unprocessable(
            f"A feedback item must be an object with 'request_id' and "
            f"'label'; got {type(item).__name__}.",
            *loc,
        )
    unknown = sorted(set(item) - {"request_id", "label", "row"})
    if unknown:
        raise unprocessable(
            f"Unknown key(s) {unknown} in a feedback item; it takes "
            "'request_id', 'label' and optionally 'row'.",
            *loc,
            unknown[0],
        )
    request_id = item.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= _ID_MAX:
        raise unprocessable(
            "'request_id' must be the X-Request-ID of the prediction (a "
            f"string of 1 to {_ID_MAX} characters); got {request_id!r}.",
            *loc,
            "request_id",
        )
    if "label" not in item:
        raise unprocessable("The feedback item lacks 'label', the true class.", *loc)
    label = item["label"]
    if label is None or isinstance(label, (dict, list)):
        raise unprocessable(
            f"'label' must be a class label (a string, number or boolean); got {label!r}.",
            *loc,
            "label",
        )
    if "row" not in item:
        return request_id, -1, str(label)  # -1: every row of the request
    row = item["row"]
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
        raise unprocessable(
            "'row' must be the 0-based row of the request (a whole number from 0; leave "
            f"it out to label every row); got {row!r}.",
            *loc,
            "row",
        )
    return request_id, row, str(label)


def parse_feedback(document: Any) -> list[tuple[str, int, str]]:
    """``(request_id, row, label)`` items of a feedback body, or a RequestError."""
    if isinstance(document, dict) and "items" in document:
        if set(document) != {"items"}:
            raise unprocessable('A batch body is {"items": [...]} and nothing else.', "body")
        items, loc = document["items"], ["body", "items"]
    elif isinstance(document, list):
        items, loc = document, ["body"]
    elif isinstance(document, dict):
        return [_item(document, ["body"])]
    else:
        raise bad_request("The feedback body must be an object or a list of objects.", "body")
    if not isinstance(items, list) or not items:
        raise unprocessable("The batch must be a non-empty list of feedback items.", *loc)
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise unprocessable(
            f"The batch has {len(items)} items; send at most {MAX_FEEDBACK_ITEMS} per request.",
            *loc,
        )
    return [_item(it, [*loc, i]) for i, it in enumerate(items)]
