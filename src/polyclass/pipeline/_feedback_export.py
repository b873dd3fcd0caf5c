"""``polyclass feedback export``: the prediction log joined with its feedback, as a table.

One row per labelled predicted row: the inputs as the server received them, the label
given (under the model's target column, in the type of the model's classes), the
prediction and probabilities served, the model version, and both times. What does not
join is counted and reported, never dropped silently: feedback for a request id (and
row) the log does not hold, a row labelled more than once (the latest label wins) and
labels that are not one of the model's classes (left out of the table: training on
them would change the classes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Columns the export adds beside the inputs and the label.
META_COLUMNS = ("request_id", "row", "model_version", "predicted_at", "labelled_at", "prediction")
PROBA_PREFIX = "proba."
_EXAMPLES = 5


@dataclass
class FeedbackExport:
    """What :func:`export_feedback` wrote and what it could not use."""

    path: Path
    n_rows: int
    n_feedback: int
    n_unknown_ids: int
    n_duplicates: int
    n_superseded: int
    unknown_labels: dict[str, int]
    n_multi_version: int
    target: str
    problems: list[dict[str, str]] = field(default_factory=list)
    unknown_id_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "path": str(self.path),
            "rows": self.n_rows,
            "feedback_items": self.n_feedback,
            "unknown_request_ids": self.n_unknown_ids,
            "unknown_request_id_examples": self.unknown_id_examples,
            "rows_labelled_more_than_once": self.n_duplicates,
            "labels_superseded": self.n_superseded,
            "unknown_labels": self.unknown_labels,
            "requests_in_several_versions": self.n_multi_version,
            "target": self.target,
            "problems": self.problems,
        }


def export_feedback(
    model: Any,
    out: str | Path,
    *,
    log_dir: str | Path | None = None,
    since: str | datetime | None = None,
    registry: str | None = None,
    overwrite: bool = False,
) -> FeedbackExport:
    """Join a model's prediction log with its feedback and write the labelled rows.

    Parameters
    ----------
    model : str or Path
        Registry reference or artifact folder; gives the features, target and classes.
    out : str or Path
        ``.parquet`` or ``.csv`` file, written under a temporary name then renamed.
    log_dir : str or Path, optional
        The log folder; default the one ``polyclass serve`` writes for this model.
    since : ISO time or datetime, optional
        Only predictions (and feedback) at or after this time.
    registry : str, optional
        Registry URL or folder.
    overwrite : bool
        Replace ``out`` when it exists (else refused).

    Returns
    -------
    FeedbackExport

    Raises
    ------
    ValueError
        No labelled row to export (with what was found instead), or a bad or existing
        ``out``.
    """
    from polyclass.monitor import resolve_model
    from polyclass.predlog import read_log, to_micros

    target_path = Path(out)
    if target_path.exists() and not overwrite:
        raise ValueError(
            f"-o {target_path} exists; pass --overwrite to replace it, or choose another file."
        )
    if target_path.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(
            f"-o {target_path}: the export is written as Parquet or CSV; end the file name "
            "with .parquet or .csv."
        )
    resolved = resolve_model(model, registry=registry)
    m = resolved.model
    classes = list(np.asarray(m.classes_).tolist())
    by_text = {str(c): c for c in classes}
    target = str(m.info.get("target") or "label")
    folder = Path(log_dir) if log_dir is not None else resolved.log_dir
    if log_dir is None and not folder.exists():
        raise ValueError(
            f"No prediction log at {folder}, where `polyclass serve {model}` writes it "
            f"(a registry model logs under <registry folder>/logs/NAME, a model folder under "
            f"./.polyclass/logs/<folder name>). Pass --log with the folder the server "
            "wrote (its --log-dir/logs/NAME)."
        )
    lo = to_micros(since) if isinstance(since, (str, datetime)) else None
    data = read_log(folder, classes=[str(c) for c in classes], features=m.feature_names, since=lo)
    predictions = _predictions(data, m.feature_names, list(by_text))
    n_multi = int(predictions.duplicated(["request_id", "row"], keep=False).sum())
    # A shadow (or a retried request) logs the same id under another version: the
    # first logged prediction is the one served first.
    predictions = predictions.drop_duplicates(["request_id", "row"], keep="first")
    feedback = _feedback(data)
    joined, unknown_ids, (duplicates, superseded) = _join(predictions, feedback)
    known = joined["label"].isin(list(by_text))
    unknown_labels = joined.loc[~known, "label"].value_counts().to_dict()
    joined = joined[known]
    if joined.empty:
        raise ValueError(_empty_message(folder, data, feedback, unknown_ids, unknown_labels))
    table = _output_frame(joined, m.feature_names, target, by_text, list(by_text))
    _restore_integers(table, {f.name: f.dtype for f in m.schema.features})
    _write(table, target_path)
    return FeedbackExport(
        path=target_path,
        n_rows=len(table),
        n_feedback=len(feedback),
        n_unknown_ids=len(unknown_ids),
        n_duplicates=duplicates,
        n_superseded=superseded,
        unknown_labels={str(k): int(v) for k, v in unknown_labels.items()},
        n_multi_version=n_multi,
        target=target,
        problems=[p.to_dict() for p in data.problems],
        unknown_id_examples=sorted(set(unknown_ids))[:_EXAMPLES],
    )


def _predictions(data: Any, features: list[str], class_texts: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "request_id": data.request_id.to_pandas(),
            "row": np.asarray(data.row, dtype=np.int64),
            "model_version": np.asarray(data.model_version, dtype=np.int64),
            "predicted_at": np.asarray(data.ts, dtype=np.int64),
            "prediction": data.prediction.to_pandas().astype(object),
        }
    )
    for f in features:
        frame[f"in.{f}"] = data.inputs[f].to_pandas().to_numpy()
    if data.proba is not None:
        for k, c in enumerate(class_texts):
            frame[f"{PROBA_PREFIX}{c}"] = data.proba[:, k]
    return frame.sort_values("predicted_at", kind="stable")


def _feedback(data: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": data.fb_request_id.to_pandas(),
            "fb_row": np.asarray(data.fb_row, dtype=np.int64),
            "label": data.fb_label.to_pandas().astype(object),
            "labelled_at": np.asarray(data.fb_ts, dtype=np.int64),
        }
    )


def _join(
    predictions: pd.DataFrame, feedback: pd.DataFrame
) -> tuple[pd.DataFrame, list[str], tuple[int, int]]:
    """Labelled rows (latest label per row), unknown feedback ids, and (rows labelled
    more than once, labels superseded).

    A feedback item names a row, or every row of its request (``row`` -1).
    """
    fb = feedback.reset_index(names="fb_pos")
    merged = predictions.merge(fb, on="request_id", how="inner")
    merged = merged[(merged["fb_row"] == -1) | (merged["fb_row"] == merged["row"])]
    matched = set(merged["fb_pos"].tolist())
    unknown = fb.loc[~fb["fb_pos"].isin(matched), "request_id"].tolist()
    merged = merged.sort_values(["labelled_at", "fb_pos"], kind="stable")
    latest = merged.drop_duplicates(["request_id", "row"], keep="last")
    counts = merged.groupby(["request_id", "row"]).size()
    duplicates = (int((counts > 1).sum()), len(merged) - len(latest))
    return latest.sort_values("predicted_at", kind="stable"), unknown, duplicates


def _output_frame(
    joined: pd.DataFrame,
    features: list[str],
    target: str,
    by_text: dict[str, Any],
    class_texts: list[str],
) -> pd.DataFrame:
    out = pd.DataFrame({f: joined[f"in.{f}"].to_numpy() for f in features})
    out[target] = [by_text[t] for t in joined["label"]]
    out["prediction"] = [by_text.get(t, t) for t in joined["prediction"]]
    for c in class_texts:
        column = f"{PROBA_PREFIX}{c}"
        if column in joined:
            out[column] = joined[column].to_numpy()
    out["model_version"] = joined["model_version"].to_numpy()
    out["request_id"] = joined["request_id"].to_numpy()
    out["row"] = joined["row"].to_numpy()
    out["predicted_at"] = _times(joined["predicted_at"])
    out["labelled_at"] = _times(joined["labelled_at"])
    return out.reset_index(drop=True)


def _restore_integers(table: pd.DataFrame, dtypes: dict[str, str]) -> None:
    """Integer columns of the training data, logged as floats, back to integers (nullable
    ``Int64``, so a missing value stays missing) when every value is a whole number."""
    for name, dtype in dtypes.items():
        column = table.get(name)
        if column is None or not dtype.lower().startswith(("int", "uint")):
            continue
        values = pd.to_numeric(column, errors="coerce")
        finite = values.dropna()
        if (
            len(finite)
            and np.all(np.mod(finite, 1) == 0)
            and values.notna().sum() == column.notna().sum()
        ):
            table[name] = values.astype("Int64")


def _times(micros: pd.Series) -> Any:
    return pd.to_datetime(micros.to_numpy(dtype=np.int64), unit="us", utc=True)


def _write(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _empty_message(
    folder: Path,
    data: Any,
    feedback: pd.DataFrame,
    unknown_ids: list[str],
    unknown_labels: dict[Any, int],
) -> str:
    if data.n_rows == 0:
        return (
            f"The log at {folder} holds no prediction for this period: nothing to export. "
            "Check --log and --since."
        )
    if feedback.empty:
        return (
            f"The log at {folder} holds {data.n_rows} predictions but no feedback: post "
            "true labels to the server's /feedback (by request id) first."
        )
    parts = [f"No labelled row to export from the {len(feedback)} feedback items"]
    if unknown_ids:
        parts.append(f"{len(unknown_ids)} name request ids (or rows) the log does not hold")
    matched = len(feedback) - len(unknown_ids)
    if matched:
        parts.append(
            f"{matched} match logged predictions, but the latest label of every row they "
            f"label is outside the model's classes: {sorted(map(str, unknown_labels))} "
            "(earlier labels of a row are superseded by its latest)"
        )
    return "; ".join(parts) + ". Check the request ids and labels you post to /feedback."
