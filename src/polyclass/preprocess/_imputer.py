"""Imputation statistics: the median of a numeric column, the mode of a categorical one."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from polyclass.data import DataError

__all__ = ["fit_median", "impute_numeric", "most_frequent"]


def fit_median(name: str, x: NDArray[np.float64]) -> float:
    """Median of the finite values of ``x`` (NaN and ±inf count as missing)."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise DataError(
            f"Column {name!r} has no finite values to learn from (all missing or infinite). "
            "Drop it (check_data does) or fill it."
        )
    return float(np.median(finite))


def impute_numeric(
    x: NDArray[np.float64], fill: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """``x`` with NaN/±inf replaced by ``fill`` (a new array), and the missing mask."""
    missing = ~np.isfinite(x)
    return np.where(missing, fill, x), missing


def most_frequent(counts: NDArray[np.int64]) -> int:
    """Index of the largest count; ties go to the first (smallest) category, like sklearn."""
    if counts.size == 0:
        raise DataError("No values to take the most frequent of.")
    return int(np.argmax(counts))
