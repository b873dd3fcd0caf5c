"""The one error type of polyclass.scale."""

from __future__ import annotations

from polyclass.data import DataError


class ScaleError(DataError):
    """A cluster or distributed input problem, named with its fix (a DataError, so the
    CLI prints it as one ``error:`` line)."""
