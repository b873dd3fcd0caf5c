"""``polyclass feedback export`` and ``polyclass retrain``: closing the loop from the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from polyclass._cli_errors import fail, say_warning

console = Console()

feedback_app = typer.Typer(
    help="Labelled feedback from the prediction log.", no_args_is_help=True, add_completion=False
)

RegistryOption = Annotated[
    str | None,
    typer.Option(envvar="POLYCLASS_REGISTRY", help="Registry URL.", show_default="./.polyclass"),
]


@feedback_app.command("export")
def feedback_export_command(
    model: Annotated[str, typer.Argument(help="Registry reference or artifact folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="OUT.parquet or OUT.csv.")],
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="The model's log folder (<root>/logs/<name>).",
            show_default="the folder `polyclass serve` writes for this model",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only predictions at or after this ISO time (UTC unless zoned)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
    registry: RegistryOption = None,
) -> None:
    """Join logged predictions with their feedback and write the labelled rows."""
    from polyclass.artifact import ArtifactError
    from polyclass.pipeline._feedback_export import export_feedback
    from polyclass.predlog import LogError
    from polyclass.registry import RegistryError

    try:
        result = export_feedback(
            model, output, log_dir=log, since=since, registry=registry, overwrite=overwrite
        )
    except (LogError, ValueError, ArtifactError, RegistryError, FileNotFoundError) as exc:
        fail(str(exc))
    if result.n_unknown_ids:
        shown = ", ".join(result.unknown_id_examples)
        say_warning(
            f"{result.n_unknown_ids} feedback item(s) name a request id (and row) the log does "
            f"not hold (e.g. {shown}); they are not exported. Check the ids posted to /feedback."
        )
    if result.n_duplicates:
        say_warning(
            f"{result.n_duplicates} row(s) were labelled more than once "
            f"({result.n_superseded} label(s) superseded); the latest label wins."
        )
    if result.unknown_labels:
        say_warning(
            f"labels outside the model's classes were left out: {result.unknown_labels}. "
            "Relabel them, or train a new model if the classes changed."
        )
    for p in result.problems:
        say_warning(f"skipped {p['path']}: {p['reason']}")
    console.print(
        f"wrote {result.n_rows:,} labelled rows ({result.n_feedback:,} feedback items) to "
        f"{escape(str(result.path))}"
    )


def retrain_command(
    model: Annotated[str, typer.Argument(help="The champion: name, name@production, name:3.")],
    data: Annotated[Path, typer.Option("--data", help="The original training table.")],
    feedback: Annotated[
        Path | None,
        typer.Option(help="Labelled rows from `polyclass feedback export` (newest = test set)."),
    ] = None,
    promote_if_better: Annotated[
        bool,
        typer.Option(
            "--promote-if-better",
            help="Move 'production' to the challenger when better with the interval "
            "excluding zero.",
        ),
    ] = False,
    alpha: Annotated[float, typer.Option(help="Level of the tests; interval 1-alpha.")] = 0.05,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("retrain"),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a previous run in --out.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    registry: RegistryOption = None,
) -> None:
    """Train a challenger like the champion, compare them on the same rows, maybe promote.

    Exits 0 when promoted (or better without --promote-if-better), 1 when the challenger is
    not better, 2 on an error.
    """
    from polyclass.artifact import ArtifactError
    from polyclass.pipeline._compare import p_text
    from polyclass.pipeline._retrain import retrain
    from polyclass.registry import RegistryError

    try:
        with console.status("training the challenger"):
            result = retrain(
                model,
                data,
                feedback=feedback,
                out=out,
                promote_if_better=promote_if_better,
                alpha=alpha,
                registry=registry,
                overwrite=overwrite,
            )
    except (ValueError, ArtifactError, RegistryError, FileNotFoundError) as exc:
        fail(str(exc))
    c = result.comparison
    for text in c.get("warnings", []):
        say_warning(text)
    if as_json:
        sys.stdout.write(json.dumps(c, indent=2, default=str) + "\n")
    else:
        d = c["difference"]
        console.print(
            f"{escape(result.name)}: challenger version {result.challenger_version} "
            f"(alias challenger) against champion version {result.champion_version} on "
            f"{c['test_rows']} rows"
        )
        console.print(
            f"  {c['metric']}: {c['challenger']['score']:.4f} vs {c['champion']['score']:.4f}, "
            f"difference {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}], "
            f"{p_text(d['p_value'], d['n_resamples'])}; McNemar p={c['mcnemar']['p_value']:.3g}"
        )
        console.print(f"  {escape(c['decision']['why'])}")
        if result.promoted:
            console.print(f"  promoted: production -> version {result.challenger_version}")
        console.print(f"  report: {escape(str(result.out / 'comparison.html'))}")
    raise typer.Exit(0 if result.better else 1)
