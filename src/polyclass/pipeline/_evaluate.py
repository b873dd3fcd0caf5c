"""Evaluate a stored model on new labelled data and write the same report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from polyclass.data import DataError, load_table
from polyclass.evaluation import evaluate
from polyclass.model import Model
from polyclass.pipeline._labels import labels_of
from polyclass.report import write_report


def evaluate_model(
    model: Model,
    data: str | Path,
    out: str | Path,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], Path, Path]:
    """Score ``model`` on the labelled table ``data``; write report.html and metrics.json.

    Returns the evaluation dict and the two paths.
    """
    target = model.info.get("target") or model.schema.target
    frame = load_table(data)
    if target not in frame.columns:
        raise DataError(
            f"{data} has no target column {target!r} (the model was trained on it); "
            f"its columns are {list(frame.columns)}."
        )
    frame = frame[frame[target].notna()].reset_index(drop=True)
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
    context = {
        "problem": {
            "target": target,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in classes],
            "positive_class": positive,
            "metric": (model.info.get("metric") or {}).get("name"),
            "metric_reasons": (model.info.get("metric") or {}).get("reasons", []),
            "data_path": str(data),
        },
        "test": result,
        "threshold": model.decision.to_dict(),
        "model": {
            "name": model.info.get("name"),
            "artifact_path": None if model.path is None else str(model.path),
            "fingerprint": model.info.get("data_fingerprint"),
        },
    }
    report, metrics_json = write_report(Path(out), context)
    return result, report, metrics_json
