"""Numbers and dates read out of raw values: one rule for training and prediction.

NumPy only, so the serving path applies exactly the rule training applied. A value
that is missing (None, NaN, empty text) is missing; a value that cannot be read
(``'oops'`` in a numeric column, ``'soon'`` in a date column) is missing too and is
reported as *bad*, so the caller can name its rows.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DATE_PARTS",
    "date_features",
    "describe_bad",
    "looks_mostly",
    "parse_datetimes",
    "parse_numbers",
]

#: Features made from a date/time column, in output order ("hour" only when times vary).
DATE_PARTS: tuple[str, ...] = (
    "year",
    "month",
    "day_of_week",
    "day_of_year_sin",
    "day_of_year_cos",
    "hour",
)
#: A text column counts as numbers (or dates) when at least this share of its values are.
MOSTLY = 0.9
_SHOW_ROWS = 5

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


def _is_missing(v: Any) -> bool:
    return (
        v is None
        or (isinstance(v, (float, np.floating)) and math.isnan(v))
        or (isinstance(v, str) and not v.strip())
        or (isinstance(v, np.datetime64) and bool(np.isnat(v)))
        or type(v).__name__ in ("NaTType", "NAType")
    )


def _number(v: Any) -> float | None:
    """``v`` as a float, or None when it is not a number."""
    if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, str) and "_" not in v:  # Python reads "1_000"; a table does not
        try:
            return float(v)
        except ValueError:
            return None
    return None


def parse_numbers(
    values: Sequence[Any] | NDArray[Any],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Numbers of ``values`` (numbers, or numbers written as text) and where they were bad.

    Returns
    -------
    numbers : ndarray of float64
        NaN where the value is missing or bad.
    bad : ndarray of bool
        True where a value is present but is not a number.

    Examples
    --------
    >>> x, bad = parse_numbers(["1.5", 2, None, "oops"])
    >>> x.tolist(), bad.tolist()
    ([1.5, 2.0, nan, nan], [False, False, False, True])
    """
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64), np.zeros(len(arr), dtype=bool)
    if arr.ndim != 1:
        arr = np.asarray(list(values), dtype=object)
    uniques, inverse = _unique(arr)
    numbers = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    for j, v in enumerate(uniques):
        if _is_missing(v):
            continue
        x = _number(v)
        if x is None:
            bad[j] = True
        else:
            numbers[j] = x
    return numbers[inverse], bad[inverse]


def _unique(arr: NDArray[Any]) -> tuple[list[Any], NDArray[np.intp]]:
    """Distinct values of ``arr`` and each row's index into them (values looked at once)."""
    if arr.dtype.kind in "US":
        uniq, inverse = np.unique(arr, return_inverse=True)
        return uniq.tolist(), inverse.astype(np.intp).ravel()
    index: dict[Any, int] = {}
    keys: list[Any] = []
    inverse_list = []
    for v in arr.tolist():
        try:
            key = (type(v), v)
            j = index.get(key)
            if j is None:
                j = index[key] = len(keys)
                keys.append(v)
        except TypeError:  # unhashable: its own entry
            j = len(keys)
            keys.append(v)
        inverse_list.append(j)
    return keys, np.asarray(inverse_list, dtype=np.intp)


def _datetime(v: Any) -> np.datetime64 | None:
    """``v`` as a second-resolution datetime64 (wall-clock time), or None if not a date."""
    if isinstance(v, np.datetime64):
        return cast(np.datetime64, v.astype("datetime64[s]"))
    if isinstance(v, _dt.datetime):  # pandas Timestamp too; the wall clock as written
        v = v.replace(tzinfo=None)
        return np.datetime64(v.isoformat(timespec="seconds"), "s")
    if isinstance(v, _dt.date):
        return np.datetime64(v.isoformat(), "s")
    if isinstance(v, str):
        m = _ISO.fullmatch(v.strip())
        if m is None:
            return None
        y, mo, d, h, mi, s = (g or "00" for g in m.groups())
        try:
            return np.datetime64(f"{y}-{mo}-{d}T{h}:{mi}:{s}", "s")
        except ValueError:  # 2012-02-30 and the like
            return None
    return None


