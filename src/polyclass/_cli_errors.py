"""The one way every ``polyclass`` command reports an error a person can act on."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["err_console", "fail"]

err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and leave with ``code`` (2: the user's input)."""
    # soft_wrap: a terminal folds the line itself; a file or pipe gets it whole
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
