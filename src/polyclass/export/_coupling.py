"""One-vs-one probabilities by pairwise coupling, as ONNX nodes.

polyclass couples the pairwise probabilities ``r`` (Wu, Lin and Weng's second method)
by solving, per row, ``Q p = b 1`` with ``sum(p) = 1``. Because ``Q`` is positive
semi-definite and its null space is not orthogonal to ``1``, ``M = Q + 1 1^T`` is
positive definite and ``p`` is ``M^{-1} 1`` scaled to sum to one. ONNX has no linear
solver, so the graph solves ``M x = 1`` by Gauss-Jordan elimination unrolled over the
K classes; elimination without pivoting is stable on a positive definite matrix. The
result equals polyclass's LAPACK solve up to rounding; the test suite bounds the
difference at 1e-6 on the test tables (docs/formats.md).
"""

from __future__ import annotations

import numpy as np

from polyclass.export._graph import Graph

#: polyclass's clipping of pairwise probabilities before coupling (``linear.MIN_PROB``).
MIN_PROB = 1e-7


def pairwise_coupling(g: Graph, second: str, n_classes: int) -> str:
    """Class probabilities (N, K) from the pair probabilities ``second`` (N, n_pairs)."""
    if n_classes == 2:  # polyclass returns [1 - r, r] exactly
        one_minus = g.op("Sub", g.const(1.0), second)
        return g.op("Concat", one_minus, second, axis=1, hint="proba")
    k = n_classes
    first_of, second_of = np.triu_indices(k, k=1)
    pairs = np.arange(len(first_of))
    r_j = g.op("Clip", second, g.const(MIN_PROB), g.const(1 - MIN_PROB))
    r_i = g.op("Sub", g.const(1.0), r_j)
    # 0/1 placement matrices: each product below adds one term to zeros, so it is exact
    as_first = np.zeros((len(pairs), k * k))
    as_first[pairs, first_of * (k + 1)] = 1.0
    as_second = np.zeros((len(pairs), k * k))
    as_second[pairs, second_of * (k + 1)] = 1.0
    off = np.zeros((len(pairs), k * k))
    off[pairs, first_of * k + second_of] = 1.0
    off[pairs, second_of * k + first_of] = 1.0
    diagonal = g.op(
        "Add",
        g.op("MatMul", g.op("Mul", r_j, r_j), g.const(as_first)),
        g.op("MatMul", g.op("Mul", r_i, r_i), g.const(as_second)),
    )
    cross = g.op("MatMul", g.op("Neg", g.op("Mul", r_i, r_j)), g.const(off))
    m = g.op("Add", g.op("Add", diagonal, cross), g.const(1.0))  # Q + 1 1^T, flattened
    system = g.op("Reshape", m, g.const([-1, k, k], dtype=np.int64))
    ones = g.op("Add", g.op("Mul", _slice(g, system, 2, 0, 1), g.const(0.0)), g.const(1.0))
    augmented = g.op("Concat", system, ones, axis=2, hint="system")
    x = _gauss_jordan(g, augmented, k)
    p = g.op("Div", x, _row_sum(g, x))
    p = g.op("Max", p, g.const(0.0))
    return g.op("Div", p, _row_sum(g, p), hint="proba")


def _gauss_jordan(g: Graph, a: str, k: int) -> str:
    """The solution column (N, K) of the augmented systems ``a`` (N, K, K + 1)."""
    for step in range(k):
        row = _slice(g, a, 1, step, step + 1)  # (N, 1, K + 1)
        pivot = _slice(g, row, 2, step, step + 1)
        row = g.op("Div", row, pivot)
        factors = _slice(g, a, 2, step, step + 1)  # (N, K, 1)
        eliminated = g.op("Sub", a, g.op("Mul", factors, row))
        is_pivot_row = np.zeros((1, k, 1), dtype=bool)
        is_pivot_row[0, step, 0] = True
        a = g.op("Where", g.const(is_pivot_row), row, eliminated, hint="elimination")
    solution = _slice(g, a, 2, k, k + 1)
    return g.op("Squeeze", solution, g.const([2], dtype=np.int64), hint="solution")


def _slice(g: Graph, a: str, axis: int, start: int, end: int) -> str:
    return g.op(
        "Slice",
        a,
        g.const([start], dtype=np.int64),
        g.const([end], dtype=np.int64),
        g.const([axis], dtype=np.int64),
    )


def _row_sum(g: Graph, x: str) -> str:
    return g.op("ReduceSum", x, g.const([1], dtype=np.int64), keepdims=1)
