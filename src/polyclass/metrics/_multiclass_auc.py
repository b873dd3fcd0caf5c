"""Multiclass ROC AUC without weights: one-vs-rest and one-vs-one (Hand & Till).

Both reduce to one table. For classes ``c`` and ``k``, ``A2[c, k]`` counts, over pairs
(a sample of class ``c``, a sample of class ``k``), twice the pairs where the first
scores higher on column ``c`` plus the ties (the Mann-Whitney statistic, doubled to stay
an integer). Rows are grouped by class once and each (class, column) block is sorted
once in place; ``A2[c, k]`` is then two ``np.searchsorted`` of the sorted positives into
the sorted negatives. One-vs-rest AUC of ``c`` is ``sum_k A2[c, k] / (2 n_c (n - n_c))``;
one-vs-one uses ``A2[a, b]`` and ``A2[b, a]``. The integers are exact, so each AUC is
the correctly rounded value that :func:`~polyclass.metrics._ranking.auc_from_counts`
gives from the same counts.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def sorted_blocks(
    codes: NDArray[np.intp], n_classes: int, y_score: F64
) -> tuple[list[F64], NDArray[np.int64]]:
    """Per class ``k``, the scores of its samples, shape (n_classes, n_k), each row sorted."""
    small = np.uint8 if n_classes <= 255 else np.uint16 if n_classes <= 65535 else np.intp
    order = np.argsort(codes.astype(small, copy=False), kind="stable")  # radix for small ints
    counts = np.bincount(codes, minlength=n_classes).astype(np.int64)
    grouped = np.take(y_score.T, order, axis=1)  # (K, n), rows grouped by class
    del order
    bounds = np.concatenate(([0], np.cumsum(counts)))
    blocks = []
    for k in range(n_classes):
        block = grouped[:, bounds[k] : bounds[k + 1]]
        block.sort(axis=1)
        blocks.append(block)
    return blocks, counts


def area2_table(blocks: list[F64], counts: NDArray[np.int64]) -> F64:
    """``A2[c, k]`` as described in the module docstring (0 on the diagonal)."""
    n_classes = len(blocks)
    table = np.zeros((n_classes, n_classes))
    for c in range(n_classes):
        if counts[c] == 0:
            continue
        pos = blocks[c][c]
        for k in range(n_classes):
            if k == c or counts[k] == 0:
                continue
            neg = blocks[k][c]
            below = np.searchsorted(neg, pos, side="left").sum(dtype=np.int64)
            not_above = np.searchsorted(neg, pos, side="right").sum(dtype=np.int64)
            table[c, k] = float(int(below) + int(not_above))
    return table


def ovr_from_table(table: F64, counts: NDArray[np.int64]) -> F64:
    """One-vs-rest AUC per class (NaN for a class absent from y_true)."""
    n = float(counts.sum())
    n_pos = counts.astype(np.float64)
    n_neg = n - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        out = table.sum(axis=1) / (2.0 * (n_neg * n_pos))
    return np.where((n_pos > 0) & (n_neg > 0), out, np.nan)


def ovo_from_table(table: F64, counts: NDArray[np.int64], average: str) -> float:
    """Hand & Till's one-vs-one AUC over the pairs of classes present in y_true."""
    present = np.flatnonzero(counts > 0)
    scores = []
    weights = []
    n = float(counts.sum())
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            denom = 2.0 * (float(counts[a]) * float(counts[b]))
            scores.append((table[a, b] / denom + table[b, a] / denom) / 2)
            weights.append((counts[a] + counts[b]) / n)
    if average == "weighted":
        return float(np.average(scores, weights=weights))
    return float(np.average(scores))
