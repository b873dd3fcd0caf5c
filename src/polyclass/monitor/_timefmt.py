"""Times as the monitor reads and writes them: µs since the epoch, ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from polyclass.predlog import to_micros  # the log's owner reads times for both

__all__ = ["iso", "to_micros"]


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
