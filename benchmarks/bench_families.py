"""Model families: ``polyclass train`` against PyCaret ``compare_models()`` and a
scikit-learn ``GridSearchCV`` pipeline, on the same 75%/25% splits.

Usage: ``python benchmarks/bench_families.py [--no-pycaret] [cars] [weather] [digits]
[synthetic]`` (default: all four tables; ``--no-pycaret`` runs only polyclass and the
scikit-learn grid search). Tables: vega's cars (target ``Origin``, ``Name`` dropped) and
seattle-weather (``weather``) from the ``vega_datasets`` package (shipped in it, no
network), scikit-learn's digits, and a 200,000 x 30 ``make_classification`` with 6
classes. Every system fits on the same 75% and is scored once on the same 25%.

- polyclass: ``polyclass.train`` with its defaults and ``refit_all=True`` (the saved model
  sees every one of the 75% rows, as PyCaret's and the grid search's final models do);
  time is the whole job in a child process (imports, checks, search, validation, final
  fit, test, report, save).
- PyCaret 3.3 ``compare_models()`` with its own defaults, in its own environment
  (``.bench/pycaret``, git-ignored: PyCaret pins an older scikit-learn); time is
  ``compare_models()`` alone; it is stopped after 600 s and that time recorded.
- scikit-learn: impute/scale/one-hot + ``LogisticRegression`` in ``GridSearchCV``
  (C x class_weight, 5 folds, macro-F1, ``n_jobs=-1``); time is the whole child.

Peak memory is the largest resident set of the child process plus its workers' private
pages (pages a worker shares with the child, such as a forked process's copy-on-write
ones, are counted once; sampled from /proc every 0.1 s); CPU seconds are the child's and
its reaped descendants' (``getrusage``), the steadier figure on a loaded machine; the
load average is read as each child ends. Targets: polyclass's test macro-F1 at least PyCaret's
winner's minus 0.01 on every table; its time at most a third of ``compare_models()``'s on
every table, and no slower than the grid search on digits.

Set up PyCaret's environment once:
``python3 -m venv .bench/pycaret && .bench/pycaret/bin/pip install pycaret==3.3.2``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split

SEED = 0
ROOT = Path(__file__).resolve().parents[1]
PYCARET = ROOT / ".bench" / "pycaret" / "bin" / "python"
PYCARET_LIMIT_S = 600

POLYCLASS_JOB = """
import json, sys, time
t0 = time.perf_counter()
import polyclass
from sklearn.metrics import accuracy_score, f1_score
import pandas as pd
train, test, target, out = sys.argv[1:5]
result = polyclass.train(data=train, target=target, out=out, register=False, refit_all=True)
seconds = time.perf_counter() - t0
frame = pd.read_csv(test)
y = frame[target].astype(str).to_numpy()
pred = result.model.predict(frame.drop(columns=[target])).astype(str)
print(json.dumps({"seconds": seconds, "f1": f1_score(y, pred, average="macro"),
                  "accuracy": accuracy_score(y, pred), "winner": result.leaderboard["chosen"]}))
"""

SKLEARN_JOB = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
train, test, target = sys.argv[1:4]
frame = pd.read_csv(train)
y = frame[target].astype(str).to_numpy()
X = frame.drop(columns=[target])
numeric = X.select_dtypes("number").columns.tolist()
other = [c for c in X.columns if c not in numeric]
pre = ColumnTransformer([
    ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                          OneHotEncoder(handle_unknown="ignore")), other)])
grid = GridSearchCV(
    make_pipeline(pre, LogisticRegression(max_iter=2000)),
    {"logisticregression__C": [0.01, 0.1, 1, 10, 100],
     "logisticregression__class_weight": [None, "balanced"]},
    cv=5, scoring="f1_macro", n_jobs=-1)
grid.fit(X, y)
seconds = time.perf_counter() - t0
held = pd.read_csv(test)
yt = held[target].astype(str).to_numpy()
pred = grid.predict(held.drop(columns=[target]))
print(json.dumps({"seconds": seconds, "f1": f1_score(yt, pred, average="macro"),
                  "accuracy": accuracy_score(yt, pred), "winner": "logistic regression"}))
"""

PYCARET_JOB = """
import json, signal, sys, time
import pandas as pd
from pycaret.classification import compare_models, predict_model, setup
from sklearn.metrics import accuracy_score, f1_score
train, test, target, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
frame, held = pd.read_csv(train), pd.read_csv(test)
frame[target] = frame[target].astype(str)
held[target] = held[target].astype(str)
setup(data=frame, target=target, test_data=held, session_id=0, verbose=False, html=False,
      index=False)
def stop(signum, stack):
    raise TimeoutError
signal.signal(signal.SIGALRM, stop)
signal.alarm(limit)
t0 = time.perf_counter()
try:
    best = compare_models(verbose=False)
except TimeoutError:
    print(json.dumps({"seconds": float(limit), "timeout": True}))
    sys.exit(0)
signal.alarm(0)
seconds = time.perf_counter() - t0
pred = predict_model(best, data=held.drop(columns=[target]), verbose=False)
yp = pred["prediction_label"].astype(str).to_numpy()
yt = held[target].to_numpy()
print(json.dumps({"seconds": seconds, "f1": f1_score(yt, yp, average="macro"),
                  "accuracy": accuracy_score(yt, yp), "winner": type(best).__name__}))
"""


