"""polyclass on Dask against Spark MLlib and dask-ml, and against itself on one machine.

Usage: ``python benchmarks/bench_scale.py [--quick] [--repeat R] [--no-baselines]
[--no-predict] [--train]``.

``--train`` also times the whole ``polyclass train`` (one linear candidate, 3 folds)
on one machine (the 16 files written as one) against ``train --dask`` on the files.

Data: 2M rows x 50 float32 features, 7 classes, 16 Parquet files (``--quick``: 200k rows),
made once under ``.bench/scale-data``. Every fit includes reading the Parquet files.
Times are the minimum of ``R`` runs (default 3). Thread counts are pinned: one BLAS/OpenMP
thread per process; polyclass and dask-ml on ``LocalCluster(2 workers x 1 thread)``,
Spark on ``local[2]``. The load average is printed before and after: this machine is
shared, so the numbers are indicative.

Baselines run in their own environment, ``.bench/venv`` (git-ignored):
``python3 -m venv .bench/venv && .bench/venv/bin/pip install pyspark dask-ml
'dask[distributed]' pyarrow pandas`` (Spark needs Java 17). Spark MLlib: multinomial,
``regParam = 1/(C n)``, ``standardization=False`` (the same objective as polyclass's,
which is scikit-learn's divided by ``C n``). dask-ml: ``LogisticRegression(solver='lbfgs')``
once per class (one-vs-rest by hand; it is binary only).

Memory is the peak summed memory of every process of a run (driver, scheduler,
workers; Spark's JVM), sampled every 50 ms: resident (RSS) and proportional (PSS: a page
shared by several processes, such as a library's code, counted once in all).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
BASELINE_PYTHON = BENCH / "venv" / "bin" / "python"
N_FEATURES, N_CLASSES, N_FILES, C = 50, 7, 16, 1.0
# polyclass stops at max |gradient| <= TOL; at scikit-learn's default 1e-4 it stopped
# 5e-8 above the optimum, where Spark's L-BFGS (relative change 1e-6) gets closer
TOL = 1e-5


def make_data(n_rows: int) -> Path:
    """16 Parquet files of float32 features f0..f49 and an integer label 0..6."""
    folder = BENCH / "scale-data" / f"{n_rows}"
    done = folder.with_name(f"{n_rows}.done")  # outside the folder: readers take every file
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    W = rng.normal(scale=0.3, size=(N_FEATURES, N_CLASSES))
    for i, rows in enumerate(np.array_split(np.arange(n_rows), N_FILES)):
        X = rng.normal(size=(rows.size, N_FEATURES)).astype(np.float32)
        Z = X @ W + rng.gumbel(size=(rows.size, N_CLASSES))
        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(N_FEATURES)])
        frame["label"] = Z.argmax(axis=1).astype(np.int64)
        frame.to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    done.write_text("")
    return folder


def objective(coef: np.ndarray, intercept: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Mean multinomial log loss + ||W||^2 / (2 C n): Spark's and polyclass's objective."""
    Z = X.astype(np.float64) @ np.asarray(coef, dtype=np.float64).T + intercept
    m = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - m).sum(axis=1)) + m[:, 0]
    loss = float(np.mean(lse - Z[np.arange(len(y)), y]))
    return loss + float(np.sum(np.square(coef))) / (2 * C * len(y))


