"""``polyclass export MODEL --format onnx -o FILE``: the whole model in another format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polyclass._cli_errors import fail

__all__ = ["export_command"]

FORMATS = ("onnx",)


def export_command(
    model: Annotated[
        str,
        typer.Argument(
            help="NAME, NAME@ALIAS, NAME:VERSION, an artifact directory or a store URL."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    format: Annotated[str, typer.Option("--format", help="Target format: onnx.")] = "onnx",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry URL or directory (default $POLYCLASS_REGISTRY or ./.polyclass)."
        ),
    ] = None,
) -> None:
    """Write MODEL (preprocessing, estimator and decision rule) as one file in FORMAT."""
    from polyclass.artifact import ArtifactError
    from polyclass.registry import RegistryError

    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}; got {format!r}.")
    try:
        from polyclass.export import export_onnx
        from polyclass.model import load

        written = export_onnx(load(model, registry=registry), output, overwrite=overwrite)
    except (ValueError, ImportError, ArtifactError, RegistryError, FileNotFoundError) as exc:
        fail(str(exc).replace("pass overwrite=True", "pass --overwrite"))  # the API's words
    typer.echo(f"wrote {written} (inputs: the model's columns; outputs: label, probabilities)")
