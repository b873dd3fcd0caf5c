"""The ``polyclass`` command line: the one module that knows every box.

Each command lives beside the box it drives (``pipeline/_cli.py``, ``registry/_cli.py``,
``serve/_cli.py``, ``monitor/_cli.py``): it parses options, calls that box and renders
the result with Rich. Those modules import only Typer and Rich at the top and load the
heavy parts inside the commands, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from polyclass._cli_errors import fail, shown_warnings
from polyclass._version import __version__
from polyclass.cloud._cli import cloud_app
from polyclass.deploy._cli import deploy_app
from polyclass.export._cli import export_command
from polyclass.monitor._cli import monitor_command
from polyclass.pipeline._cli import evaluate_command, predict_command, train_command
from polyclass.pipeline._cli_loop import feedback_app, retrain_command
from polyclass.registry._cli import registry_app
from polyclass.serve._cli import serve_command

#: Click's exceptions module (newer Typer vendors Click, so it is not ``click.exceptions``).
_click_errors: Any = sys.modules[typer.BadParameter.__module__]


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """Report a bad option or argument (Click's usage errors) as the one-line ``error:``."""
    try:
        yield
    except _click_errors.NoArgsIsHelpError:
        raise  # Click prints the help for a bare command
    except _click_errors.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        message = exc.format_message().replace("Value error, ", "").rstrip(".")
        hint = f" See '{ctx.command_path} --help'." if ctx is not None else ""
        fail(f"{message}.{hint}", exc.exit_code)


class _Group(TyperGroup):
    """Every command's usage errors as one ``error:`` line, its warnings as ``warning:`` lines."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors(), shown_warnings():
            return super().invoke(ctx)


app = typer.Typer(
    name="polyclass",
    cls=_Group,
    help="From a labelled table to an evaluated, registered, served multiclass classifier.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def _print_version(value: bool) -> None:
    if value:
        console.print(f"polyclass {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """polyclass: train, evaluate, register, serve and monitor multiclass classifiers."""


app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.add_typer(registry_app, name="registry")
app.command("serve")(serve_command)
app.command("monitor")(monitor_command)
app.add_typer(cloud_app, name="cloud")
app.add_typer(deploy_app, name="deploy")
app.command("export")(export_command)
app.add_typer(feedback_app, name="feedback")
app.command("retrain")(retrain_command)

if __name__ == "__main__":  # pragma: no cover
    app()
