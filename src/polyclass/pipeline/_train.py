"""The main job: from a labelled table to an evaluated, reported, registered model.

Each numbered step of ``train`` is what a careful data scientist does by hand, in
the same order; ``progress(step, done, total)`` reports where the run is.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass._json import plain
from polyclass._version import __version__
from polyclass.artifact import fingerprint_table
from polyclass.data import check_data, explore, infer_schema, load_table
from polyclass.data import stratified_split as split_rows
from polyclass.evaluation import evaluate, permutation_importance
from polyclass.model import Decision, Model
from polyclass.monitor import compute_reference
from polyclass.pipeline._config import TrainConfig, check_out
from polyclass.pipeline._costs import (
    Costs,
    choose_decision,
    positive_class_of,
    read_costs,
)
from polyclass.pipeline._fit import (
    add_objective,
    choose_scorer,
    coefficients,
    fit_estimator,
    fit_model,
    headline,
    out_of_fold,
    sample_rows,
    stratified_sample,
)
from polyclass.pipeline._labels import labels_of
from polyclass.pipeline._record import (
    default_name,
    python_call,
    register,
    stored_config,
    user,
)
from polyclass.pipeline._tune import (
    best_result,
    cross_validate,
    search_space,
    strategy_summary,
)
from polyclass.preprocess import Preprocessor
from polyclass.report import write_report

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
# Above this many training rows, hyperparameters are tuned on a stratified sample
# of this size (the final model is still fitted on every row).
TUNE_MAX_ROWS = 50_000
# Reference statistics for monitoring (quantile bins, category shares) come from at most
# this many of the fitted rows: plenty for the bins, and no second copy of a large table.
REFERENCE_MAX_ROWS = 200_000
# The final model of a table with more rows than this is fitted in float32: half the
# memory of its design matrix and the solvers' copies (peak memory under 4x the table).
FLOAT32_MIN_ROWS = 500_000


@dataclass
class TrainResult:
    """What ``train`` produced: the model, its test metrics and where things went."""

    model: Model
    test_metrics: dict[str, Any]
    validation_metrics: dict[str, Any]
    scorer: dict[str, Any]
    strategies: list[dict[str, Any]]
    best_params: dict[str, Any]
    report_path: Path
    metrics_path: Path
    artifact_path: Path
    registered: dict[str, Any] | None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    tuning: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    """What one training run knows so far; each step of :func:`train` adds a part."""

    cfg: TrainConfig
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    schema: Any = None
    checked: Any = None
    y: NDArray[Any] = field(default_factory=lambda: np.zeros(0))
    classes: NDArray[Any] = field(default_factory=lambda: np.zeros(0))
    positive_class: Any = None
    costs: Costs | None = None
    scorer: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    train_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    val_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    test_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    tune_rows: NDArray[Any] = field(default_factory=lambda: np.zeros(0, np.intp))
    results: list[Any] = field(default_factory=list)
    best: Any = None
    strategies: list[dict[str, Any]] = field(default_factory=list)
    decision: Decision = field(default_factory=Decision)
    chosen_on: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    final: Any = None
    test: dict[str, Any] = field(default_factory=dict)
    coefficients: dict[str, Any] = field(default_factory=dict)
    importance: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    n_rows: int = 0
    artifact_path: Path = Path()
    registered: dict[str, Any] | None = None
    report_path: Path = Path()
    metrics_path: Path = Path()

    @property
    def name(self) -> str:
        return self.cfg.name or default_name(self.cfg)

    def evaluate(self, rows: NDArray[Any], pred: NDArray[Any], proba: Any) -> dict[str, Any]:
        """Every metric with its interval on ``rows``, plus the optimised metric."""
        y = self.y[rows]
        out = evaluate(
            y,
            proba,
            self.classes,
            y_pred=pred,
            positive_class=self.positive_class,
            n_bootstrap=self.cfg.n_bootstrap,
            random_state=self.cfg.seed,
        )
        add_objective(out, self.scorer, y, pred, proba, self.classes, self.positive_class)
        return out


def _load_and_check(run: _Run) -> None:
    """Load the table, infer and check its schema, read the labels, classes and costs."""
    cfg = run.cfg
    frame = load_table(cfg.data)
    run.fingerprint = fingerprint_table(frame)
    schema = infer_schema(
        frame, cfg.target, overrides=cfg.column_types or None, drop=cfg.drop or None
    )
    run.checked = check_data(
        frame,
        cfg.target,
        schema,
        n_splits=cfg.cv,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        seed=cfg.seed,
    )
    run.frame = run.checked.apply(frame).reset_index(drop=True)
    run.warnings = [w.to_dict() for w in run.checked.warnings]
    run.n_rows = len(run.frame)
    run.schema = run.checked.schema
    run.y = labels_of(run.frame[cfg.target])
    run.classes = np.unique(run.y)
    run.positive_class = positive_class_of(cfg, run.y, run.classes)
    run.costs = read_costs(cfg, run.classes, run.positive_class)


def _define(run: _Run) -> None:
    """Choose the metric to optimise (the metrics library's advice unless given)."""
    run.scorer = choose_scorer(run.cfg, run.y, run.classes, run.costs, run.positive_class)


def _explore(run: _Run) -> None:
    run.summary = explore(run.frame, run.schema, seed=run.cfg.seed)


def _split(run: _Run) -> None:
    cfg = run.cfg
    parts = split_rows(run.y, test_size=cfg.test_size, val_size=cfg.val_size, seed=cfg.seed)
    run.train_rows, run.val_rows, run.test_rows = parts.train, parts.val, parts.test


def _tune(run: _Run, say: Progress) -> None:
    """Cross-validate every candidate on the training part (a stratified sample of it
    when it is large)."""
    cfg = run.cfg
    run.tune_rows = run.train_rows
    if len(run.train_rows) > TUNE_MAX_ROWS:
        run.tune_rows = stratified_sample(
            run.train_rows, run.y[run.train_rows], TUNE_MAX_ROWS, cfg.seed
        )
    candidates = search_space(
        cfg.strategies,
        cfg.C,
        cfg.l1_ratio,
        cfg.class_weight,
        n_classes=len(run.classes),
        search=cfg.search,
        n_trials=cfg.n_trials,
        seed=cfg.seed,
    )
    run.results = cross_validate(
        run.frame.iloc[run.tune_rows],
        run.y[run.tune_rows],
        run.schema,
        candidates,
        run.scorer,
        classes=run.classes,
        positive_class=run.positive_class,
        n_splits=cfg.cv,
        seed=cfg.seed,
        n_jobs=cfg.n_jobs,
        progress=lambda done, total: say(STEPS[4], done, total),
    )
    run.best = best_result(run.results, run.scorer)
    run.strategies = strategy_summary(run.results, run.scorer)


def _validate(run: _Run) -> None:
    """Fit on the training part, score validation; choose the operating point there
    when costs are given."""
    model = fit_model(run.frame, run.train_rows, run.y, run.schema, run.best.candidate, run.cfg)
    val_pred, val_proba = model.predict_with_proba(run.frame.iloc[run.val_rows])
    chosen = choose_decision(
        run.costs,
        run.y[run.val_rows],
        val_proba,
        run.classes,
        run.positive_class,
        # bound now: the table is freed after this step
        out_of_fold=partial(
            out_of_fold, run.frame, run.train_rows, run.y, run.schema, run.best.candidate, run.cfg
        ),
    )
    run.decision, run.chosen_on = chosen.decision, chosen.chosen_on
    if chosen.warning is not None:
        run.warnings.append(
            {"column": None, "code": "few_threshold_positives", "message": chosen.warning}
        )
    if run.decision.kind != "argmax":
        model.decision = run.decision
        val_pred = model.decide(val_proba)
    run.validation = run.evaluate(run.val_rows, val_pred, val_proba)


def _final_fit_and_test(run: _Run) -> None:
    """Fit on train + validation, then score the test rows once."""
    cfg = run.cfg
    fit_rows = np.concatenate([run.train_rows, run.val_rows])
    test_frame = run.frame.iloc[run.test_rows]
    reference_rows = sample_rows(fit_rows, REFERENCE_MAX_ROWS, cfg.seed)
    reference_frame = run.frame.iloc[reference_rows]
    fit_part = run.frame.iloc[fit_rows]
    # From here on only these parts are needed: drop the whole table, and the fitted
    # rows once transformed, so the final fit does not run beside them (peak memory).
    run.frame = pd.DataFrame()
    gc.collect()  # DataFrames sit in reference cycles: free the table now, not at a later GC
    dtype: Literal["float64", "float32"] = (
        "float32" if len(fit_rows) > FLOAT32_MIN_ROWS else "float64"
    )
    preprocessor = Preprocessor(run.schema, dtype=dtype).fit(fit_part)
    X_fit = preprocessor.transform(fit_part)
    del fit_part
    gc.collect()  # DataFrames sit in reference cycles: free them now, not at some later GC
    final = fit_estimator(
        preprocessor, X_fit, run.y[fit_rows], run.schema, run.best.candidate, cfg, dtype=dtype
    )
    del X_fit
    final.decision = run.decision
    test_pred, test_proba = final.predict_with_proba(test_frame)
    run.test = run.evaluate(run.test_rows, test_pred, test_proba)
    run.coefficients = coefficients(final)
    run.importance = permutation_importance(
        final.predict_proba,
        test_frame[run.schema.feature_names],
        run.y[run.test_rows],
        classes=run.classes,
        n_repeats=5,
        random_state=cfg.seed,
    )
    final.info = _info(run)
    # Reference statistics for monitoring: fitted rows' inputs (a sample of at most
    # REFERENCE_MAX_ROWS of them) and their hashes, held-out (test) scores.
    final.reference = compute_reference(
        reference_frame,
        run.schema,
        y=run.y[reference_rows],
        classes=final.classes_,
        proba=test_proba,
        predicted=test_pred,
        score_rows="test",
        performance=final.info["test_metrics"],
        target=cfg.target,
        fitted_rows=len(fit_rows),
    ).to_state()
    run.final = final


def _info(run: _Run) -> dict[str, Any]:
    """The model's metadata: what it predicts, how it was chosen, on what data."""
    return {
        "name": run.name,
        "target": run.cfg.target,
        "classes": [plain(c) for c in run.classes],
        "positive_class": plain(run.positive_class),
        "metric": run.scorer.to_dict(),
        "best_params": run.best.candidate.params(),
        "test_metrics": headline(run.test),
        "data_fingerprint": run.fingerprint,
        "important_features": [f["feature"] for f in run.importance["features"]],
        "n_rows": run.n_rows,
        "seed": run.cfg.seed,
        "train_config": stored_config(run.cfg),
        "trained_by": user(),
        "polyclass_version": __version__,
    }


def _save_and_register(run: _Run) -> None:
    run.artifact_path = run.final.save(Path(run.cfg.out) / "model", overwrite=True)
    if run.cfg.register:
        run.registered = register(run.cfg, run.name, run.artifact_path, run.final.info)


def _report(run: _Run, timings: dict[str, float]) -> None:
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
        "threshold": {
            **run.decision.to_dict(),
            "description": run.decision.describe(),
            "chosen_on": run.chosen_on,
        },
        "model": {
            "name": run.name,
            "version": None if run.registered is None else run.registered["version"],
            "artifact_path": str(run.artifact_path),
            "training data fingerprint (SHA-256 of the table)": run.fingerprint,
            "seed": cfg.seed,
            "command": cfg.command or python_call(cfg),
        },
        "split": {
            "train": len(run.train_rows),
            "validation": len(run.val_rows),
            "test": len(run.test_rows),
        },
        "timings": timings,
    }
    run.report_path, run.metrics_path = write_report(Path(cfg.out), context)


def train(
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
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
    ...                          out="out", register=False)   # doctest: +SKIP
    >>> result.test_metrics["accuracy"]                        # doctest: +SKIP
    0.98...
    """
    cfg = config if config is not None else TrainConfig(**options)
    say: Progress = progress if progress is not None else (lambda step, done, total: None)
    check_out(cfg.out, cfg.overwrite)
    run = _Run(cfg)
    timings: dict[str, float] = {}
    steps: tuple[tuple[str, Callable[[_Run], None]], ...] = (
        (STEPS[1], _load_and_check),
        (STEPS[0], _define),
        (STEPS[2], _explore),
        (STEPS[3], _split),
        (STEPS[4], lambda r: _tune(r, say)),
        (STEPS[5], _validate),
        (STEPS[6], _final_fit_and_test),
        (STEPS[8], _save_and_register),
        (STEPS[7], lambda r: _report(r, timings)),
    )
    for step, work in steps:
        say(step, 0, 1)
        clock = time.perf_counter()
        work(run)
        timings[step] = time.perf_counter() - clock
        say(step, 1, 1)
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
        },
    )
