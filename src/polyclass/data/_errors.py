"""The error raised for data a person has to fix."""

from __future__ import annotations

__all__ = ["DataError", "DataWarning"]


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


class DataWarning(UserWarning):
    """Input values read other than as given: e.g. text that is not a number, read as missing.

    Raised as a warning by prediction on a table (the message names the column, the
    first rows and the count); training reports the same as a data warning.
    """