class PeakMemory:
    """Peak summed memory of a process and its descendants, sampled in a thread: resident
    (RSS, which counts a page shared by several processes, such as a library's code, in
    each) and proportional (PSS, which splits a shared page among its processes: the
    tree's own memory when it has several processes)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.peak_pss = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                rss = pss = 0
                for p in procs:
                    try:
                        full = p.memory_full_info()
                    except psutil.Error:
                        continue
                    rss += full.rss
                    pss += full.pss
                self.peak = max(self.peak, rss)
                self.peak_pss = max(self.peak_pss, pss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def cpu_seconds(fn: Callable[[], Any], client: Any = None) -> float:
    """CPU seconds (user + system) ``fn`` takes in this process and, given a Dask client,
    in its workers: on a loaded machine a steadier measure than the wall time."""

    def own() -> float:
        return sum(os.times()[:2])

    def workers() -> float:
        return 0.0 if client is None else sum(client.run(own).values())

    before = own() + workers()
    fn()
    return own() + workers() - before


def read_all(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pq.read_table(folder, use_threads=False)
    names = [f"f{j}" for j in range(N_FEATURES)]
    X = np.column_stack([table.column(n).to_numpy() for n in names]).astype(np.float32)
    return X, table.column("label").to_numpy()


def single_node_fit(folder: Path) -> Any:
    from polyclass.linear import LogisticRegression

    X, y = read_all(folder)
    return LogisticRegression(C=C, dtype="float32", tol=TOL).fit(X, y)


def dask_fit(client: Any, folder: Path, n_rows: int) -> tuple[Any, Any]:
    from polyclass.linear import LogisticRegression
    from polyclass.scale import encode, fit_logistic, label_counts, read_table

    table = read_table(client, str(folder), "label")
    labels = label_counts(table)
    classes = sorted(labels)
    features = [f"f{j}" for j in range(N_FEATURES)]
    blocks = encode(table, features, classes, "float32")  # frees the parts as it goes
    mass = np.array([labels[c][1] for c in classes])
    template = LogisticRegression(C=C, dtype="float32", tol=TOL)
    fitted, info = fit_logistic(client, blocks, template, classes, mass, n_rows, N_FEATURES)
    del blocks
    return fitted, info


def train_cases(folder: Path, repeat: int) -> None:
    """``polyclass train`` on one file against ``train --dask`` on the parts, whole runs."""
    from polyclass.pipeline import train
    from polyclass.scale import connect

    whole = folder.with_name(f"{folder.name}-whole.parquet")
    if not whole.exists():
        pq.write_table(pq.read_table(folder, use_threads=False), whole)
    options = {
        "target": "label",
        "families": "linear",
        "strategies": "multinomial",
        "C": str(C),
        "class_weight": "none",
        "cv": 3,
        "n_bootstrap": 200,
        "register": False,
        "overwrite": True,
        "n_jobs": 1,
    }
    out = BENCH / "scale-train"
    t_single, single = best(lambda: train(data=whole, out=out / "single", **options), repeat)
    line("polyclass train (one machine, whole pipeline)", t_single)
    with connect("local", n_workers=2) as client:
        t_dask, spread = best(
            lambda: train(
                data=str(folder), out=out / "dask", dask=client.scheduler.address, **options
            ),
            repeat,
        )
    d = spread.distributed
    line(
        "polyclass train --dask (2 workers x 1 thread)",
        t_dask,
        f"{d['round_trips']} round trips, sample {d['sample_rows']:,} rows",
    )
    acc = [r.test_metrics["metrics"]["accuracy"]["value"] for r in (single, spread)]
    print(
        f"  train --dask / train: {t_dask / t_single:.2f}x; test accuracy {acc[0]:.4f} "
        f"(one machine) vs {acc[1]:.4f} (Dask)",
        flush=True,
    )


def predict_folder(folder: Path, copies: int) -> Path:
    """``copies`` x the training files, as links: the 10M-row input of the predict case."""
    out = folder.with_name(f"{folder.name}-x{copies}")
    if out.exists() and not all(link.exists() for link in out.iterdir()):
        shutil.rmtree(out)  # links made through a path that is gone (another checkout's)
    if not out.exists():
        out.mkdir()
        for k in range(copies):
            for part in sorted(folder.glob("*.parquet")):
                (out / f"{k:02d}-{part.name}").symlink_to(part.resolve())
    return out


def predict_cases(client: Any, model: Any, data: Path, repeat: int) -> None:
    """``predict --dask`` against single-node ``predict`` on every file of ``data``."""
    from polyclass.pipeline import predict_file
    from polyclass.scale import predict_parts

    out = BENCH / "scale-predictions"
    files = sorted(data.glob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)

    def single() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for f in files:
            predict_file(model, f, out / f.name)

    def dask() -> None:
        shutil.rmtree(out, ignore_errors=True)
        predict_parts(client, model, str(data), str(out))

    t_single, _ = best(single, repeat)
    line(f"single-node predict, {rows:,} rows", t_single)
    t_dask, _ = best(dask, repeat)
    line(f"predict --dask, {rows:,} rows", t_dask)
    print(f"  predict speed-up: {t_single / t_dask:.2f}x (target >= 1.5x)", flush=True)
    print(
        f"  CPU seconds of one more run: single-node {cpu_seconds(single):.2f}, on Dask "
        f"{cpu_seconds(dask, client):.2f}",
        flush=True,
    )
    shutil.rmtree(out, ignore_errors=True)


def run_baseline(args: list[str]) -> tuple[dict[str, Any], PeakMemory]:
    proc = subprocess.Popen(
        [str(BASELINE_PYTHON), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    with PeakMemory(proc.pid) as mem:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"baseline {args[0]} failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1]), mem


def line(name: str, seconds: float, extra: str = "") -> None:
    print(f"  {name:<40} {seconds:8.2f} s  {extra}", flush=True)


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    baselines = "--no-baselines" not in sys.argv and BASELINE_PYTHON.exists()
    n_rows = 200_000 if quick else 2_000_000
    folder = make_data(n_rows)
    print(
        f"bench_scale: {n_rows:,} rows x {N_FEATURES} float32 x {N_CLASSES} classes, "
        f"{N_FILES} Parquet files; min of {repeat} runs; 1 BLAS thread per process"
    )
    print(f"load average before: {os.getloadavg()}  (2 cores)", flush=True)

    from polyclass.scale import connect

    # Dask first: its peak memory is that of a driver that has held no table yet
    with PeakMemory(os.getpid()) as mem, connect("local", n_workers=2) as client:
        t_dask, (fitted, info) = best(lambda: dask_fit(client, folder, n_rows), repeat)
        dask_mem = mem
        cpu_dask = cpu_seconds(lambda: dask_fit(client, folder, n_rows), client)
    t_single, single = best(lambda: single_node_fit(folder), repeat)
    line("polyclass single-node (read + fit)", t_single)
    cpu_single = cpu_seconds(lambda: single_node_fit(folder))
    # the objectives are computed after the timed runs: the driver holds no table
    # while Dask's memory is measured
    X, y = read_all(folder)
    f_single = objective(single.coef_, single.intercept_, X, y)
    f_dask = objective(fitted.coef_, fitted.intercept_, X, y)
    print(f"  single-node objective {f_single:.10f}")
    line(
        "polyclass on Dask, 2 workers x 1 thread",
        t_dask,
        f"objective {f_dask:.10f}, {info.round_trips} round trips, {info.n_iter} Newton steps, "
        f"peak {dask_mem.peak / 2**30:.2f} GB (PSS {dask_mem.peak_pss / 2**30:.2f} GB)",
    )
    print(
        f"  CPU seconds of one more run: single-node {cpu_single:.2f}, on Dask {cpu_dask:.2f} "
        "(driver, scheduler and workers)"
    )
    print(
        f"  Dask / single-node: {t_dask / t_single:.2f}x (target <= 1.5x); "
        f"round trips {info.round_trips} (target <= 10)"
    )
    if "--no-predict" not in sys.argv:
        from polyclass.data import infer_schema
        from polyclass.model import Model
        from polyclass.preprocess import Preprocessor

        head = pd.read_parquet(sorted(folder.glob("*.parquet"))[0])
        schema = infer_schema(head, "label")
        pre = Preprocessor(schema, dtype="float32").fit(head)
        estimator = single.__class__(C=C, dtype="float32").fit(pre.transform(head), head["label"])
        model = Model(schema, pre, estimator)
        with connect("local", n_workers=2) as client:
            predict_cases(client, model, predict_folder(folder, 5), repeat)

    if "--train" in sys.argv:
        train_cases(folder, repeat)

    if baselines:
        spark, spark_mem = run_baseline(
            [
                str(ROOT / "benchmarks" / "_scale_spark.py"),
                str(folder),
                str(n_rows),
                str(C),
                str(repeat),
            ]
        )
        t_spark = min(spark["times"])
        f_spark = objective(np.array(spark["coef"]), np.array(spark["intercept"]), X, y)
        line(
            "Spark MLlib multinomial, local[2]",
            t_spark,
            f"objective {f_spark:.10f}, {spark['iterations']} iterations, start-up "
            f"{spark['startup']:.1f} s, peak {spark_mem.peak / 2**30:.2f} GB (PSS "
            f"{spark_mem.peak_pss / 2**30:.2f} GB)",
        )
        print(
            f"  speed-up vs Spark: {t_spark / t_dask:.1f}x (target >= 6x); objective "
            f"{'<=' if f_dask <= f_spark + 1e-9 else '>'} Spark's; memory "
            f"{dask_mem.peak / spark_mem.peak:.3f} of Spark's by RSS, "
            f"{dask_mem.peak_pss / spark_mem.peak_pss:.3f} by PSS (target <= 0.33)",
            flush=True,
        )
        daskml, _ = run_baseline(
            [str(ROOT / "benchmarks" / "_scale_daskml.py"), str(folder), str(C), "1"]
        )
        t_daskml = min(daskml["times"])
        line("dask-ml L-BFGS one-vs-rest x7 (1 run)", t_daskml)
        print(f"  speed-up vs dask-ml: {t_daskml / t_dask:.1f}x (target >= 12x)")
    else:
        print("  baselines skipped (.bench/venv missing or --no-baselines)")
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
