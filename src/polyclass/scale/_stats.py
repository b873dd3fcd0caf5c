"""Preprocessing statistics of a table too large for one machine, from per-block states
that merge exactly.

Counts, means and variances merge exactly by Chan et al.'s pairwise update; category
counts by addition. Medians need the whole column, so a first pass feeds each
column's finite values into an Apache DataSketches KLL sketch (mergeable; its rank error
is at most ``normalized_rank_error`` with 99% confidence), the merged sketch brackets the
median's rank, and a second pass counts the values below the bracket and collects the
few inside it: the exact median (as ``numpy.median`` takes it) comes from those. A
bracket that missed (the 1% case) is widened and the second pass repeated. The mean and
variance after imputation follow from the finite values' moments and the median.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.preprocess import Preprocessor

#: KLL accuracy parameter: rank error about 0.17%, so the second pass collects about
#: 0.7% of each column's values.
SKETCH_K = 2000


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of each column's finite values."""

    n: NDArray[np.int64]
    mean: NDArray[np.float64]
    m2: NDArray[np.float64]

    @classmethod
    def of(cls, columns: list[NDArray[np.float64]]) -> Moments:
        n, mean, m2 = [], [], []
        for x in columns:
            finite = x[np.isfinite(x)]
            n.append(finite.size)
            mu = float(finite.mean()) if finite.size else 0.0
            mean.append(mu)
            m2.append(float(np.sum(np.square(finite - mu))) if finite.size else 0.0)
        return cls(np.array(n, dtype=np.int64), np.array(mean), np.array(m2))

    def merge(self, other: Moments) -> Moments:
        """Chan et al.'s update: exact, whatever the blocks' sizes."""
        n = self.n + other.n
        safe = np.where(n > 0, n, 1)
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / safe)
        m2 = self.m2 + other.m2 + delta**2 * (self.n * other.n / safe)
        return Moments(n, mean, m2)


@dataclass
class BlockStats:
    """Everything pass one learns from a block; ``merge`` combines two blocks'."""

    n_rows: int
    moments: Moments
    sketches: list[bytes]
    categories: list[tuple[list[Any], NDArray[np.int64], int]]
    labels: dict[Any, list[float]] = field(default_factory=dict)  # label -> [rows, weight]

    def merge(self, other: BlockStats) -> BlockStats:
        from datasketches import kll_doubles_sketch

        sketches = []
        for a, b in zip(self.sketches, other.sketches, strict=True):
            merged = kll_doubles_sketch.deserialize(a)
            merged.merge(kll_doubles_sketch.deserialize(b))
            sketches.append(merged.serialize())
        categories = [
            Preprocessor.merge_category_counts([a, b])
            for a, b in zip(self.categories, other.categories, strict=True)
        ]
        labels = {k: list(v) for k, v in self.labels.items()}
        for label, (rows, weight) in other.labels.items():
            mine = labels.setdefault(label, [0.0, 0.0])
            mine[0] += rows
            mine[1] += weight
        return BlockStats(
            self.n_rows + other.n_rows,
            self.moments.merge(other.moments),
            sketches,
            categories,
            labels,
        )

    __add__ = merge


def block_stats(
    pre: Preprocessor, frame: Any, labels: NDArray[Any] | None, weights: NDArray[Any] | None
) -> BlockStats:
    """Pass one on one block (runs on a worker)."""
    from datasketches import kll_doubles_sketch

    columns = pre.scaled_inputs(frame)
    sketches = []
    for x in columns:
        sketch = kll_doubles_sketch(SKETCH_K)
        finite = x[np.isfinite(x)]
        if finite.size:
            sketch.update(finite)
        sketches.append(sketch.serialize())
    counts: dict[Any, list[float]] = {}
    if labels is not None:
        values, codes = np.unique(labels, return_inverse=True)
        rows = np.bincount(codes, minlength=values.size)
        mass = rows if weights is None else np.bincount(codes, weights, minlength=values.size)
        counts = {
            v: [float(r), float(w)] for v, r, w in zip(values.tolist(), rows, mass, strict=True)
        }
    return BlockStats(len(frame), Moments.of(columns), sketches, pre.category_counts(frame), counts)


def median_brackets(stats: BlockStats) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per column, values ``lo <= hi`` between which the median lies (99% confidence)."""
    from datasketches import kll_doubles_sketch

    lo, hi = [], []
    for raw in stats.sketches:
        sketch = kll_doubles_sketch.deserialize(raw)
        if sketch.is_empty():
            lo.append(np.nan)
            hi.append(np.nan)
            continue
        eps = 2 * sketch.normalized_rank_error(False)
        lo.append(sketch.get_quantile(max(0.0, 0.5 - eps)))
        hi.append(sketch.get_quantile(min(1.0, 0.5 + eps)))
    return np.array(lo), np.array(hi)


@dataclass
class Window:
    """Pass two on a block: values below each bracket, and the sorted values inside it."""

    below: NDArray[np.int64]
    inside: list[NDArray[np.float64]]

    def merge(self, other: Window) -> Window:
        return Window(
            self.below + other.below,
            [
                np.sort(np.concatenate([a, b]))
                for a, b in zip(self.inside, other.inside, strict=True)
            ],
        )

    __add__ = merge


def block_window(
    pre: Preprocessor, frame: Any, lo: NDArray[np.float64], hi: NDArray[np.float64]
) -> Window:
    """Pass two on one block (runs on a worker)."""
    below, inside = [], []
    for x, a, b in zip(pre.scaled_inputs(frame), lo, hi, strict=True):
        finite = x[np.isfinite(x)]
        below.append(int(np.count_nonzero(finite < a)))
        inside.append(np.sort(finite[(finite >= a) & (finite <= b)]))
    return Window(np.array(below, dtype=np.int64), inside)


def medians_from(
    n: NDArray[np.int64], window: Window
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Exact medians where the window holds the middle ranks; the columns it missed."""
    medians = np.full(len(n), np.nan)
    missed = np.zeros(len(n), dtype=bool)
    for j, (count, below, inside) in enumerate(zip(n, window.below, window.inside, strict=True)):
        if count == 0:
            continue
        ranks = [(count - 1) // 2, count // 2]  # the one or two middle order statistics
        local = [r - int(below) for r in ranks]
        if local[0] < 0 or local[1] >= inside.size:
            missed[j] = True
            continue
        # numpy.median's mean of the two middle values, computed as it does
        medians[j] = float(np.mean(inside[local])) if local[0] != local[1] else inside[local[0]]
    return medians, missed


def imputed_moments(
    moments: Moments, medians: NDArray[np.float64], n_rows: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and population deviation of each column after its missing values become its
    median: the finite values' moments merged with a block of constants."""
    n_missing = n_rows - moments.n
    filled = Moments(n_missing, medians.copy(), np.zeros_like(medians))
    whole = moments.merge(filled)
    return whole.mean, np.sqrt(whole.m2 / max(n_rows, 1))
