"""``train``'s steps up to the choice of a model: load and check, define, explore,
split, tune (every family in the same folds), validate and choose the operating point."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from polyclass.artifact import fingerprint_table
from polyclass.data import check_data, explore, infer_schema, load_table
from polyclass.data import stratified_split as split_rows
from polyclass.pipeline._costs import choose_decision, positive_class_of, read_costs
from polyclass.pipeline._fit import choose_scorer, fit_model, out_of_fold, stratified_sample
from polyclass.pipeline._labels import labels_of
from polyclass.pipeline._leaderboard import leaderboard
from polyclass.pipeline._run import Run
from polyclass.pipeline._search import (
    Candidate,
    choose_families,
    class_weights_to_search,
    family_candidates,
    linear_candidates,
)
from polyclass.pipeline._tune import (
    FIRST_RUNG_FOLDS,
    CandidateResult,
    advance,
    best_result,
    cross_validate,
    n_workers,
    strategy_summary,
)

# Above this many training rows, hyperparameters are tuned on a stratified sample
# of this size (the final model is still fitted on every row).
TUNE_MAX_ROWS = 50_000
#: Successive halving on growing samples: when the tuning rows number at least
#: SCREEN_MIN_ROWS and several families compete, every candidate is first
#: cross-validated (with halving) on a stratified sample of SCREEN_ROWS of them; only
#: each family's best, unless it trails the leader by more than the noise, goes on to
#: the whole tuning sample. The screen scores at most FIRST_RUNG_FOLDS folds: it only
#: chooses what goes on.
SCREEN_ROWS = 10_000
SCREEN_MIN_ROWS = 30_000


def load_and_check(run: Run) -> None:
    """Load the table, infer and check its schema, read the labels, classes and costs."""
    frame = load_table(run.cfg.data)
    run.fingerprint = fingerprint_table(frame)
    check_table(run, frame)


def check_table(run: Run, frame: pd.DataFrame) -> None:
    """Infer and check ``frame``'s schema; keep the checked table, labels, classes, costs."""
    cfg = run.cfg
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


def define(run: Run) -> None:
    """Choose the metric to optimise (the metrics library's advice unless given)."""
    run.scorer = choose_scorer(run.cfg, run.y, run.classes, run.costs, run.positive_class)


def explore_data(run: Run) -> None:
    run.summary = explore(run.frame, run.schema, seed=run.cfg.seed)


def split(run: Run) -> None:
    cfg = run.cfg
    parts = split_rows(run.y, test_size=cfg.test_size, val_size=cfg.val_size, seed=cfg.seed)
    run.train_rows, run.val_rows, run.test_rows = parts.train, parts.val, parts.test


def tune(run: Run, say: Callable[[int, int], None]) -> None:
    """Cross-validate every candidate of every family on the training part (a stratified
    sample of it when it is large), in the same folds, and rank the families."""
    cfg = run.cfg
    run.tune_rows = run.train_rows
    if len(run.train_rows) > TUNE_MAX_ROWS:
        run.tune_rows = stratified_sample(
            run.train_rows, run.y[run.train_rows], TUNE_MAX_ROWS, cfg.seed
        )
    families, skipped = choose_families(cfg.families, len(run.train_rows))
    weights, weight_note = class_weights_to_search(cfg.class_weight, run.y[run.tune_rows])
    candidates = linear_candidates(
        cfg.strategies,
        cfg.C,
        cfg.l1_ratio,
        weights,
        n_classes=len(run.classes),
        search=cfg.search,
        n_trials=cfg.n_trials,
        seed=cfg.seed,
    ) + family_candidates(
        families, len(run.tune_rows), len(run.schema.feature_names), len(run.classes)
    )
    clock = time.perf_counter()
    screen: dict[str, Any] | None = None
    if cfg.halving and len(families) > 1 and len(run.tune_rows) >= SCREEN_MIN_ROWS:
        run.results, screen = _screen_then_tune(run, candidates, say)
    else:
        run.results = _cross_validate(run, run.tune_rows, candidates, cfg.time_budget, say)
    run.best = best_result(run.results, run.scorer)
    run.strategies = strategy_summary(run.results, run.scorer)
    run.leaderboard = leaderboard(run.results, skipped, run.scorer, run.best)
    run.search = {
        "families": families,
        "n_candidates": len(candidates),
        "n_fits": sum(f is not None for r in run.results for f in r.folds)
        + (0 if screen is None else int(screen.pop("replaced_fits"))),
        "n_pruned": sum(r.pruned is not None for r in run.results),
        "halving": cfg.halving,
        "time_budget": cfg.time_budget,
        "workers": n_workers(cfg.n_jobs),
        "seconds": time.perf_counter() - clock,
        "notes": [note for note in (weight_note,) if note is not None],
        "screen": screen,
    }


def _cross_validate(
    run: Run,
    rows: np.ndarray,
    candidates: list[Candidate],
    time_budget: float | None,
    say: Callable[[int, int], None],
    max_folds: int | None = None,
) -> list[CandidateResult]:
    cfg = run.cfg
    return cross_validate(
        run.frame.iloc[rows],
        run.y[rows],
        run.schema,
        candidates,
        run.scorer,
        classes=run.classes,
        positive_class=run.positive_class,
        n_splits=cfg.cv,
        seed=cfg.seed,
        n_jobs=cfg.n_jobs,
        halving=cfg.halving,
        time_budget=time_budget,
        progress=say,
        max_folds=max_folds,
    )


def _screen_then_tune(
    run: Run, candidates: list[Candidate], say: Callable[[int, int], None]
) -> tuple[list[CandidateResult], dict[str, Any]]:
    """Every candidate on a SCREEN_ROWS sample, then the advancing ones on every tuning
    row; the others keep their screen's scores with the reason they stopped."""
    cfg = run.cfg
    start = time.perf_counter()
    rows = stratified_sample(run.tune_rows, run.y[run.tune_rows], SCREEN_ROWS, cfg.seed)
    done = [0]  # candidates the screen has scored, for the progress of both rounds

    def first(n: int, total: int) -> None:
        done[0] = n
        say(n, total)

    first_results = _cross_validate(
        run, rows, candidates, cfg.time_budget, first, max_folds=FIRST_RUNG_FOLDS
    )
    chosen, dropped = advance(first_results, run.scorer, run.y[rows])
    if not chosen:  # nothing finished the screen (errors or the budget): nothing to go on
        return first_results, {"rows": len(rows), "advanced": [], "replaced_fits": 0}
    for i, result in enumerate(first_results):
        if i not in chosen and result.error is None:
            family = result.candidate.family
            why = result.pruned or dropped.get(family) or f"not {family}'s best candidate"
            result.pruned = f"screened out on {len(rows):,} rows: {why}"
    left = None if cfg.time_budget is None else cfg.time_budget - (time.perf_counter() - start)
    second = _cross_validate(
        run,
        run.tune_rows,
        [candidates[i] for i in chosen],
        None if left is None else max(left, 1e-3),
        lambda n, total: say(done[0] + n, done[0] + total),
    )
    results = list(first_results)
    for i, result in zip(chosen, second, strict=True):
        results[i] = result
    summary = {
        "rows": len(rows),
        "n_fits": sum(f is not None for r in first_results for f in r.folds),
        # the advanced candidates' screen fits, which their later results replace
        "replaced_fits": sum(f is not None for i in chosen for f in first_results[i].folds),
        "advanced": [candidates[i].params() for i in chosen],
    }
    return results, summary


def validate(run: Run) -> None:
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
    run.evaluate_aside("validation", run.val_rows, val_pred, val_proba)
