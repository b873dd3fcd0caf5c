"""Resampling for the bootstrap: atoms, count draws, and the label-metric evaluators.

A resample is a vector of counts: how many times each *atom* of the data is drawn.
An atom is a row or, for label metrics, a group of rows with the same (true,
predicted, weight) -- such rows are interchangeable: drawing ``n`` rows uniformly
gives the same distribution of confusion matrices as drawing from a multinomial over
the groups, at a cost of ``O(groups)`` instead of ``O(n)`` per resample.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._boundary import Bounds, ConfusionRule, effective_scale

F64 = NDArray[np.float64]
# Elements (resamples x atoms) evaluated at once: bounds the memory of a chunk.
_CHUNK_ELEMENTS = 1 << 21
# Resample groups of equal (cell, weight) instead of rows when groups hold this many
# rows on average.
_MIN_ROWS_PER_ATOM = 8

# --------------------------------------------------------------------------- resampling


@dataclass(frozen=True)
class _Atoms:
    """What a resample draws: ``stratum`` of each atom and how many rows it stands for.

    ``rows[a]`` is one row of atom ``a`` (all rows of an atom look the same to the
    metric), so ``np.repeat(rows, counts)`` is a resample as row indices.
    """

    rows: NDArray[np.intp]
    stratum: NDArray[np.intp]
    multiplicity: NDArray[np.int64]
    by_row: bool


def _row_atoms(strata: NDArray[np.intp]) -> _Atoms:
    n = len(strata)
    return _Atoms(np.arange(n, dtype=np.intp), strata, np.ones(n, dtype=np.int64), True)


def _draw_counts(atoms: _Atoms, rng: np.random.Generator, size: int) -> NDArray[np.int64]:
    """Counts ``(size, A)`` of each atom in ``size`` stratified resamples."""
    n_atoms = len(atoms.rows)
    out = np.zeros((size, n_atoms), dtype=np.int64)
    n_strata = int(atoms.stratum.max()) + 1
    for s in range(n_strata):
        members = np.flatnonzero(atoms.stratum == s)
        if len(members) == 0:
            continue
        mult = atoms.multiplicity[members]
        n_s = int(mult.sum())
        if atoms.by_row:
            # One uniform draw of n_s rows per resample, then counted.
            idx = rng.integers(0, n_s, size=(size, n_s))
            flat = (np.arange(size, dtype=np.int64)[:, None] * n_s + idx).ravel()
            out[:, members] = np.bincount(flat, minlength=size * n_s).reshape(size, n_s)
        else:
            out[:, members] = rng.multinomial(n_s, mult / n_s, size=size)
    return out


def _chunks(n_resamples: int, n_atoms: int) -> list[int]:
    per = max(1, min(n_resamples, _CHUNK_ELEMENTS // max(n_atoms, 1)))
    sizes = [per] * (n_resamples // per)
    if n_resamples % per:
        sizes.append(n_resamples % per)
    return sizes


# --------------------------------------------------------------------------- evaluators


class _Evaluator:
    """A metric on resamples: ``atoms``, ``batch(counts) -> (B,)`` and the jackknife."""

    atoms: _Atoms

    def batch(self, counts: NDArray[np.int64]) -> F64:
        raise NotImplementedError

    def jackknife(self) -> tuple[F64, F64]:
        """Leave-one-row-out values and how many rows give each value."""
        raise NotImplementedError

    def boundary(self, level: float) -> Bounds | None:
        """Interval for when every resample gives the same value (``_boundary``), or None."""
        return None


class _ConfusionEvaluator(_Evaluator):
    def __init__(
        self,
        t: NDArray[np.intp],
        p: NDArray[np.intp],
        k: int,
        w: F64 | None,
        strata: NDArray[np.intp],
        fn: Callable[[NDArray[Any]], NDArray[Any]],
        rule: ConfusionRule | None = None,
    ) -> None:
        self.k, self.fn, self.rule = k, fn, rule
        kk = k * k
        cell = t * k + p
        self.weighted = w is not None
        self.cm = np.bincount(cell, weights=w, minlength=kk).reshape(k, k)
        # Rows with the same (cell, weight) are interchangeable: when they are few
        # groups, resample the groups (multinomial) instead of the rows.
        if w is None:
            uniq_w, w_code = np.ones(1), np.zeros(len(cell), dtype=np.intp)
        else:
            uniq_w, w_code = np.unique(w, return_inverse=True)
        if len(uniq_w) * kk <= max(64, len(cell) // _MIN_ROWS_PER_ATOM):
            key, first, mult = np.unique(w_code * kk + cell, return_index=True, return_counts=True)
            self.cell = (key % kk).astype(np.intp)
            self.w = uniq_w[key // kk]
            self.atoms = _Atoms(first.astype(np.intp), strata[first], mult.astype(np.int64), False)
        else:
            self.cell = cell.astype(np.intp)
            self.w = np.ones(len(cell)) if w is None else w
            self.atoms = _row_atoms(strata)

    def _matrices(self, counts: NDArray[Any]) -> NDArray[Any]:
        b = counts.shape[0]
        kk = self.k * self.k
        codes = (np.arange(b, dtype=np.intp)[:, None] * kk + self.cell[None, :]).ravel()
        if self.weighted:
            flat = np.bincount(codes, weights=(counts * self.w).ravel(), minlength=b * kk)
        else:
            flat = np.bincount(codes, weights=counts.ravel(), minlength=b * kk)
            flat = np.rint(flat).astype(np.int64)
        return flat.reshape(b, self.k, self.k)

    def batch(self, counts: NDArray[np.int64]) -> F64:
        with warnings.catch_warnings():
            # An ill-defined ratio on some resample is expected; the estimate on the
            # whole data has already warned about what applies to the data.
            warnings.simplefilter("ignore")
            return np.asarray(self.fn(self._matrices(counts)), dtype=np.float64)

    def boundary(self, level: float) -> Bounds | None:
        if self.rule is None:
            return None
        scale = effective_scale(self.w, self.atoms.multiplicity.astype(np.float64))
        return self.rule(np.asarray(self.cm, dtype=np.float64) * scale, level)

    def jackknife(self) -> tuple[F64, F64]:
        # Removing a row of weight w from cell c gives cm - w * e_c: one value per
        # distinct (cell, weight).
        if self.atoms.by_row:
            pairs = np.stack([self.cell.astype(np.float64), self.w], axis=1)
            uniq, mult = np.unique(pairs, axis=0, return_counts=True)
            cells, ws = uniq[:, 0].astype(np.intp), uniq[:, 1]
        else:
            cells, ws, mult = self.cell, self.w, self.atoms.multiplicity
        base: NDArray[Any] = self.cm
        if not self.weighted:
            ws = ws.astype(np.int64)
        values = np.empty(len(cells))
        step = max(1, _CHUNK_ELEMENTS // (self.k * self.k))
        for lo in range(0, len(cells), step):
            c, wv = cells[lo : lo + step], ws[lo : lo + step]
            mats = np.repeat(base[None], len(c), axis=0).reshape(len(c), -1)
            mats[np.arange(len(c)), c] -= wv
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[lo : lo + step] = self.fn(mats.reshape(len(c), self.k, self.k))
        return values, mult.astype(np.float64)


class _LoopEvaluator(_Evaluator):
    """Fallback for arbitrary callables: one call per resample and per jackknife row."""

    def __init__(
        self,
        fn: Callable[..., Any],
        y_true: NDArray[Any],
        y_pred: NDArray[Any],
        w: F64 | None,
        strata: NDArray[np.intp],
        kwargs: dict[str, Any],
    ) -> None:
        self.fn, self.y_true, self.y_pred, self.w, self.kwargs = fn, y_true, y_pred, w, kwargs
        self.atoms = _row_atoms(strata)

    def _call(self, rows: NDArray[np.intp]) -> float:
        extra = {} if self.w is None else {"sample_weight": self.w[rows]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(self.fn(self.y_true[rows], self.y_pred[rows], **extra, **self.kwargs))
            except ValueError:
                # Undefined on this resample (e.g. a class is missing): left out later.
                return float("nan")

    def batch(self, counts: NDArray[np.int64]) -> F64:
        return np.array([self._call(np.repeat(self.atoms.rows, c)) for c in counts])

    def jackknife(self) -> tuple[F64, F64]:
        n = len(self.y_true)
        everything = np.arange(n)
        values = np.array([self._call(np.delete(everything, i)) for i in range(n)])
        return values, np.ones(n)
