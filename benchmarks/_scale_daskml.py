"""dask-ml's LogisticRegression (L-BFGS), one-vs-rest by hand (dask-ml is binary only),
on a Parquet folder, for bench_scale.py.

Runs in the benchmark's own environment (.bench/venv). Usage:
``python _scale_daskml.py DATA C REPEAT``; prints one JSON line with each run's time
(Parquet read included) on a LocalCluster of 2 workers x 1 thread.
"""

from __future__ import annotations

import json
import sys
import time

import dask.dataframe as dd
import numpy as np
from dask.distributed import Client, LocalCluster
from dask_ml.linear_model import LogisticRegression


def main() -> None:
    data, C, repeat = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        with Client(cluster):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                df = dd.read_parquet(data)
                features = [c for c in df.columns if c != "label"]
                # chunk sizes computed on the arrays: dask-expr may fuse partitions, so
                # to_dask_array(lengths=True) disagrees with its own partition count
                X = df[features].to_dask_array().persist().compute_chunk_sizes()
                y = df["label"].to_dask_array().persist().compute_chunk_sizes()
                classes = np.unique(y.compute())
                for k in classes:
                    LogisticRegression(solver="lbfgs", C=C, max_iter=100).fit(X, y == k)
                times.append(time.perf_counter() - t)
    print(json.dumps({"times": times}))


if __name__ == "__main__":
    main()
