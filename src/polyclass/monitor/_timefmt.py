"""Times as the monitor reads and writes them: µs since the epoch, ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(micros: int) -> str:
    """µs since the epoch as ``YYYY-mm-ddTHH:MM:SSZ`` (fractions kept when non-zero).

    Examples
    --------
    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    dt = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def to_micros(when: datetime | str | None) -> int | None:
    """A time as µs since the epoch (naive datetimes and ISO strings without zone: UTC)."""
    if when is None:
        return None
    if isinstance(when, str):
        text = when.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{when!r} is not an ISO 8601 time; write e.g. 2026-01-31T14:00:00Z."
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1_000_000)
