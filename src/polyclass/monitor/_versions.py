"""Versions side by side: what each version logged, how it did, how much two agree.

A log holds every version that answered (a canary) or predicted beside the served one
(a shadow), each row under its own version. Per version: rows, live metrics on the
rows that got feedback (accuracy with its Wilson interval, macro F1 with a bootstrap
interval), and drift of its inputs against the reference. Per pair of versions that
predicted the same rows (a shadow and the version it shadows): the share of those rows
on which they predict the same class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from polyclass.monitor._config import MonitorConfig
from polyclass.monitor._data_drift import drift_by_window
from polyclass.monitor._live import class_codes, join_feedback, state_from_counts, window_metrics
from polyclass.monitor._reference import Reference
from polyclass.predlog import LogData, read_log


def read_all_versions(
    folder: Path, classes: list[str], ref: Reference | None, since: int | None, until: int | None
) -> LogData:
    """The period's rows of every version."""
    features = list(ref.features) if ref is not None else []
    return read_log(folder, classes=classes, features=features, since=since, until=until)


def compare_versions(
    data: LogData, classes: list[str], ref: Reference | None, config: MonitorConfig
) -> dict[str, Any]:
    """Per-version rows, live metrics and drift, and the agreement of version pairs."""
    versions = np.asarray(data.model_version, dtype=np.int64)
    labels = sorted(set(versions.tolist()))
    group = np.searchsorted(np.asarray(labels), versions).astype(np.intp)
    out: dict[str, Any] = {"versions": [], "agreement": []}
    drift = None
    if ref is not None and data.n_rows:
        _, drift = drift_by_window(ref, data.inputs, group, len(labels), config)
    joined = join_feedback(data, classes)
    L = len(joined.labels)
    for g, version in enumerate(labels):
        mine = group[joined.rows] == g
        cells = joined.true[mine].astype(np.int64) * L + joined.pred[mine]
        counts = np.bincount(cells, minlength=L * L).reshape(L, L)
        state = state_from_counts(joined.labels, counts)
        live = window_metrics(state, joined.labels, seed=g)
        entry: dict[str, Any] = {
            "version": int(version),
            "rows": int(np.count_nonzero(group == g)),
            "labelled": int(counts.sum()),
            "live": {
                k: live.get(k)
                for k in ("n", "accuracy", "accuracy_ci", "f1_macro", "f1_macro_ci")
                if k in live
            },
        }
        if drift is not None:
            summary = drift[g]
            entry["drift"] = {
                "n_drifted": summary.n_drifted,
                "drift_share": summary.drift_share,
                "dataset_drift": summary.dataset_drift,
                "drifted": [f.name for f in summary.features if f.drifted],
            }
        out["versions"].append(entry)
    out["agreement"] = _agreement(data, classes, labels)
    return out


def _agreement(data: LogData, classes: list[str], labels: list[int]) -> list[dict[str, Any]]:
    """For each pair of versions, the share of shared rows predicted alike."""
    if len(labels) < 2 or not data.n_rows:
        return []
    import pandas as pd

    frame = pd.DataFrame(
        {
            "request_id": data.request_id.to_pandas(),
            "row": np.asarray(data.row, dtype=np.int64),
            "version": np.asarray(data.model_version, dtype=np.int64),
            "pred": class_codes(data.prediction, classes),
        }
    ).drop_duplicates(["request_id", "row", "version"])
    wide = frame.pivot(index=["request_id", "row"], columns="version", values="pred")
    pairs = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            both = wide[[a, b]].dropna()
            if both.empty:
                continue
            same = int((both[a] == both[b]).sum())
            pairs.append(
                {
                    "versions": [int(a), int(b)],
                    "rows": len(both),
                    "agreement": same / len(both),
                }
            )
    return pairs
