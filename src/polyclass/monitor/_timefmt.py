"""Times as the monitor writes them: ISO 8601 in UTC with a ``Z``."""

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