def parse_datetimes(
    values: Sequence[Any] | NDArray[Any],
) -> tuple[NDArray[np.datetime64], NDArray[np.bool_]]:
    """Dates/times of ``values`` and where they were bad.

    Accepted: ISO 8601 text (``2012-01-31``, ``2012-01-31T10:15:00``, a space for
    ``T``, fractional seconds and a ``Z`` or ``+02:00`` offset, the offset ignored:
    the wall-clock time is kept), ``datetime``/``date`` objects, pandas Timestamps
    and NumPy datetime64 values.

    Returns
    -------
    times : ndarray of datetime64[s]
        NaT where the value is missing or bad.
    bad : ndarray of bool
        True where a value is present but is not a date.

    Examples
    --------
    >>> t, bad = parse_datetimes(["2012-01-31", "2012-02-01 10:30", None, "soon"])
    >>> t.tolist()[1], bad.tolist()
    (datetime.datetime(2012, 2, 1, 10, 30), [False, False, False, True])
    """
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]"), np.zeros(len(arr), dtype=bool)
    if arr.ndim != 1:
        arr = np.asarray(list(values), dtype=object)
    uniques, inverse = _unique(arr)
    times = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[s]")
    bad = np.zeros(len(uniques), dtype=bool)
    for j, v in enumerate(uniques):
        if _is_missing(v):
            continue
        t = _datetime(v)
        if t is None:
            bad[j] = True
        else:
            times[j] = t
    return times[inverse], bad[inverse]


def date_features(times: NDArray[np.datetime64], parts: Sequence[str]) -> NDArray[np.float64]:
    """The ``parts`` (names from ``DATE_PARTS``) of each time, as columns; NaN where NaT.

    ``day_of_week`` is 0 for Monday; ``day_of_year_sin``/``_cos`` place the day on a
    circle (31 December next to 1 January), so a linear model can learn a season.

    Examples
    --------
    >>> t, _ = parse_datetimes(["2024-01-01T06:00", "2024-07-01"])
    >>> date_features(t, ["year", "month", "day_of_week", "hour"]).tolist()
    [[2024.0, 1.0, 0.0, 6.0], [2024.0, 7.0, 0.0, 0.0]]
    """
    t = np.asarray(times, dtype="datetime64[s]")
    nat = np.isnat(t)
    safe = np.where(nat, np.datetime64(0, "s"), t)
    days = safe.astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    year_start = years.astype("datetime64[D]")
    year_len = ((years + 1).astype("datetime64[D]") - year_start).astype(np.float64)
    day_of_year = (days - year_start).astype(np.float64)
    columns = {
        "year": years.astype(np.int64).astype(np.float64) + 1970,
        "month": (days.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(np.float64)
        + 1,
        "day_of_week": ((days.astype(np.int64) + 3) % 7).astype(np.float64),  # 1970-01-01: Thu
        "day_of_year_sin": np.sin(2 * np.pi * day_of_year / year_len),
        "day_of_year_cos": np.cos(2 * np.pi * day_of_year / year_len),
        "hour": ((safe - days).astype("timedelta64[h]")).astype(np.float64),
    }
    unknown = [p for p in parts if p not in columns]
    if unknown:
        raise ValueError(f"Unknown date part(s) {unknown}; known: {list(DATE_PARTS)}.")
    out = np.empty((len(t), len(parts)), dtype=np.float64)
    for j, part in enumerate(parts):
        out[:, j] = columns[part]
    out[nat] = np.nan
    return out


def looks_mostly(n_good: int, n_bad: int) -> bool:
    """Whether a column with these counts of readable and unreadable values is of that type."""
    return n_good > 0 and n_good >= MOSTLY * (n_good + n_bad)


def describe_bad(
    column: str,
    what: str,
    bad: NDArray[np.bool_],
    values: Sequence[Any] | NDArray[Any],
    rows: Any = None,
) -> str:
    """A sentence naming the first bad rows of ``column``, their count and an example.

    ``rows`` maps positions to the row numbers to show (default: the positions).
    """
    positions = np.flatnonzero(bad)
    shown_rows = positions if rows is None else np.asarray(rows)[positions]
    shown = ", ".join(str(int(r)) for r in shown_rows[:_SHOW_ROWS])
    more = f" and {len(positions) - _SHOW_ROWS} more" if len(positions) > _SHOW_ROWS else ""
    example = values[int(positions[0])]
    text = repr(example.item() if isinstance(example, np.generic) else example)
    if len(text) > 40:
        text = text[:37] + "..."
    return (
        f"Column {column!r} has {len(positions)} value(s) that are not {what} "
        f"(rows {shown}{more}; e.g. {text}); they are read as missing."
    )
