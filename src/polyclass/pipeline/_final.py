"""``train``'s steps after the choice: final fit and the single test, the explanations,
the optional refit on every row, then save and register."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from polyclass._json import plain
from polyclass._version import __version__
from polyclass.evaluation import partial_dependence, permutation_importance
from polyclass.model import Model
from polyclass.monitor import compute_reference
from polyclass.pipeline._fit import (
    coefficients,
    fit_estimator,
    fit_model,
    free_memory,
    headline,
    sample_rows,
)
from polyclass.pipeline._record import register, stored_config, user
from polyclass.pipeline._run import Run
from polyclass.preprocess import Preprocessor

# Reference statistics for monitoring (quantile bins, category shares) come from at most
# this many of the fitted rows: plenty for the bins, and no second copy of a large table.
REFERENCE_MAX_ROWS = 200_000
# The final model of a table with more rows than this is fitted in float32: half the
# memory of its design matrix and the solvers' copies (peak memory under 4x the table).
FLOAT32_MIN_ROWS = 500_000
#: Partial dependence is drawn for this many of the most important features.
PDP_FEATURES = 3
#: Permutation importance scores at most this many shuffled rows in all (columns x
#: repeats x rows), so a wide table samples fewer test rows instead of costing more.
IMPORTANCE_ROWS = 2_000_000
IMPORTANCE_REPEATS = 5


def final_fit_and_test(run: Run) -> None:
    """Fit on train + validation, then score the test rows once."""
    cfg = run.cfg
    fit_rows = np.concatenate([run.train_rows, run.val_rows])
    test_frame = run.frame.iloc[run.test_rows]
    # the saved model's fitted rows: with refit_all, the test rows too
    fitted = np.arange(run.n_rows) if cfg.refit_all else fit_rows
    reference_rows = sample_rows(fitted, REFERENCE_MAX_ROWS, cfg.seed)
    reference_frame = run.frame.iloc[reference_rows]
    fit_part = run.frame.iloc[fit_rows]
    if not cfg.refit_all:
        # From here on only these parts are needed: drop the whole table, and the fitted
        # rows once transformed, so the final fit does not run beside them (peak memory).
        run.frame = pd.DataFrame()
        free_memory(run.n_rows)  # DataFrames sit in reference cycles: free the table now
    dtype: Literal["float64", "float32"] = (
        "float32" if len(fit_rows) > FLOAT32_MIN_ROWS else "float64"
    )
    preprocessor = Preprocessor(run.schema, dtype=dtype).fit(fit_part)
    X_fit = preprocessor.transform(fit_part)
    del fit_part
    free_memory(len(fit_rows))  # DataFrames sit in reference cycles: free them now
    final = fit_estimator(
        preprocessor, X_fit, run.y[fit_rows], run.schema, run.best.candidate, cfg, dtype=dtype
    )
    del X_fit
    final.decision = run.decision
    test_pred, test_proba = final.predict_with_proba(test_frame)
    run.evaluate_aside("test", run.test_rows, test_pred, test_proba)
    explain(run, final, test_frame, run.y[run.test_rows])
    if cfg.refit_all:
        final = _refit_on_every_row(run)
    run.collect()
    final.info = info(run)
    attach_reference(
        run, final, reference_frame, run.y[reference_rows], test_proba, test_pred, len(fitted)
    )
    run.final = final


def attach_reference(
    run: Run,
    final: Model,
    frame: pd.DataFrame,
    y: Any,
    test_proba: Any,
    test_pred: Any,
    fitted_rows: int,
) -> None:
    """Reference statistics for monitoring: the fitted rows' inputs (``frame``, a sample
    of at most REFERENCE_MAX_ROWS of them, and ``y``) and the held-out (test) scores."""
    final.reference = compute_reference(
        frame,
        run.schema,
        y=y,
        classes=final.classes_,
        proba=test_proba,
        predicted=test_pred,
        score_rows="test",
        performance=final.info["test_metrics"],
        target=run.cfg.target,
        fitted_rows=fitted_rows,
    ).to_state()


def explain(run: Run, model: Any, test_frame: pd.DataFrame, y_test: Any) -> None:
    """Coefficients (linear models), permutation importance and partial dependence."""
    features = test_frame[run.schema.feature_names]
    run.coefficients = coefficients(model)
    per_row = max(features.shape[1], 1) * IMPORTANCE_REPEATS
    run.importance = permutation_importance(
        model.predict_proba,
        features,
        y_test,
        classes=run.classes,
        n_repeats=IMPORTANCE_REPEATS,
        random_state=run.cfg.seed,
        max_samples=min(5000, max(200, IMPORTANCE_ROWS // per_row)),
    )
    top = [f["feature"] for f in run.importance["features"][:PDP_FEATURES]]
    run.partial_dependence = partial_dependence(
        model.predict_proba, features, top, list(run.classes), random_state=run.cfg.seed
    )


def _refit_on_every_row(run: Run) -> Any:
    """The chosen configuration fitted on every row, after the test was scored."""
    every = np.arange(run.n_rows)
    model = fit_model(run.frame, every, run.y, run.schema, run.best.candidate, run.cfg)
    model.decision = run.decision
    run.frame = pd.DataFrame()
    free_memory(run.n_rows)
    run.refit = {
        "rows": int(run.n_rows),
        "tested_model_rows": int(len(run.train_rows) + len(run.val_rows)),
        "note": (
            f"The saved model was refitted on all {run.n_rows:,} rows (train, validation and "
            "test) after the single test; the test metrics are those of the same "
            "configuration fitted without the test rows."
        ),
    }
    return model


def info(run: Run) -> dict[str, Any]:
    """The model's metadata: what it predicts, how it was chosen, on what data."""
    out = {
        "name": run.name,
        "target": run.cfg.target,
        "classes": [plain(c) for c in run.classes],
        "positive_class": plain(run.positive_class),
        "metric": run.scorer.to_dict(),
        "family": run.best.candidate.family,
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
    if run.refit is not None:
        out["refit_all"] = run.refit
    return out


def save_and_register(run: Run) -> None:
    run.artifact_path = run.final.save(Path(run.cfg.out) / "model", overwrite=True)
    if run.cfg.register:
        run.registered = register(run.cfg, run.name, run.artifact_path, run.final.info)
