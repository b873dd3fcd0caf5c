"""Side-by-side timing and memory of polyclass against a baseline, in one process run.

A case is a name, a function for ours, one for the baseline, and the input bytes (for
the memory ratio). Time is the best of ``repeat`` runs (the least disturbed by a noisy
machine); peak memory is measured in a separate run under ``tracemalloc``, which NumPy
reports its allocations to.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Case:
    """One comparison: ``ours()`` against ``baseline()`` on the same inputs."""

    name: str
    ours: Callable[[], Any]
    baseline: Callable[[], Any] | None
    input_bytes: int
    repeat: int = 3
    target: float | None = None  # speed-up we aim for, shown beside the ratio


@dataclass
class Result:
    name: str
    ours_s: float
    baseline_s: float | None
    peak_ratio: float
    target: float | None

    @property
    def speedup(self) -> float | None:
        return None if self.baseline_s is None else self.baseline_s / self.ours_s


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall-clock time of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated while ``fn`` runs (NumPy buffers included)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def run_case(case: Case) -> Result:
    ours_s = best_time(case.ours, case.repeat)
    base_s = None if case.baseline is None else best_time(case.baseline, case.repeat)
    peak = peak_bytes(case.ours)
    return Result(case.name, ours_s, base_s, peak / max(case.input_bytes, 1), case.target)


def print_header(title: str) -> None:
    print(f"\n## {title}")
    print(f"{'case':<48} {'ours s':>9} {'base s':>9} {'speed-up':>9} {'target':>7} {'peak/in':>8}")


def print_result(r: Result) -> None:
    base = "-" if r.baseline_s is None else f"{r.baseline_s:9.4f}"
    speed = "-" if r.speedup is None else f"{r.speedup:8.1f}x"
    target = "-" if r.target is None else f"{r.target:g}x"
    ok = ""
    if r.speedup is not None and r.target is not None:
        ok = "  ok" if r.speedup >= r.target else "  MISS"
    print(f"{r.name:<48} {r.ours_s:9.4f} {base:>9} {speed:>9} {target:>7} {r.peak_ratio:7.2f}x{ok}")


def run_all(title: str, cases: list[Case]) -> list[Result]:
    """Run and print every case; return the results."""
    print_header(title)
    results = []
    for case in cases:
        result = run_case(case)
        print_result(result)
        results.append(result)
    return results
