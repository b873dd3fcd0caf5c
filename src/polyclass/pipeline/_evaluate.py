"""Evaluate a stored model on new labelled data and write the same report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyclass._json import plain
from polyclass.artifact import fingerprint_table
from polyclass.data import DataError, explore, load_table
from polyclass.evaluation import evaluate, permutation_importance
from polyclass.model import Model
from polyclass.pipeline._config import check_out
from polyclass.pipeline._fit import coefficients
from polyclass.pipeline._labels import labels_of
from polyclass.report import write_report

#: Permutation importance on an evaluation uses at most this many rows.
IMPORTANCE_MAX_ROWS = 20_000


@dataclass
class Evaluation:
    """What ``evaluate_model`` scored and wrote."""

    evaluation: dict[str, Any]
    description: str
    report_path: Path
    metrics_path: Path
    warnings: list[str] = field(default_factory=list)


def training_overlap(model: Model, frame: Any, data: str | Path) -> list[str]:
    """Warnings when ``frame`` is, or shares rows with, the data ``model`` was fitted on."""
    if fingerprint_table(frame) == model.info.get("data_fingerprint"):
        return [
            f"{data} is the table this model was trained on (same fingerprint): most of its "
            "rows were fitted, so these scores are optimistic. The training report's test "
            "section is the honest estimate; evaluate on rows the model never saw."
        ]
    n_seen, sampled = fitted_rows(model, frame)
    if n_seen == 0:
        return []
    return [
        f"{n_seen:,} of {len(frame):,} rows of {data} ({n_seen / len(frame):.0%}) are rows "
        "the model was fitted on"
        + (" (found in a sample of the fitted rows: likely more)" if sampled else "")
        + ": their scores are optimistic. Evaluate on rows the model never saw."
    ]


def fitted_rows(model: Model, frame: Any) -> tuple[int, bool]:
    """How many rows of ``frame`` (features and target) ``model`` was fitted on, by the
    row hashes its reference keeps, and whether those hashes are only a sample."""
    if model.reference is None or not len(frame):
        return 0, False
    from polyclass.monitor import Reference, row_hashes

    ref = Reference.from_state(*model.reference)
    if ref.row_hashes is None:
        return 0, False
    target = model.info.get("target") or model.schema.target
    kinds = {f.name: f.kind for f in model.schema.features}
    seen = np.isin(row_hashes(frame, {**kinds, target: "label"}), ref.row_hashes)
    return int(seen.sum()), bool(ref.hashed_from > len(ref.row_hashes))


def evaluate_model(
    model: Model,
    data: str | Path,
    out: str | Path,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
) -> Evaluation:
    """Score ``model`` on the labelled table ``data``; write report.html and metrics.json.

    Parameters
    ----------
    model : Model
    data : str or Path
        A labelled CSV or Parquet file with the model's target column.
    out : str or Path
        Report folder; a folder holding a previous report is refused unless
        ``overwrite``.
    n_bootstrap : int, default=1000
        Bootstrap resamples for the intervals.
    seed : int, default=0
        Seed of the bootstrap and of the permutation importance.
    overwrite : bool, default=False
        Replace a previous report in ``out``.

    Returns
    -------
    Evaluation
        The metrics, a sentence saying what was scored, warnings (rows the model was
        fitted on) and the two paths.
    """
    check_out(out, overwrite)
    clock = time.perf_counter()
    target = model.info.get("target") or model.schema.target
    raw = load_table(data)
    if target not in raw.columns:
        raise DataError(
            f"{data} has no target column {target!r} (the model was trained on it); "
            f"its columns are {list(raw.columns)}."
        )
    warnings = training_overlap(model, raw, data)
    frame = raw[raw[target].notna()].reset_index(drop=True)
    if len(frame) == 0:
        raise DataError(f"{data} has no rows with a label in {target!r}.")
    y = labels_of(frame[target])
    classes = model.classes_
    unknown = np.unique(y[~np.isin(y, classes)])
    if len(unknown):
        raise DataError(
            f"{data} has labels {unknown.tolist()} the model never saw; it knows "
            f"{classes.tolist()}. Remove those rows or retrain with them."
        )
    y_pred, proba = model.predict_with_proba(frame)
    positive = model.info.get("positive_class")
    result = evaluate(
        y,
        proba,
        classes,
        y_pred=y_pred,
        positive_class=positive,
        n_bootstrap=n_bootstrap,
        random_state=seed,
    )
    scored_at = time.perf_counter()
    name = model.info.get("name") or "the model"
    dropped = len(raw) - len(frame)
    description = (
        f"{name} scored on {data}: {len(frame):,} labelled rows"
        + (f" ({dropped:,} without a label left out)" if dropped else "")
        + ", every row scored once."
    )
    context = {
        "title": f"Evaluating {name} on {Path(data).name}",
        "scored": {
            "title": "Evaluation",
            "card": "Evaluated rows",
            "set": "evaluated rows",
            "lede": description + " " + " ".join(warnings),
        },
        "problem": {
            "target": target,
            "classes": [plain(c) for c in classes],
            "positive_class": positive,
            "metric": (model.info.get("metric") or {}).get("name"),
            "metric_reasons": (model.info.get("metric") or {}).get("reasons", []),
            "data_path": str(data),
        },
        "data": explore(frame, model.schema, seed=seed),
        "warnings": [{"column": None, "code": "training_rows", "message": w} for w in warnings],
        "test": result,
        "coefficients": coefficients(model),
        "importance": permutation_importance(
            model.predict_proba,
            frame[model.schema.feature_names],
            y,
            classes=classes,
            n_repeats=5,
            random_state=seed,
            max_samples=IMPORTANCE_MAX_ROWS,
        ),
        "threshold": {**model.decision.to_dict(), "description": model.decision.describe()},
        "model": {
            "name": model.info.get("name"),
            "artifact_path": None if model.path is None else str(model.path),
            "training data fingerprint (SHA-256 of the table)": model.info.get("data_fingerprint"),
            "evaluated data fingerprint (SHA-256 of the table)": fingerprint_table(raw),
        },
        "timings": {
            "score": scored_at - clock,
            "describe and explain": time.perf_counter() - scored_at,
        },
    }
    report, metrics_json = write_report(Path(out), context)
    return Evaluation(result, description, report, metrics_json, warnings)
