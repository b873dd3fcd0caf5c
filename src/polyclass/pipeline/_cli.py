"""``polyclass train | evaluate | predict``: the main job and its two companions."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from polyclass._cli_errors import fail, say_warning

console = Console()

#: The metrics train can optimise (``pipeline._scoring.METRIC_CHOICES``; a test keeps
#: the two equal, and this module imports nothing heavy so --help answers at once).
Metric = Literal[
    "auto",
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "f1",
    "f1_macro",
    "f1_weighted",
    "log_loss",
    "mcc",
    "roc_auc",
    "roc_auc_ovr",
    "expected_cost",
]
Search = Literal["grid", "random"]
Registry = Annotated[
    str | None,
    typer.Option(envvar="POLYCLASS_REGISTRY", help="Registry URL.", show_default="./.polyclass"),
]
ModelRef = Annotated[str, typer.Argument(help="Model path, name, name@alias or name:version.")]
Dask = Annotated[
    str | None,
    typer.Option(
        "--dask",
        envvar="DASK_SCHEDULER_ADDRESS",
        help="Run on Dask: 'local' (a LocalCluster for this run) or a scheduler address; "
        "DATA is then a Parquet file, folder or glob, local or in a store.",
    ),
]


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a person can act on into one line and exit code 2."""
    from polyclass.artifact import ArtifactError
    from polyclass.registry import RegistryError

    try:
        yield
    except (ValueError, ArtifactError, RegistryError, FileNotFoundError) as exc:
        fail(str(exc))


