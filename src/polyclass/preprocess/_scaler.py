"""Standardisation statistics: mean and scale, with a guard for zero variance."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["fit_scale", "guard_scale"]


def fit_scale(x: NDArray[np.float64]) -> tuple[float, float]:
    """Mean and population standard deviation of ``x``; a (near-)zero deviation becomes 1.

    Like sklearn's StandardScaler, a column with no spread is centred but not
    divided, so it maps to zeros instead of NaN/inf.
    """
    mean = float(x.mean()) if x.size else 0.0
    std = float(x.std()) if x.size else 0.0
    return mean, guard_scale(mean, std)


def guard_scale(mean: float, std: float) -> float:
    """The scale of a column with this mean and population deviation: 1 for no spread."""
    if not np.isfinite(std) or std <= 10 * np.finfo(np.float64).eps * max(1.0, abs(mean)):
        return 1.0
    return std
