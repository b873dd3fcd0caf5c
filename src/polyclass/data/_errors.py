"""The error raised for data a person has to fix."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input data: the message names the problem, what was expected and the fix.

    A subclass of :class:`ValueError`, so code that already catches
    ``ValueError`` keeps working; the CLI prints the message without a traceback.

    Examples
    --------
    >>> raise DataError("Target column 'specie' not found. Did you mean 'species'?")
    Traceback (most recent call last):
    ...
    polyclass.data._errors.DataError: Target column 'specie' not found. Did you mean 'species'?
    """