def _parse_types(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        column, sep, kind = item.partition("=")
        if not sep or not column or not kind:
            fail(f"--type expects COLUMN=KIND (e.g. --type zip=categorical), got {item!r}.")
        out[column] = kind
    return out


def train_command(
    data: Annotated[
        str,
        typer.Argument(
            help="CSV or Parquet file, one row per example (with --dask: Parquet file, "
            "folder or glob, local or a store URL)."
        ),
    ],
    target: Annotated[str | None, typer.Option("--target", "-t", help="The label column.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML file with the same options (see examples/train.toml)."),
    ] = None,
    metric: Annotated[
        Metric | None,
        typer.Option(
            help="Metric to optimise; 'auto' asks the metrics library.", show_default="auto"
        ),
    ] = None,
    positive_class: Annotated[
        str | None,
        typer.Option(help="Binary: the positive class.", show_default="the minority class"),
    ] = None,
    cost_fp: Annotated[float | None, typer.Option(help="Binary: cost of a false positive.")] = None,
    cost_fn: Annotated[float | None, typer.Option(help="Binary: cost of a false negative.")] = None,
    cost_matrix: Annotated[
        Path | None, typer.Option(help="Multiclass: CSV cost matrix (rows true).")
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Override a column kind: COLUMN=KIND (repeatable)."),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Column to leave out (repeatable).")
    ] = None,
    test_size: Annotated[
        float | None,
        typer.Option(help="Share of rows held out for the final test.", show_default="0.2"),
    ] = None,
    val_size: Annotated[
        float | None, typer.Option(help="Share of rows for validation.", show_default="0.2")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed for splits and search.", show_default="0")
    ] = None,
    strategies: Annotated[
        str | None,
        typer.Option(
            help="Comma list from multinomial, ovr, ovo.", show_default="multinomial,ovr,ovo"
        ),
    ] = None,
    c_values: Annotated[
        str | None,
        typer.Option("--C", help="Comma list of C values to try.", show_default="0.1,1,10"),
    ] = None,
    l1_ratio: Annotated[
        str | None, typer.Option(help="Comma list of l1_ratio values to try.", show_default="0")
    ] = None,
    class_weight: Annotated[
        str | None,
        typer.Option(help="Comma list from none, balanced.", show_default="none,balanced"),
    ] = None,
    search: Annotated[
        Search | None, typer.Option(help="How candidates are chosen.", show_default="grid")
    ] = None,
    n_trials: Annotated[
        int | None, typer.Option(help="Random search: number of candidates.", show_default="30")
    ] = None,
    cv: Annotated[
        int | None, typer.Option(help="Cross-validation folds.", show_default="5")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder.", show_default="./out")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace a previous run in --out (refused otherwise)."),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(help="Registry name.", show_default="the data file's stem"),
    ] = None,
    registry: Registry = None,
    no_register: Annotated[bool, typer.Option("--no-register", help="Do not register.")] = False,
    families: Annotated[
        str | None,
        typer.Option(
            help="Comma list of model families to compare (linear is always included).",
            show_default="every family; linear,boosting above 100,000 rows",
        ),
    ] = None,
    n_jobs: Annotated[
        int | None,
        typer.Option(
            help="Parallel fits (threads) in the search (-1: every core).", show_default="-1"
        ),
    ] = None,
    halving: Annotated[
        bool | None,
        typer.Option(
            "--halving/--no-halving",
            help="Prune weak candidates after two folds (successive halving).",
            show_default="--halving",
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Seconds for the search; no new fit starts after them."),
    ] = None,
    refit_all: Annotated[
        bool,
        typer.Option("--refit-all", help="After the test, refit the chosen model on every row."),
    ] = False,
    dask: Dask = None,
) -> None:
    """Train, evaluate, report and register a classifier for DATA's TARGET column."""
    from polyclass.pipeline import STEPS, TrainConfig, check_out, train

    options: dict[str, Any] = {
        "data": data,
        "target": target,
        "metric": metric,
        "positive_class": positive_class,
        "cost_fp": cost_fp,
        "cost_fn": cost_fn,
        "cost_matrix": cost_matrix,
        "column_types": _parse_types(type_ or []) or None,
        "drop": drop or None,
        "test_size": test_size,
        "val_size": val_size,
        "seed": seed,
        "strategies": strategies,
        "C": c_values,
        "l1_ratio": l1_ratio,
        "class_weight": class_weight,
        "search": search,
        "n_trials": n_trials,
        "cv": cv,
        "out": out,
        "overwrite": overwrite or None,
        "name": name,
        "registry": registry,
        "register": False if no_register else None,
        "families": families,
        "n_jobs": n_jobs,
        "halving": halving,
        "time_budget": time_budget,
        "refit_all": refit_all or None,
        "command": shlex.join(["polyclass", *sys.argv[1:]]),
    }
    with _user_errors():
        if config is not None:
            cfg = TrainConfig.from_toml(config, **options)
        else:
            if target is None:
                fail("--target is required (the name of the label column), or use --config.")
            cfg = TrainConfig(**{k: v for k, v in options.items() if v is not None})
        check_out(cfg.out, cfg.overwrite)  # before the progress bars: nothing ran yet
        columns = (
            TextColumn("[bold]{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            tasks = {step: bar.add_task(step, total=1, start=False) for step in STEPS}

            def on_progress(step: str, done: int, total: int) -> None:
                task = tasks[step]
                bar.start_task(task)
                bar.update(task, completed=done, total=total)

            try:
                result = train(cfg, progress=on_progress, dask=dask)
            except BaseException:
                bar.live.transient = True  # the error alone, not bars stuck where it stopped
                raise
    _print_summary(result)


def _print_summary(result: Any) -> None:
    scorer = result.scorer
    console.print(f"\n[bold]Metric optimised:[/] {scorer['name']}")
    for reason in scorer.get("reasons", []):
        console.print(f"  - {reason}")
    console.print(_leaderboard_table(scorer["name"], result.leaderboard))
    console.print(f"[bold]Chosen:[/] {result.leaderboard['why']}", highlight=False, soft_wrap=True)
    params = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items()
    )
    console.print(f"[bold]Parameters:[/] {params}", highlight=False, soft_wrap=True)
    if result.refit is not None:
        console.print(result.refit["note"], highlight=False, soft_wrap=True)
    if result.distributed is not None:
        d = result.distributed
        console.print(
            f"Dask: fitted on {d['fitted_rows']:,} rows in {d['parts']} parts on "
            f"{d['workers']} workers, {d['solver_iterations']} solver iterations, "
            f"{d['round_trips']} round trips; checked, tuned and validated on a sample of "
            f"{d['sample_rows']:,} rows.",
            highlight=False,
        )
    if result.tuning["sampled"]:
        console.print(
            f"Tuned on a stratified sample of {result.tuning['rows']:,} of "
            f"{result.tuning['of']:,} training rows; the final model is fitted on every row.",
            highlight=False,
        )
    console.print(_metrics_table("Held-out test set (used once)", result.test_metrics))
    for w in result.warnings:
        column = f"{w['column']}: " if w.get("column") else ""
        say_warning(f"{column}{w.get('message')}")
    console.print(f"report:   {result.report_path}")
    console.print(f"metrics:  {result.metrics_path}")
    console.print(f"artifact: {result.artifact_path}")
    if result.registered:
        r = result.registered
        console.print(f"registered: [bold]{r['name']}:{r['version']}[/]")


def _leaderboard_table(metric: str, board: dict[str, Any]) -> Table:
    table = Table(title="Model families (cross-validated, same folds)")
    for col in ("family", f"CV {metric}", "95% interval", "fit s", "predict s/1k", "size"):
        table.add_column(col)
    for row in board["families"]:
        if row["status"] == "skipped":
            table.add_row(row["family"], f"skipped: {row['reason']}", "", "", "", "")
            continue
        interval = row["cv_interval"]
        size = row["size_bytes"]
        table.add_row(
            row["family"] + (" (chosen)" if row["status"] == "chosen" else ""),
            f"{row['cv_mean']:.4f}",
            "" if interval is None else f"{interval[0]:.4f} to {interval[1]:.4f}",
            f"{row['fit_seconds']:.3f}",
            f"{row['predict_seconds_per_1000']:.4f}",
            "" if size is None else f"{size / 1024:,.0f} KiB",
        )
    return table


def _metrics_table(title: str, evaluation: dict[str, Any]) -> Table:
    table = Table(title=title)
    for col in ("metric", "value", "95% interval"):
        table.add_column(col)
    for key, entry in evaluation.get("metrics", {}).items():
        if entry.get("value") is None:
            # evaluate's rule: a value that does not exist says why (metrics.json's reason)
            reason = str(entry.get("undefined") or "undefined").removeprefix("undefined: ")
            table.add_row(key, "undefined", escape(reason))
            continue
        ci = entry.get("ci")
        interval = (
            escape(str(entry.get("ci_note", ""))) if not ci else f"{ci[0]:.4f} to {ci[1]:.4f}"
        )
        table.add_row(key, f"{entry['value']:.4f}", interval)
    return table


def evaluate_command(
    model: ModelRef,
    data: Annotated[str, typer.Argument(help="Labelled CSV or Parquet file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path(
        "out/evaluation"
    ),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a previous report in --out.")
    ] = False,
    registry: Registry = None,
    target: Annotated[
        str | None, typer.Option("--target", help="With --dask: the label column.")
    ] = None,
    dask: Dask = None,
) -> None:
    """Evaluate MODEL on labelled DATA and write the same report."""
    from polyclass.model import load
    from polyclass.pipeline import evaluate_model

    if dask:
        with _user_errors():
            from polyclass.scale import evaluate_on_dask

            metrics, path = evaluate_on_dask(
                load(model, registry=registry), data, out, target, dask, overwrite
            )
        for key, value in metrics.items():
            if isinstance(value, float):
                console.print(f"{key:<20} {value:.4f}")
        console.print(f"rows: {metrics['rows']:,}\nmetrics: {path}")
        return
    with _user_errors():
        done = evaluate_model(load(model, registry=registry), data, out, overwrite=overwrite)
    for warning in done.warnings:
        say_warning(warning)
    console.print(_metrics_table(done.description, done.evaluation))
    console.print(f"report:  {done.report_path}\nmetrics: {done.metrics_path}")


def predict_command(
    model: ModelRef,
    data: Annotated[str, typer.Argument(help="CSV or Parquet file to predict.")],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="OUT.csv or OUT.parquet; with --dask a folder (or store URL)."
        ),
    ],
    keep: Annotated[
        list[str] | None, typer.Option("--keep", help="Input column to copy (repeatable).")
    ] = None,
    chunksize: Annotated[int, typer.Option(help="Rows per chunk.")] = 100_000,
    registry: Registry = None,
    dask: Dask = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="With --dask: replace parts already in OUT.")
    ] = False,
) -> None:
    """Predict every row of DATA (streamed in chunks) into OUT with class probabilities."""
    from polyclass.model import load
    from polyclass.pipeline import predict_file

    if dask:
        with _user_errors():
            from polyclass.scale import predict_on_dask

            rows = predict_on_dask(
                load(model, registry=registry), data, output, keep or [], dask, overwrite
            )
        console.print(f"wrote {rows:,} predictions to {output} (partitioned Parquet)")
        return
    with _user_errors():
        loaded = load(model, registry=registry)
        with console.status("predicting") as status:
            rows = predict_file(
                loaded,
                data,
                output,
                chunksize=chunksize,
                keep_columns=keep or [],
                progress=lambda n: status.update(f"predicted {n:,} rows"),
            )
    console.print(f"wrote {rows:,} predictions to {output}")
