"""Monitoring speed: drift on 1,000,000 x 50 and live metrics over 10,000,000 predictions.

Run once: ``.venv/bin/python benchmarks/bench_monitor.py``. Each measurement is printed
beside a direct SciPy / NumPy / pandas computation on the same data, with the ratio.

1. Drift, 1M current rows x 50 columns (40 numeric, 10 categorical) against stored
   reference statistics (from 100,000 training rows): every statistic per column (PSI,
   KS, Wasserstein, Jensen-Shannon; chi-square for categorical). Ours computes the KS
   p-value only for columns judged by KS (the default judges 1M rows by Wasserstein;
   SciPy's exact p-value costs ~0.1 s per column at this size). Baseline: per column
   ``scipy.stats.ks_2samp`` + ``wasserstein_distance`` against the raw reference sample,
   ``np.histogram`` PSI and ``jensenshannon`` (what one writes without stored bins), and
   ``chisquare`` on ``np.unique`` counts.
2. Drift of a pandas DataFrame, 1M rows x 20 columns (10 numeric, 10 text), through the
   public ``data_drift``: text columns as object, ``category`` and ``string[pyarrow]``
   dtypes beside the same data as a pyarrow Table (the log reader's form), as ratios.
3. Live metrics, 10,000,000 logged predictions in 10 Parquet segments with feedback for
   every row: read the log, join, per-hour confusion states and every metric. Baseline:
   ``pandas.read_parquet`` + ``merge`` on (request_id, row) + ``np.bincount`` confusion
   per hour (the join and counts only, no metrics).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _monitor_log import T0, write_feedback, write_predictions
from polyclass.monitor import compute_reference
from polyclass.monitor._config import MonitorConfig
from polyclass.monitor._drift import count_values, feature_drift, summarize_drift
from polyclass.monitor._live import live_performance
from polyclass.predlog import read_log

N_CUR, N_REF, N_NUM, N_CAT = 1_000_000, 100_000, 40, 10
N_LOG, N_SEG = 10_000_000, 10
CLASSES = ["a", "b", "c", "d"]


def _columns(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for j in range(N_NUM):
        cols[f"n{j}"] = rng.normal(shift * (j % 3 == 0), 1.0 + j / 40, n)
    cats = np.array([f"v{i}" for i in range(20)])
    p = np.linspace(1, 3, 20)
    p /= p.sum()
    for j in range(N_CAT):
        cols[f"c{j}"] = cats[rng.choice(20, size=n, p=p)]
    return cols


def bench_drift() -> None:
    import pyarrow as pa
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    ref_cols = _columns(rng, N_REF)
    kinds = {k: ("numeric" if k.startswith("n") else "categorical") for k in ref_cols}
    ref = compute_reference(ref_cols, kinds, y=np.zeros(N_REF))
    cur_np = _columns(rng, N_CUR, shift=0.05)
    # as the log reader returns them: float64 arrays and Arrow string columns
    cur = {k: (v if kinds[k] == "numeric" else pa.array(v)) for k, v in cur_np.items()}
    cfg = MonitorConfig()
    t = time.perf_counter()
    results = [
        feature_drift(ref.features[k], count_values(ref.features[k], cur[k]), cfg) for k in cur
    ]
    summary = summarize_drift(results, cfg)
    ours = time.perf_counter() - t

    t = time.perf_counter()
    for k, v in cur_np.items():
        r = ref_cols[k]
        if kinds[k] == "numeric":
            stats.ks_2samp(r, v)
            stats.wasserstein_distance(r, v)
            edges = np.quantile(r, np.linspace(0, 1, 11))
            edges[0], edges[-1] = -np.inf, np.inf
            rp = np.maximum(np.histogram(r, edges)[0] / r.size, 1e-4)
            cp = np.maximum(np.histogram(v, edges)[0] / v.size, 1e-4)
            np.sum((cp - rp) * np.log(cp / rp))
            jensenshannon(rp, cp)
        else:
            _, rc = np.unique(r, return_counts=True)
            _, cc = np.unique(v, return_counts=True)
            stats.chisquare(cc, rc / rc.sum() * cc.sum())
            jensenshannon(rc / rc.sum(), cc / cc.sum())
    base = time.perf_counter() - t
    print(
        f"drift {N_CUR:,} rows x {N_NUM + N_CAT} cols: polyclass {ours:.3f} s "
        f"(drifted {summary.n_drifted}), scipy/numpy direct {base:.3f} s, "
        f"ratio {base / ours:.1f}x faster"
    )


def bench_frame_drift() -> None:
    import pandas as pd
    import pyarrow as pa

    from polyclass.monitor import data_drift

    rng = np.random.default_rng(1)
    cols = {k: v for k, v in _columns(rng, N_REF).items() if k in _FRAME_COLUMNS}
    kinds = {k: ("numeric" if k.startswith("n") else "categorical") for k in cols}
    ref = compute_reference(cols, kinds, y=np.zeros(N_REF))
    frame = pd.DataFrame({k: v for k, v in _columns(rng, N_CUR).items() if k in _FRAME_COLUMNS})
    text = [k for k in frame.columns if not k.startswith("n")]
    frame[text] = frame[text].astype(object)
    forms = {
        "pyarrow Table": pa.Table.from_pandas(frame, preserve_index=False),
        "DataFrame, object": frame,
        "DataFrame, category": frame.astype(dict.fromkeys(text, "category")),
        "DataFrame, string[pyarrow]": frame.astype(dict.fromkeys(text, "string[pyarrow]")),
    }
    seconds = {}
    for name, data in forms.items():
        t = time.perf_counter()
        data_drift(ref, data)
        seconds[name] = time.perf_counter() - t
    arrow = seconds["pyarrow Table"]
    print(
        f"drift of {N_CUR:,} rows x {len(_FRAME_COLUMNS)} cols: "
        + ", ".join(f"{k} {v:.3f} s ({v / arrow:.2f}x Arrow)" for k, v in seconds.items())
    )


_FRAME_COLUMNS = [f"n{j}" for j in range(10)] + [f"c{j}" for j in range(10)]


def bench_live(tmp: Path) -> None:
    import pandas as pd

    rng = np.random.default_rng(1)
    per = N_LOG // N_SEG
    hours = 24
    span = hours * 3600 * 10**6
    t = time.perf_counter()
    for s in range(N_SEG):
        ids = np.char.add(f"s{s}-", np.arange(per).astype(str))
        pred_idx = rng.integers(0, 4, per)
        proba = np.full((per, 4), 0.1)
        proba[np.arange(per), pred_idx] = 0.7
        ts = T0 + s * (span // N_SEG) + np.sort(rng.integers(0, span // N_SEG, per))
        preds = np.asarray(CLASSES)[pred_idx]
        write_predictions(
            tmp,
            classes=CLASSES,
            proba=proba,
            ts=ts,
            inputs={},
            predictions=list(preds),
            request_ids=list(ids),
            seq=s + 1,
        )
        true = np.where(rng.random(per) < 0.8, pred_idx, rng.integers(0, 4, per))
        write_feedback(
            tmp,
            request_ids=list(ids),
            labels=list(np.asarray(CLASSES)[true]),
            ts=ts + 1000,
            seq=s + 1,
        )
    print(f"(wrote {N_LOG:,} predictions + feedback in {time.perf_counter() - t:.1f} s)")

    t = time.perf_counter()
    data = read_log(tmp, classes=CLASSES, with_proba=False)
    t_read = time.perf_counter() - t
    perf = live_performance(data, CLASSES, width=3600 * 10**6)
    doc = perf.to_dict()
    ours = time.perf_counter() - t

    t = time.perf_counter()
    files = sorted((tmp / "predictions").glob("part-*.parquet"))
    pred = pd.concat(
        [pd.read_parquet(f, columns=["request_id", "row", "ts", "prediction"]) for f in files]
    )
    fb = pd.concat(
        [
            pd.read_parquet(f, columns=["request_id", "row", "label"])
            for f in sorted((tmp / "feedback").glob("part-*.parquet"))
        ]
    )
    j = pred.merge(fb, on=["request_id", "row"], how="inner")
    hour = (j["ts"].dt.as_unit("us").astype("int64") - T0) // (3600 * 10**6)
    code = {c: i for i, c in enumerate(CLASSES)}
    tt = j["label"].map(code).to_numpy()
    pp = j["prediction"].map(code).to_numpy()
    cm = np.bincount(hour.to_numpy() * 16 + tt * 4 + pp).reshape(-1, 4, 4)
    base = time.perf_counter() - t
    acc = np.trace(cm.sum(0)) / cm.sum()
    assert abs(acc - doc["overall"]["accuracy"]) < 1e-12, (acc, doc["overall"]["accuracy"])
    print(
        f"live metrics over {N_LOG:,} predictions ({len(doc['windows'])} windows): polyclass "
        f"{ours:.3f} s (read {t_read:.3f} s), pandas merge + numpy counts {base:.3f} s, "
        f"ratio {base / ours:.1f}x faster"
    )


def main() -> None:
    bench_drift()
    bench_frame_drift()
    tmp = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        bench_live(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
