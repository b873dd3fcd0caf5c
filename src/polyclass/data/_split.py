"""Stratified, seeded train / validation / test split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass.data._errors import DataError
from polyclass.data._schema import to_python

__all__ = ["SplitIndices", "min_class_size", "split_sizes", "stratified_split"]


@dataclass(frozen=True)
class SplitIndices:
    """Row positions (0-based, sorted, int64) of the three parts of a split."""

    train: NDArray[np.int64]
    val: NDArray[np.int64]
    test: NDArray[np.int64]

    def to_dict(self) -> dict[str, list[int]]:
        """JSON-able form."""
        return {"train": self.train.tolist(), "val": self.val.tolist(), "test": self.test.tolist()}


def _check_sizes(test_size: float, val_size: float) -> None:
    for name, value in (("test_size", test_size), ("val_size", val_size)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (0.0 <= float(value) < 1.0)
        ):
            raise DataError(
                f"{name} must be a fraction in [0, 1) of all rows. Got {value!r} instead."
            )
    if test_size + val_size >= 1.0:
        raise DataError(
            f"test_size + val_size must be below 1 to leave rows for training. "
            f"Got {test_size} + {val_size} = {test_size + val_size:g}."
        )


def split_sizes(n: int, test_size: float, val_size: float) -> tuple[int, int, int]:
    """(train, val, test) rows that :func:`stratified_split` takes from a class of ``n`` rows.

    Each part with a non-zero fraction gets ``round(n * fraction)`` rows, and at
    least one.
    """
    n_test = max(1, round(n * test_size)) if test_size > 0 else 0
    n_val = max(1, round(n * val_size)) if val_size > 0 else 0
    return n - n_test - n_val, n_val, n_test


def min_class_size(test_size: float = 0.2, val_size: float = 0.2, n_splits: int = 5) -> int:
    """Fewest rows a class needs so the split leaves ``n_splits`` of them for training.

    ``n_splits`` is the number of cross-validation folds run on the training part
    (use 1 when there is no cross-validation).

    Examples
    --------
    >>> min_class_size(0.2, 0.2, 5)
    7
    """
    _check_sizes(test_size, val_size)
    need = max(1, int(n_splits))
    n = need
    while split_sizes(n, test_size, val_size)[0] < need:
        n += 1
    return n


def _encode(y: Any) -> tuple[NDArray[np.intp], list[Any]]:
    values = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    if values.ndim != 1:
        raise DataError(f"y must be one-dimensional. Got shape {values.shape} instead.")
    codes, uniques = pd.factorize(values, sort=True)
    if (codes < 0).any():
        first = int(np.flatnonzero(codes < 0)[0])
        raise DataError(
            f"y has missing values (first at row {first}); drop those rows before splitting."
        )
    return codes.astype(np.intp), list(uniques)


def stratified_split(
    y: Any,
    *,
    test_size: float = 0.2,
    val_size: float = 0.2,
    seed: int = 0,
) -> SplitIndices:
    """Split row positions into train / validation / test, keeping class proportions.

    Within each class the rows are shuffled with ``numpy.random.default_rng(seed)``
    and ``round(n_class * test_size)`` (at least one) go to test,
    ``round(n_class * val_size)`` (at least one) to validation, and the rest to
    train. Fractions are of all rows; ``val_size=0`` gives an empty validation part.
    The same ``y`` and ``seed`` always give the same split.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (any hashable, no missing values).
    test_size, val_size : float
        Fractions in [0, 1) with a sum below 1.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    SplitIndices
        Sorted 0-based row positions of each part; together they cover every row once.

    Raises
    ------
    DataError
        A fraction is out of range, ``y`` has missing values, or a class has too few
        rows to put one in each part and leave one for training (the message names
        the class and how many rows it needs).

    Examples
    --------
    >>> s = stratified_split(["a"] * 10 + ["b"] * 5, test_size=0.2, val_size=0.2, seed=0)
    >>> len(s.train), len(s.val), len(s.test)
    (9, 3, 3)
    """
    _check_sizes(test_size, val_size)
    codes, classes = _encode(y)
    counts = np.bincount(codes, minlength=len(classes))
    need = min_class_size(test_size, val_size, 1)
    small = [(to_python(classes[k]), int(c)) for k, c in enumerate(counts) if c < need]
    if small:
        desc = ", ".join(f"{label!r} ({c} rows)" for label, c in small)
        raise DataError(
            f"Cannot split: class(es) {desc} have too few rows; with test_size={test_size} "
            f"and val_size={val_size} every class needs at least {need} rows (one each for "
            "train, validation and test). Collect more rows, merge or drop the class, or "
            "set a size to 0."
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(codes))
    order = perm[np.argsort(codes[perm], kind="stable")]  # grouped by class, shuffled within
    starts = np.concatenate(([0], np.cumsum(counts)))
    parts: dict[str, list[NDArray[np.intp]]] = {"train": [], "val": [], "test": []}
    for k in range(len(classes)):
        rows = order[starts[k] : starts[k + 1]]
        _, n_val, n_test = split_sizes(len(rows), test_size, val_size)
        parts["test"].append(rows[:n_test])
        parts["val"].append(rows[n_test : n_test + n_val])
        parts["train"].append(rows[n_test + n_val :])

    def _join(chunks: list[NDArray[np.intp]]) -> NDArray[np.int64]:
        return np.sort(np.concatenate(chunks)).astype(np.int64)

    return SplitIndices(
        train=_join(parts["train"]), val=_join(parts["val"]), test=_join(parts["test"])
    )
