"""The fitting and choosing that ``train``'s steps call: the metric, the positive
class, the operating point, row samples, fitted models and their coefficients."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass import metrics
from polyclass.evaluation import coefficient_table
from polyclass.model import Model
from polyclass.pipeline._config import TrainConfig
from polyclass.pipeline._costs import Costs, out_of_fold_proba
from polyclass.pipeline._scoring import Scorer, named_scorer, scorer_from_advice
from polyclass.pipeline._search import Candidate, fit_quietly
from polyclass.pipeline._tune import n_workers
from polyclass.preprocess import Preprocessor


def choose_scorer(
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


def fit_model(
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
    free_memory(len(rows))  # DataFrames sit in reference cycles: free the subset before the fit
    return fit_estimator(pre, X, y[rows], schema, candidate, cfg)


#: A full garbage collection frees a large table's DataFrames (they sit in reference
#: cycles) before the next fit; on fewer rows than this the automatic collection does,
#: and a full one would cost more than the memory is worth.
COLLECT_MIN_ROWS = 50_000


def free_memory(n_rows: int) -> None:
    """Collect garbage now when ``n_rows`` rows were just dropped and they are many."""
    if n_rows >= COLLECT_MIN_ROWS:
        gc.collect()


def fit_estimator(
    pre: Preprocessor,
    X: Any,
    y: NDArray[Any],
    schema: Any,
    candidate: Candidate,
    cfg: TrainConfig,
    *,
    dtype: str = "float64",
) -> Model:
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from polyclass.families import get_family

    estimator = candidate.build(n_workers(cfg.n_jobs), dtype, seed=cfg.seed)
    one_thread = not get_family(candidate.family).blas_threads
    with threadpool_limits(1 if one_thread else None, user_api="blas"):
        fit_quietly(estimator, X, y)
    return Model(schema=schema, preprocessor=pre, estimator=estimator, family=candidate.family)


def sample_rows(rows: NDArray[Any], size: int, seed: int) -> NDArray[Any]:
    """``rows`` itself, or a sorted random sample of ``size`` of them."""
    if len(rows) <= size:
        return rows
    picked = np.random.default_rng(seed).choice(len(rows), size=size, replace=False)
    return np.asarray(rows[np.sort(picked)])


def coefficients(model: Model) -> dict[str, Any]:
    if model.family != "linear":
        return {}  # only linear models have coefficients; the report shows importance alone
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


def stratified_sample(rows: NDArray[Any], y: NDArray[Any], size: int, seed: int) -> NDArray[Any]:
    """About ``size`` of ``rows``, keeping each class's share (at least 20 rows a class)."""
    rng = np.random.default_rng(seed)
    fraction = size / len(rows)
    picked = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        take = min(len(members), max(20, round(fraction * len(members))))
        picked.append(rng.choice(members, size=take, replace=False))
    return np.sort(rows[np.concatenate(picked)])


def add_objective(
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


def headline(evaluation: dict[str, Any]) -> dict[str, float]:
    """Metric name -> value, for the model's lineage and the CLI summary."""
    values = {k: v.get("value") for k, v in evaluation["metrics"].items()}
    # NaN (an undefined metric) is not JSON: leave it out of the lineage.
    return {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


def out_of_fold(
    frame: pd.DataFrame,
    rows: NDArray[Any],
    y: NDArray[Any],
    schema: Any,
    candidate: Candidate,
    cfg: TrainConfig,
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Labels of ``rows`` and their probabilities from ``cfg.cv``-fold cross-fitting."""

    def fit_predict(fit: NDArray[np.intp], pred: NDArray[np.intp]) -> NDArray[np.float64]:
        model = fit_model(frame, fit, y, schema, candidate, cfg)
        return np.asarray(model.predict_proba(frame.iloc[pred]), dtype=np.float64)

    classes = np.unique(y)
    return out_of_fold_proba(fit_predict, y, rows, len(classes), n_splits=cfg.cv, seed=cfg.seed)
