"""Target labels as a plain NumPy array, the same way in training and evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def labels_of(values: pd.Series) -> NDArray[Any]:
    """Labels of a target column: text labels become a fixed-width str array."""
    y = values.to_numpy()
    if y.dtype == object:
        return np.asarray([str(v) for v in y]).astype(str)
    return y
