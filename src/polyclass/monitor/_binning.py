"""Put values into reference bins fast: a lookup table, then exact corrections.

Bins are right-closed on the stored interior edges ``e_1 < ... < e_{B-1}``: value ``x``
goes to bin ``searchsorted(edges, x, side='left')``, so bin 0 holds ``x <= e_1`` and the
last bin ``x > e_{B-1}``. ``np.searchsorted`` is a branchy binary search, slow on
millions of values; :func:`bin_index` gets the same answer in a few array passes: a
uniform grid over the edges gives every value a lower bound of its bin, and a short
loop moves up the few values that sit above their bin's upper edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

_MAX_CELLS = 1 << 16


class Binner:
    """Maps values to the bins of fixed interior edges, as ``searchsorted(side='left')``."""

    def __init__(self, edges: NDArray[np.float64]) -> None:
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or (edges.size > 1 and not np.all(np.diff(edges) > 0)):
            raise ValueError("Binner: edges must be a strictly increasing 1-D array.")
        self.edges = edges
        self.n_bins = edges.size + 1
        # Upper edge of each bin; the last bin is open above.
        self.upper = np.append(edges, np.inf)
        self.lut: NDArray[np.intp] | None = None
        cells = 0
        if edges.size >= 2:
            lo, hi = float(edges[0]), float(edges[-1])
            min_gap = float(np.diff(edges).min())
            cells = int(min(_MAX_CELLS, max(16, np.ceil((hi - lo) / min_gap) * 8)))
            # A cell must stay far wider than the rounding error of the values near it.
            cells = min(cells, int((hi - lo) / (1e-12 * max(abs(lo), abs(hi)))))
        if cells >= 16:
            self.lo = lo
            self.cells = cells
            self.inv_width = cells / (hi - lo)
            self.offset = 1.0 - lo * self.inv_width  # x * inv_width + offset = cell + 1
            # Left end of the cell *before* each cell: the bin there is a lower bound for
            # every value the grid puts in the cell, even after rounding.
            starts = lo + (np.arange(cells + 2, dtype=np.float64) - 2.0) / self.inv_width
            self.lut = np.searchsorted(edges, starts, side="left").astype(np.intp)

    def __call__(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        """Bin of each (finite) value; NaN must be replaced by the caller."""
        if self.lut is None:
            if self.edges.size == 0:
                return np.zeros(x.shape, dtype=np.intp)
            if self.edges.size == 1:
                return np.asarray(x > self.edges[0], dtype=np.intp)
            # Edges too close for a grid to be exact in floating point: binary search.
            return np.searchsorted(self.edges, x, side="left").astype(np.intp)
        t = x * self.inv_width
        t += self.offset
        np.clip(t, 0.0, float(self.cells + 1), out=t)
        b: NDArray[np.intp] = self.lut[t.astype(np.intp)]
        idx = np.flatnonzero(x > self.upper[b])
        while idx.size:
            b[idx] += 1
            idx = idx[x[idx] > self.upper[b[idx]]]
        return b


def quantile_edges(values: NDArray[np.float64], n_bins: int) -> NDArray[np.float64]:
    """Distinct interior quantile edges splitting ``values`` into about ``n_bins`` bins."""
    if values.size == 0 or n_bins <= 1:
        return np.zeros(0, dtype=np.float64)
    q = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    edges: NDArray[np.float64] = np.unique(q)
    # An edge at the maximum would leave the last bin empty by construction.
    if edges.size and edges[-1] >= values.max():
        edges = edges[:-1]
    return edges


def finite_values(x: Any) -> tuple[NDArray[np.float64], NDArray[np.bool_] | None]:
    """``x`` as float64 with non-finite values (NaN, ±inf: missing) replaced, and that mask.

    The mask is None when every value is finite (the common case costs one pass).
    """
    arr = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(arr)
    if finite.all():
        return arr, None
    missing = ~finite
    return np.where(missing, 0.0, arr), missing
