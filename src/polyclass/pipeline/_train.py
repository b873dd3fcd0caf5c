"""The main job: from a labelled table to an evaluated, reported, registered model.

Each numbered step of ``train`` is what a careful data scientist does by hand, in
the same order; ``progress(step, done, total)`` reports where the run is.
"""

from __future__ import annotations

import gc
import getpass
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass import metrics
from polyclass._version import __version__
from polyclass.artifact import fingerprint_table
from polyclass.data import check_data, explore, infer_schema, load_table
from polyclass.data import stratified_split as split_rows
from polyclass.evaluation import coefficient_table, evaluate, permutation_importance
from polyclass.model import Model
from polyclass.monitor import compute_reference
from polyclass.pipeline._config import TrainConfig
from polyclass.pipeline._costs import (
    Costs,
    choose_decision,
    out_of_fold_proba,
    positive_class_of,
    read_costs,
)
from polyclass.pipeline._labels import labels_of
from polyclass.pipeline._scoring import Scorer, named_scorer, scorer_from_advice
from polyclass.pipeline._tune import (
    Candidate,
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


def _choose_scorer(
    config: TrainConfig,
    y: NDArray[Any],
    classes: NDArray[Any],
    costs: Costs | None,
    positive_class: Any,
) -> Scorer:
    if config.metric == "expected_cost":
        if costs is None:
            raise ValueError(
                "metric 'expected_cost' needs costs: pass --cost-fp/--cost-fn or --cost-matrix."
            )
        return Scorer(
            "expected_cost",
            "expected_cost",
            "label",
            {},
            False,
            ["chosen with --metric expected_cost"],
            costs.matrix,
        )
    if config.metric != "auto":
        return named_scorer(config.metric, len(classes))
    advice = metrics.recommend_metric(
        y,
        costs=None if costs is None else costs.for_advice(),
        pos_label=None if len(classes) != 2 else positive_class,
    )
    scorer = scorer_from_advice(advice.metric, dict(advice.kwargs), list(advice.reasons))
    if costs is not None:
        scorer.cost_matrix = costs.matrix
    return scorer


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
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now
        say(step, 1, 1)

    # 1-2. Define the problem, load and check the data.
    say(STEPS[1], 0, 1)
    frame = load_table(cfg.data)
    schema = infer_schema(
        frame, cfg.target, overrides=cfg.column_types or None, drop=cfg.drop or None
    )
    checked = check_data(
        frame,
        cfg.target,
        schema,
        n_splits=cfg.cv,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        seed=cfg.seed,
    )
    frame = checked.apply(frame).reset_index(drop=True)
    schema = checked.schema
    y = labels_of(frame[cfg.target])
    classes = np.unique(y)
    positive_class = positive_class_of(cfg, y, classes)
    costs = read_costs(cfg, classes, positive_class)
    lap(STEPS[1])

    scorer = _choose_scorer(cfg, y, classes, costs, positive_class)
    lap(STEPS[0])

    # 3. Explore.
    summary = explore(frame, schema, seed=cfg.seed)
    lap(STEPS[2])

    # 4. Split.
    parts = split_rows(y, test_size=cfg.test_size, val_size=cfg.val_size, seed=cfg.seed)
    train_rows, val_rows, test_rows = parts.train, parts.val, parts.test
    lap(STEPS[3])

    # 5. Tune on the training part (a stratified sample of it when it is large).
    tune_rows = train_rows
    if len(train_rows) > TUNE_MAX_ROWS:
        tune_rows = _stratified_sample(train_rows, y[train_rows], TUNE_MAX_ROWS, cfg.seed)
    candidates = search_space(
        cfg.strategies,
        cfg.C,
        cfg.l1_ratio,
        cfg.class_weight,
        n_classes=len(classes),
        search=cfg.search,
        n_trials=cfg.n_trials,
        seed=cfg.seed,
    )
    results = cross_validate(
        frame.iloc[tune_rows],
        y[tune_rows],
        schema,
        candidates,
        scorer,
        classes=classes,
        positive_class=positive_class,
        n_splits=cfg.cv,
        seed=cfg.seed,
        n_jobs=cfg.n_jobs,
        progress=lambda done, total: say(STEPS[4], done, total),
    )
    best = best_result(results, scorer)
    strategies = strategy_summary(results, scorer)
    lap(STEPS[4])

    # 6. Evaluate on validation; choose the operating point there when costs are given.
    model = _fit_model(frame, train_rows, y, schema, best.candidate, cfg)
    val_pred, val_proba = model.predict_with_proba(frame.iloc[val_rows])
    chosen = choose_decision(
        costs,
        y[val_rows],
        val_proba,
        classes,
        positive_class,
        # bound now: the table is freed after this step
        out_of_fold=partial(_out_of_fold, frame, train_rows, y, schema, best.candidate, cfg),
    )
    decision = model.decision = chosen.decision
    warnings = [w.to_dict() for w in checked.warnings]
    if chosen.warning is not None:
        warnings.append(
            {"column": None, "code": "few_threshold_positives", "message": chosen.warning}
        )
    if decision.kind != "argmax":
        val_pred = model.decide(val_proba)
    validation = evaluate(
        y[val_rows],
        val_proba,
        classes,
        y_pred=val_pred,
        positive_class=positive_class,
        n_bootstrap=cfg.n_bootstrap,
        random_state=cfg.seed,
    )
    _add_objective(validation, scorer, y[val_rows], val_pred, val_proba, classes, positive_class)
    lap(STEPS[5])

    # 7. Final fit on train + validation, then test once.
    fit_rows = np.concatenate([train_rows, val_rows])
    n_rows = len(frame)
    fingerprint = fingerprint_table(frame)
    test_frame = frame.iloc[test_rows]
    reference_rows = _sample_rows(fit_rows, REFERENCE_MAX_ROWS, cfg.seed)
    reference_frame = frame.iloc[reference_rows]
    fit_part = frame.iloc[fit_rows]
    # From here on only these parts are needed: drop the whole table, and the fitted
    # rows once transformed, so the final fit does not run beside them (peak memory).
    del frame
    gc.collect()  # DataFrames sit in reference cycles: free the table now, not at a later GC
    dtype: Literal["float64", "float32"] = (
        "float32" if len(fit_rows) > FLOAT32_MIN_ROWS else "float64"
    )
    preprocessor = Preprocessor(schema, dtype=dtype).fit(fit_part)
    X_fit = preprocessor.transform(fit_part)
    del fit_part
    gc.collect()  # DataFrames sit in reference cycles: free them now, not at some later GC
    final = _fit_estimator(
        preprocessor, X_fit, y[fit_rows], schema, best.candidate, cfg, dtype=dtype
    )
    del X_fit
    final.decision = decision
    test_pred, test_proba = final.predict_with_proba(test_frame)
    test = evaluate(
        y[test_rows],
        test_proba,
        classes,
        y_pred=test_pred,
        positive_class=positive_class,
        n_bootstrap=cfg.n_bootstrap,
        random_state=cfg.seed,
    )
    _add_objective(test, scorer, y[test_rows], test_pred, test_proba, classes, positive_class)
    coefficients = _coefficients(final)
    importance = permutation_importance(
        final.predict_proba,
        test_frame[schema.feature_names],
        y[test_rows],
        classes=classes,
        n_repeats=5,
        random_state=cfg.seed,
    )
    lap(STEPS[6])

    # 8-9. Report, save, register.
    name = cfg.name or _default_name(cfg)
    out = Path(cfg.out)
    final.info = {
        "name": name,
        "target": cfg.target,
        "classes": [_plain(c) for c in classes],
        "positive_class": _plain(positive_class),
        "metric": scorer.to_dict(),
        "best_params": best.candidate.params(),
        "test_metrics": _headline(test),
        "data_fingerprint": fingerprint,
        "important_features": [f["feature"] for f in importance["features"]],
        "n_rows": n_rows,
        "trained_by": _user(),
        "polyclass_version": __version__,
    }
    # Reference statistics for monitoring: fitted rows' inputs (a sample of at most
    # REFERENCE_MAX_ROWS of them), held-out (test) scores.
    final.reference = compute_reference(
        reference_frame,
        schema,
        y=y[reference_rows],
        classes=final.classes_,
        proba=test_proba,
        predicted=test_pred,
        score_rows="test",
        performance=final.info["test_metrics"],
    ).to_state()
    artifact_path = final.save(out / "model", overwrite=True)
    registered: dict[str, Any] | None = None
    if cfg.register:
        registered = _register(cfg, name, artifact_path, final.info)
    lap(STEPS[8])

    context = {
        "problem": {
            "target": cfg.target,
            "classes": [_plain(c) for c in classes],
            "positive_class": _plain(positive_class),
            "costs": None if costs is None else costs.to_dict(),
            "metric": scorer.name,
            "metric_reasons": list(scorer.reasons),
            "data_path": str(cfg.data),
        },
        "data": summary,
        "warnings": warnings,
        "strategies": {
            "summary": strategies,
            "candidates": [r.to_dict() for r in results],
            "chosen": best.candidate.strategy,
            "chosen_params": best.candidate.params(),
            "metric": scorer.name,
            "n_splits": cfg.cv,
            "tuned_on_rows": len(tune_rows),
        },
        "validation": validation,
        "test": test,
        "coefficients": coefficients,
        "importance": importance,
        "threshold": {
            **decision.to_dict(),
            "description": decision.describe(),
            "chosen_on": chosen.chosen_on,
        },
        "model": {
            "name": name,
            "version": None if registered is None else registered["version"],
            "artifact_path": str(artifact_path),
            "fingerprint": fingerprint,
        },
        "split": {"train": len(train_rows), "validation": len(val_rows), "test": len(test_rows)},
        "timings": timings,
    }
    report_path, metrics_path = write_report(out, context)
    lap(STEPS[7])

    return TrainResult(
        model=final,
        test_metrics=test,
        validation_metrics=validation,
        scorer=scorer.to_dict(),
        strategies=strategies,
        best_params=best.candidate.params(),
        report_path=report_path,
        metrics_path=metrics_path,
        artifact_path=artifact_path,
        registered=registered,
        warnings=warnings,
        timings=timings,
    )


def _fit_model(
    frame: pd.DataFrame,
    rows: NDArray[Any],
    y: NDArray[Any],
    schema: Any,
    candidate: Candidate,
    cfg: TrainConfig,
) -> Model:
    """Fit preprocessing and the estimator on ``frame``'s ``rows`` (``y`` indexed like
    ``frame``). The row subset is dropped once transformed, before the estimator's fit."""
    part = frame.iloc[rows]
    pre = Preprocessor(schema).fit(part)
    X = pre.transform(part)
    del part
    gc.collect()  # DataFrames sit in reference cycles: free the subset before the fit
    return _fit_estimator(pre, X, y[rows], schema, candidate, cfg)


def _out_of_fold(
    frame: pd.DataFrame,
    rows: NDArray[Any],
    y: NDArray[Any],
    schema: Any,
    candidate: Candidate,
    cfg: TrainConfig,
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Labels of ``rows`` and their probabilities from ``cfg.cv``-fold cross-fitting."""

    def fit_predict(fit: NDArray[np.intp], pred: NDArray[np.intp]) -> NDArray[np.float64]:
        model = _fit_model(frame, fit, y, schema, candidate, cfg)
        return np.asarray(model.predict_proba(frame.iloc[pred]), dtype=np.float64)

    classes = np.unique(y)
    return out_of_fold_proba(fit_predict, y, rows, len(classes), n_splits=cfg.cv, seed=cfg.seed)


def _fit_estimator(
    pre: Preprocessor,
    X: Any,
    y: NDArray[Any],
    schema: Any,
    candidate: Candidate,
    cfg: TrainConfig,
    *,
    dtype: str = "float64",
) -> Model:
    estimator = candidate.build(cfg.n_jobs, dtype)
    estimator.fit(X, y)
    return Model(schema=schema, preprocessor=pre, estimator=estimator)


def _sample_rows(rows: NDArray[Any], size: int, seed: int) -> NDArray[Any]:
    """``rows`` itself, or a sorted random sample of ``size`` of them."""
    if len(rows) <= size:
        return rows
    picked = np.random.default_rng(seed).choice(len(rows), size=size, replace=False)
    return np.asarray(rows[np.sort(picked)])


def _coefficients(model: Model) -> dict[str, Any]:
    names = list(model.preprocessor.get_feature_names_out())
    est = model.estimator
    classes = model.classes_
    if hasattr(est, "coef_"):
        return coefficient_table(
            np.asarray(est.coef_), names, classes, intercept=np.asarray(est.intercept_)
        )
    # one-vs-rest / one-vs-one: one binary sub-model per class or per pair of classes
    coef = np.vstack([np.asarray(e.coef_).reshape(1, -1) for e in est.estimators_])
    intercept = np.concatenate([np.asarray(e.intercept_).ravel() for e in est.estimators_])
    if type(est).__name__ == "OneVsOneClassifier":
        k = len(classes)
        labels = [f"{classes[i]} vs {classes[j]}" for i in range(k) for j in range(i + 1, k)]
        return coefficient_table(
            coef, names, classes, intercept=intercept, row_labels=labels, kind="ovo"
        )
    return coefficient_table(coef, names, classes, intercept=intercept, kind="ovr")


def _stratified_sample(rows: NDArray[Any], y: NDArray[Any], size: int, seed: int) -> NDArray[Any]:
    """About ``size`` of ``rows``, keeping each class's share (at least 20 rows a class)."""
    rng = np.random.default_rng(seed)
    fraction = size / len(rows)
    picked = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        take = min(len(members), max(20, round(fraction * len(members))))
        picked.append(rng.choice(members, size=take, replace=False))
    return np.sort(rows[np.concatenate(picked)])


def _register(cfg: TrainConfig, name: str, artifact: Path, info: dict[str, Any]) -> dict[str, Any]:
    from polyclass.registry import Registry

    with Registry(cfg.registry) as registry:
        version = registry.register(
            name,
            artifact,
            lineage={
                "data_fingerprint": info["data_fingerprint"],
                "parameters": info["best_params"],
                "metrics": info["test_metrics"],
                "data_path": str(cfg.data),
                "target": cfg.target,
            },
        )
    return {"name": version.name, "version": version.version, "path": str(version.path)}


def _add_objective(
    evaluation: dict[str, Any],
    scorer: Scorer,
    y_true: NDArray[Any],
    y_pred: NDArray[Any],
    proba: NDArray[np.float64],
    classes: NDArray[Any],
    positive_class: Any,
) -> None:
    """Make the optimised metric one of the evaluation's metrics (the report's headline)."""
    if scorer.name not in evaluation["metrics"]:
        evaluation["metrics"][scorer.name] = {
            "value": scorer.score(y_true, y_pred, proba, classes, positive_class),
            "ci": None,
            "greater_is_better": scorer.greater_is_better,
        }


def _headline(evaluation: dict[str, Any]) -> dict[str, float]:
    """Metric name -> value, for the model's lineage and the CLI summary."""
    values = {k: v.get("value") for k, v in evaluation["metrics"].items()}
    # NaN (an undefined metric) is not JSON: leave it out of the lineage.
    return {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


def _default_name(cfg: TrainConfig) -> str:
    stem = Path(cfg.data).stem
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in stem)
    return cleaned.strip("-.") or "model"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
