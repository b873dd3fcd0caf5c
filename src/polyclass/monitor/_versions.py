"""Versions side by side: what each version logged, how it did, how much two agree.

A log holds every version that answered (a canary) or predicted beside the served one
(a shadow), each row under its own version. Per version: rows, live metrics on the
rows that got feedback (accuracy with its Wilson interval, macro F1 with a bootstrap
interval), and drift of its inputs against the reference. Per pair of versions that
predicted the same rows (a shadow and the version it shadows): the share of those rows
on which they predict the same class, and the share of the served requests the shadow
saw. The log does not mark roles: of two versions logging one request, the one that
logged it first answered it (a shadow logs after the answer), and a shadow's coverage is
judged between its first and last shadowed request, since it may have run for part of
the period only.
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
    """For each pair of versions, the share of shared rows predicted alike and the
    share of the answering version's requests the other (the shadow) saw."""
    if len(labels) < 2 or not data.n_rows:
        return []
    import pandas as pd

    frame = pd.DataFrame(
        {
            "request_id": data.request_id.to_pandas(),
            "row": np.asarray(data.row, dtype=np.int64),
            "version": np.asarray(data.model_version, dtype=np.int64),
            "pred": class_codes(data.prediction, classes),
            "ts": np.asarray(data.ts, dtype=np.int64),
        }
    ).drop_duplicates(["request_id", "row", "version"])
    first = frame.groupby(["version", "request_id"], sort=False)["ts"].min()
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
                    **_coverage(first, int(a), int(b)),
                }
            )
    return pairs


def _coverage(first: Any, a: int, b: int) -> dict[str, Any]:
    """Which of ``a`` and ``b`` answered their shared requests, and the share of its
    requests (between the first and the last shared one) the other one shadowed.

    ``first`` is each (version, request id)'s earliest log time; a request logged by
    both was answered by the version that logged it first.
    """
    ts_a, ts_b = first.loc[a], first.loc[b]
    shared = ts_a.index.intersection(ts_b.index)
    a_first = int((ts_a[shared] < ts_b[shared]).sum())
    served, shadow = (a, b) if a_first * 2 >= len(shared) else (b, a)
    answered = first.loc[served]
    times = answered[shared]
    during = int(answered.between(times.min(), times.max()).sum())
    return {
        "served_version": served,
        "shadow_version": shadow,
        "served_requests": during,
        "shadowed_requests": len(shared),
        "shadow_share": len(shared) / during,
    }


def shadow_coverage(pair: dict[str, Any]) -> str:
    """One sentence: the share of the answering version's requests its shadow saw, and
    why a partial sample is biased ("" for a pair from before coverage was reported)."""
    if "shadow_share" not in pair:
        return ""
    shadow, served = pair["shadow_version"], pair["served_version"]
    n, share = pair["served_requests"], pair["shadow_share"]
    if pair["shadowed_requests"] == n:
        return f"The shadow (version {shadow}) saw all {n:,} requests version {served} answered."
    return (
        f"The shadow (version {shadow}) saw {share:.1%} of the {n:,} requests version "
        f"{served} answered while it ran; the rest were not shadowed (a --shadow REF=PCT "
        "sample, or skipped under load, which leans its sample toward quieter moments)."
    )
