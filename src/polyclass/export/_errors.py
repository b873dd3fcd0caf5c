"""The one error an export raises when a model cannot be written exactly."""

from __future__ import annotations


class ExportError(ValueError):
    """The model holds something the target format cannot express exactly.

    The message names the part and the fix; nothing is written.
    """