def _tables() -> dict[str, tuple[pd.DataFrame, str]]:
    from vega_datasets import data as vega

    cars = vega.cars().drop(columns=["Name"])
    weather = vega.seattle_weather()
    bunch = datasets.load_digits(as_frame=True)
    digits = bunch.frame.rename(columns={"target": "label"})
    digits["label"] = digits["label"].map(lambda i: f"d{i}")
    X, y = datasets.make_classification(
        n_samples=200_000,
        n_features=30,
        n_informative=12,
        n_classes=6,
        n_clusters_per_class=2,
        random_state=SEED,
    )
    synthetic = pd.DataFrame(X, columns=[f"x{i}" for i in range(30)])
    synthetic["label"] = np.asarray(list("abcdef"))[y]
    return {
        "cars": (cars, "Origin"),
        "weather": (weather, "weather"),
        "digits": (digits, "label"),
        "synthetic": (synthetic, "label"),
    }


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` plus the private resident bytes of every process
    descending from it (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, parent in parents.items() if parent == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    total = 0
    for p in tree:
        # a descendant's pages shared with the job (a forked child's copy-on-write ones)
        # are already in the job's resident set: count only its private pages
        path, fields = (
            (f"/proc/{p}/status", ("VmRSS:",))
            if p == pid
            else (f"/proc/{p}/smaps_rollup", ("Private_Clean:", "Private_Dirty:"))
        )
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(fields):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _run(argv: list[str], timeout: float, cwd: Path) -> dict[str, object]:
    """Run a child in ``cwd`` (PyCaret writes logs.log there), sampling its process
    tree's memory; its last stdout line is JSON."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(child.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        done.set()
        return {"seconds": timeout, "timeout": True, "peak": peak[0]}
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        return {"error": stderr.strip().splitlines()[-1:] or ["no output"], "peak": peak[0]}
    return {**json.loads(lines[-1]), "peak": peak[0], "cpu": cpu, "load": os.getloadavg()[0]}


def _row(system: str, r: dict[str, object]) -> str:
    if "error" in r:
        return f"  {system:<10} failed: {r['error']}"
    seconds = float(r["seconds"])  # type: ignore[arg-type]
    if r.get("timeout"):
        return f"  {system:<10} {seconds:8.1f} s (stopped: did not finish in {seconds:.0f} s)"
    peak = int(r["peak"]) / 2**20  # type: ignore[call-overload]
    return (
        f"  {system:<10} {seconds:8.1f} s {float(r['cpu']):7.1f} CPU-s {peak:6.0f} MiB  "  # type: ignore[arg-type]
        f"macro-F1 {r['f1']:.4f}  accuracy {r['accuracy']:.4f}  ({r['winner']}; "
        f"load {float(r['load']):.1f} at the end)"  # type: ignore[arg-type]
    )


def compare(name: str, frame: pd.DataFrame, target: str, work: Path, pycaret: bool) -> None:
    train, test = train_test_split(frame, test_size=0.25, stratify=frame[target], random_state=SEED)
    train_csv, test_csv = work / f"{name}-train.csv", work / f"{name}-test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    print(f"\n## {name}: {len(train):,} training rows, {len(test):,} test rows")
    py = sys.executable
    ours = _run(
        [py, "-c", POLYCLASS_JOB, str(train_csv), str(test_csv), target, str(work / name)],
        timeout=3600,
        cwd=work,
    )
    grid = _run(
        [py, "-c", SKLEARN_JOB, str(train_csv), str(test_csv), target], timeout=3600, cwd=work
    )
    if not pycaret:
        caret: dict[str, object] = {"error": ["not run (--no-pycaret)"]}
    elif PYCARET.exists():
        limit = str(PYCARET_LIMIT_S)
        argv = [str(PYCARET), "-c", PYCARET_JOB, str(train_csv), str(test_csv), target, limit]
        caret = _run(argv, timeout=PYCARET_LIMIT_S + 300, cwd=work)
        if caret.get("timeout"):  # its own alarm did not stop it: it counts as the limit
            caret["seconds"] = float(PYCARET_LIMIT_S)
    else:
        caret = {"error": [f"PyCaret is not installed in {PYCARET.parent.parent}"]}
    for system, r in (("polyclass", ours), ("sklearn", grid), ("pycaret", caret)):
        print(_row(system, r))
    _verdict(name, ours, grid, caret)


def _verdict(
    name: str, ours: dict[str, object], grid: dict[str, object], caret: dict[str, object]
) -> None:
    if "error" in ours:
        return
    t = float(ours["seconds"])  # type: ignore[arg-type]
    if "seconds" in caret:
        c = float(caret["seconds"])  # type: ignore[arg-type]
        bound = " (PyCaret stopped at the limit: a lower bound)" if caret.get("timeout") else ""
        print(f"  time vs PyCaret compare_models: {t / c:.2f}x (target <= 0.33){bound}")
    if "f1" in caret:
        gap = float(ours["f1"]) - float(caret["f1"])  # type: ignore[arg-type]
        print(f"  macro-F1 minus PyCaret's winner: {gap:+.4f} (target >= -0.01)")
    if name == "digits" and "seconds" in grid:
        g = float(grid["seconds"])  # type: ignore[arg-type]
        cpu = float(ours["cpu"]) / float(grid["cpu"])  # type: ignore[arg-type]
        print(f"  time vs sklearn GridSearchCV: {t / g:.2f}x (target <= 1.00; CPU {cpu:.2f}x)")


def main(argv: list[str]) -> None:
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return
    pycaret = "--no-pycaret" not in argv
    argv = [a for a in argv if a != "--no-pycaret"]
    tables = _tables()
    unknown = [a for a in argv if a not in tables]
    if unknown:
        sys.exit(f"error: unknown table {unknown[0]!r}; choose from {', '.join(tables)}.")
    names = argv or list(tables)
    print(f"# model families on {os.cpu_count()} cores (times under the machine's load)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            frame, target = tables[name]
            compare(name, frame, target, Path(tmp), pycaret)


if __name__ == "__main__":
    main(sys.argv[1:])
