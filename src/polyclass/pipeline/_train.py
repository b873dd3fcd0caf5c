"""The main job: from a labelled table to an evaluated, reported, registered model.

Each numbered step of ``train`` is what a careful data scientist does by hand, in
the same order (``_steps.py`` up to the choice of a model, ``_final.py`` after it);
``progress(step, done, total)`` reports where the run is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polyclass._json import plain
from polyclass.pipeline._config import TrainConfig, check_out
from polyclass.pipeline._final import final_fit_and_test, save_and_register
from polyclass.pipeline._record import python_call
from polyclass.pipeline._run import Run, TrainResult
from polyclass.pipeline._steps import define, explore_data, load_and_check, split, tune, validate
from polyclass.report import write_report

__all__ = ["STEPS", "TrainResult", "train"]

Progress = Callable[[str, int, int], None]
STEPS = (
    "define the problem",
    "load and check the data",
    "explore",
    "split",
    "tune (cross-validation)",
    "evaluate on validation",
    "final fit and test",
    "report",
    "save and register",
)


def _report(run: Run, timings: dict[str, float]) -> None:
    cfg, costs, best = run.cfg, run.costs, run.best
    context = {
        "problem": {
            "target": cfg.target,
            "classes": [plain(c) for c in run.classes],
            "positive_class": plain(run.positive_class),
            "costs": None if costs is None else costs.to_dict(),
            "metric": run.scorer.name,
            "metric_reasons": list(run.scorer.reasons),
            "data_path": str(cfg.data),
        },
        "data": run.summary,
        "warnings": run.warnings,
        "leaderboard": {**run.leaderboard, "search": run.search},
        "strategies": {
            "summary": run.strategies,
            "candidates": [r.to_dict() for r in run.results],
            "chosen": best.candidate.strategy,
            "chosen_params": best.candidate.params(),
            "metric": run.scorer.name,
            "n_splits": cfg.cv,
            "tuned_on_rows": len(run.tune_rows),
            "training_rows": len(run.train_rows),
        },
        "validation": run.validation,
        "test": run.test,
        "coefficients": run.coefficients,
        "importance": run.importance,
        "partial_dependence": run.partial_dependence,
        "threshold": {
            **run.decision.to_dict(),
            "description": run.decision.describe(),
            "chosen_on": run.chosen_on,
        },
        "model": {
            "name": run.name,
            "family": best.candidate.family,
            "version": None if run.registered is None else run.registered["version"],
            "artifact_path": str(run.artifact_path),
            "training data fingerprint (SHA-256 of the table)": run.fingerprint,
            "seed": cfg.seed,
            "command": cfg.command or python_call(cfg),
        },
        "refit": run.refit,
        "split": {
            "train": len(run.train_rows),
            "validation": len(run.val_rows),
            "test": len(run.test_rows),
        },
        "timings": timings,
    }
    if run.distributed is not None:
        context["dask"] = run.distributed
    run.report_path, run.metrics_path = write_report(Path(cfg.out), context)


def train(
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
    dask: str | None = None,
    **options: Any,
) -> TrainResult:
    """Run the whole project on a table: check, explore, tune, evaluate, report, register.

    Parameters
    ----------
    config : TrainConfig, optional
        All options; alternatively pass them as keyword arguments
        (``train(data="penguins.csv", target="species")``).
    progress : callable, optional
        Called as ``progress(step, done, total)`` while the run advances.
    dask : str, optional
        Run on Dask: ``'local'`` (a LocalCluster for this run) or a scheduler address.
        ``data`` is then a Parquet file, folder or glob (local or a store URL); the
        passes over the whole table run on the cluster, the search on a sample (see
        ``docs/architecture.md``). Only the linear family, with the L2 penalty.

    Returns
    -------
    TrainResult

    Raises
    ------
    OutputExistsError
        ``out`` already holds a run and ``overwrite`` is false (checked first).

    Examples
    --------
    >>> import polyclass
    >>> from polyclass.datasets import penguins_path
    >>> result = polyclass.train(data=penguins_path(), target="species",
    ...                          families="linear,boosting", out="out",
    ...                          register=False)   # doctest: +SKIP
    >>> result.leaderboard["chosen"]              # doctest: +SKIP
    'linear'
    """
    cfg = config if config is not None else TrainConfig(**options)
    say: Progress = progress if progress is not None else (lambda step, done, total: None)
    check_out(cfg.out, cfg.overwrite)
    timings: dict[str, float] = {}
    if dask:
        run = _train_on_dask(cfg, dask, say, timings)
    else:
        run = Run(cfg)
        _run_steps(
            run, _steps(say, timings, load_and_check, split, final_fit_and_test), say, timings
        )
    return TrainResult(
        model=run.final,
        test_metrics=run.test,
        validation_metrics=run.validation,
        scorer=run.scorer.to_dict(),
        strategies=run.strategies,
        best_params=run.best.candidate.params(),
        report_path=run.report_path,
        metrics_path=run.metrics_path,
        artifact_path=run.artifact_path,
        registered=run.registered,
        warnings=run.warnings,
        timings=timings,
        tuning={
            "rows": len(run.tune_rows),
            "of": len(run.train_rows),
            "sampled": len(run.tune_rows) < len(run.train_rows),
            **run.search,
        },
        leaderboard=run.leaderboard,
        refit=run.refit,
        distributed=run.distributed,
    )


Step = Callable[[Run], None]


def _steps(
    say: Progress, timings: dict[str, float], load: Step, split_rows: Step, final: Step
) -> tuple[tuple[str, Step], ...]:
    """The steps in the order they run; loading, splitting and the final fit differ on Dask."""
    return (
        (STEPS[1], load),
        (STEPS[0], define),
        (STEPS[2], explore_data),
        (STEPS[3], split_rows),
        (STEPS[4], lambda r: tune(r, lambda done, total: say(STEPS[4], done, total))),
        (STEPS[5], validate),
        (STEPS[6], final),
        (STEPS[8], save_and_register),
        (STEPS[7], lambda r: _report(r, timings)),
    )


def _run_steps(
    run: Run, steps: tuple[tuple[str, Step], ...], say: Progress, timings: dict[str, float]
) -> None:
    for step, work in steps:
        say(step, 0, 1)
        clock = time.perf_counter()
        work(run)
        timings[step] = time.perf_counter() - clock
        say(step, 1, 1)


def _train_on_dask(cfg: TrainConfig, address: str, say: Progress, timings: dict[str, float]) -> Run:
    """The same steps with the passes over the whole table on a Dask cluster."""
    from polyclass.pipeline import _train_dask as on_dask
    from polyclass.scale import connect

    run = Run(on_dask.check_options(cfg), may_fork=False)
    with connect(address) as client:
        spread = on_dask.Spread(client, address)
        steps = _steps(
            say,
            timings,
            lambda r: on_dask.load_and_check(r, spread),
            lambda r: on_dask.split(r, spread),
            lambda r: on_dask.final_fit_and_test(r, spread),
        )
        _run_steps(run, steps, say, timings)
    return run
