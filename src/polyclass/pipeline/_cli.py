"""``polyclass train | evaluate | predict``: the main job and its two companions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from polyclass._cli_errors import fail

console = Console()


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


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{option} expects comma-separated numbers, got {text!r}.")


def _words(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def train_command(
    data: Path = typer.Argument(..., help="CSV or Parquet file, one row per example."),
    target: str = typer.Option(None, "--target", "-t", help="The label column."),
    config: Path = typer.Option(None, "--config", help="TOML file with the same options."),
    metric: str = typer.Option(None, help="Metric to optimise; 'auto' asks the metrics library."),
    positive_class: str = typer.Option(None, help="Binary: the positive class."),
    cost_fp: float = typer.Option(None, help="Binary: cost of a false positive."),
    cost_fn: float = typer.Option(None, help="Binary: cost of a false negative."),
    cost_matrix: Path = typer.Option(None, help="Multiclass: CSV cost matrix (rows true)."),
    type_: list[str] = typer.Option([], "--type", help="Override a column kind: COLUMN=KIND."),
    drop: list[str] = typer.Option([], "--drop", help="Column to leave out (repeatable)."),
    test_size: float = typer.Option(None, help="Share of rows held out for the final test."),
    val_size: float = typer.Option(None, help="Share of rows for validation."),
    seed: int = typer.Option(None, help="Random seed for splits and search."),
    strategies: str = typer.Option(None, help="Comma list of multinomial,ovr,ovo."),
    c_values: str = typer.Option(None, "--C", help="Comma list of C values to try."),
    l1_ratio: str = typer.Option(None, help="Comma list of l1_ratio values to try."),
    class_weight: str = typer.Option(None, help="Comma list of none,balanced."),
    search: str = typer.Option(None, help="grid or random."),
    n_trials: int = typer.Option(None, help="Random search: number of candidates."),
    cv: int = typer.Option(None, help="Cross-validation folds."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default ./out)."),
    name: str = typer.Option(None, help="Registry name (default: the data file's stem)."),
    registry: str = typer.Option(
        None, envvar="POLYCLASS_REGISTRY", help="Registry URL (default ./.polyclass)."
    ),
    no_register: bool = typer.Option(False, "--no-register", help="Do not register."),
) -> None:
    """Train, evaluate, report and register a classifier for DATA's TARGET column."""
    from polyclass.pipeline import STEPS, TrainConfig, train

    options: dict[str, Any] = {
        "data": data,
        "target": target,
        "metric": metric,
        "positive_class": positive_class,
        "cost_fp": cost_fp,
        "cost_fn": cost_fn,
        "cost_matrix": cost_matrix,
        "column_types": _parse_types(type_) or None,
        "drop": drop or None,
        "test_size": test_size,
        "val_size": val_size,
        "seed": seed,
        "strategies": _words(strategies),
        "C": _floats(c_values, "--C"),
        "l1_ratio": _floats(l1_ratio, "--l1-ratio"),
        "class_weight": _words(class_weight),
        "search": search,
        "n_trials": n_trials,
        "cv": cv,
        "out": out,
        "name": name,
        "registry": registry,
        "register": False if no_register else None,
    }
    with _user_errors():
        if config is not None:
            cfg = TrainConfig.from_toml(config, **options)
        else:
            if target is None:
                fail("--target is required (the name of the label column), or use --config.")
            cfg = TrainConfig(**{k: v for k, v in options.items() if v is not None})
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

            result = train(cfg, progress=on_progress)
    _print_summary(result)


def _print_summary(result: Any) -> None:
    scorer = result.scorer
    console.print(f"\n[bold]Metric optimised:[/] {scorer['name']}")
    for reason in scorer.get("reasons", []):
        console.print(f"  - {reason}")
    table = Table(title="Strategies (cross-validated)")
    for col in ("strategy", f"CV {scorer['name']}", "± std", "fit s", "best C", "class weight"):
        table.add_column(col)
    for row in result.strategies:
        p = row["best_params"]
        table.add_row(
            row["label"],
            f"{row['cv_mean']:.4f}",
            f"{row['cv_std']:.4f}",
            f"{row['fit_seconds']:.3f}",
            f"{p['C']:g}",
            p["class_weight"],
        )
    console.print(table)
    console.print(_metrics_table("Held-out test set (used once)", result.test_metrics))
    for w in result.warnings:
        console.print(f"[yellow]data warning[/] {w.get('column') or ''}: {w.get('message')}")
    console.print(f"report:   {result.report_path}")
    console.print(f"metrics:  {result.metrics_path}")
    console.print(f"artifact: {result.artifact_path}")
    if result.registered:
        r = result.registered
        console.print(f"registered: [bold]{r['name']}:{r['version']}[/]")


def _metrics_table(title: str, evaluation: dict[str, Any]) -> Table:
    table = Table(title=title)
    for col in ("metric", "value", "95% interval"):
        table.add_column(col)
    for key, entry in evaluation.get("metrics", {}).items():
        if entry.get("value") is None:
            continue
        ci = entry.get("ci")
        interval = "" if not ci else f"{ci[0]:.4f} to {ci[1]:.4f}"
        table.add_row(key, f"{entry['value']:.4f}", interval)
    return table


def evaluate_command(
    model: str = typer.Argument(..., help="Model path, name, name@alias or name:version."),
    data: Path = typer.Argument(..., help="Labelled CSV or Parquet file."),
    out: Path = typer.Option(Path("out/evaluation"), "--out", "-o", help="Report folder."),
    registry: str = typer.Option(None, envvar="POLYCLASS_REGISTRY", help="Registry URL."),
) -> None:
    """Evaluate MODEL on labelled DATA and write the same report."""
    from polyclass.model import load
    from polyclass.pipeline._evaluate import evaluate_model

    with _user_errors():
        result, report, metrics_json = evaluate_model(load(model, registry=registry), data, out)
    console.print(_metrics_table(f"{model} on {data}", result))
    console.print(f"report:  {report}\nmetrics: {metrics_json}")


def predict_command(
    model: str = typer.Argument(..., help="Model path, name, name@alias or name:version."),
    data: Path = typer.Argument(..., help="CSV or Parquet file to predict."),
    output: Path = typer.Option(..., "--output", "-o", help="OUT.csv or OUT.parquet."),
    keep: list[str] = typer.Option([], "--keep", help="Input column to copy (repeatable)."),
    chunksize: int = typer.Option(100_000, help="Rows per chunk."),
    registry: str = typer.Option(None, envvar="POLYCLASS_REGISTRY", help="Registry URL."),
) -> None:
    """Predict every row of DATA (streamed in chunks) into OUT with class probabilities."""
    from polyclass.model import load
    from polyclass.pipeline._predict import predict_file

    with _user_errors():
        loaded = load(model, registry=registry)
        with console.status("predicting") as status:
            rows = predict_file(
                loaded,
                data,
                output,
                chunksize=chunksize,
                keep_columns=keep,
                progress=lambda n: status.update(f"predicted {n:,} rows"),
            )
    console.print(f"wrote {rows:,} predictions to {output}")
