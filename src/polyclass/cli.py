"""The ``polyclass`` command line: the one module that knows every box.

Each command parses its options, calls one function of a subpackage and renders
the result with Rich. Heavy imports happen inside the commands so ``--help`` and
``--version`` answer at once.
"""

from __future__ import annotations

import typer
from rich.console import Console

from polyclass._version import __version__
from polyclass.registry._cli import registry_app

app = typer.Typer(
    name="polyclass",
    help="From a labelled table to an evaluated, registered, served multiclass classifier.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


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


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error for a person and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


from polyclass.pipeline._cli import evaluate_command, predict_command, train_command  # noqa: E402

app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
from polyclass.monitor._cli import monitor_command  # noqa: E402

app.command("monitor")(monitor_command)
from polyclass.serve._cli import serve_command  # noqa: E402
app.command("serve")(serve_command)
app.add_typer(registry_app, name="registry")

if __name__ == "__main__":  # pragma: no cover
    app()
