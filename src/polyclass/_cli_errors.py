"""The one way every ``polyclass`` command reports an error or a warning to a person."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["err_console", "fail", "say_warning", "shown_warnings"]

err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and leave with ``code`` (2: the user's input)."""
    # soft_wrap: a terminal folds the line itself; a file or pipe gets it whole
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def say_warning(message: str) -> None:
    """Print ``warning: MESSAGE`` as one line on stderr."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _show(message: Warning | str, *_: Any, **__: Any) -> None:
    say_warning(" ".join(str(message).split()))


@contextmanager
def shown_warnings() -> Iterator[None]:
    """Show the warnings raised inside as ``warning: MESSAGE`` lines, without file and source.

    UserWarnings (polyclass's DataWarning, the metrics' warnings) are shown once per
    place even where a stricter filter is set (pytest's ``error``): a command is their
    audience. Other categories keep the filters in force.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("default", category=UserWarning)
        warnings.showwarning = _show
        yield
