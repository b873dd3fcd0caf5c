"""scikit-learn's ``CalibratedClassifierCV`` that refuses, before fitting, a class with
fewer rows than calibration folds, naming the class and the fix (scikit-learn's own
message names neither). Imported only when a calibrated estimator is built."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV

__all__ = ["CalibratedCV"]


class CalibratedCV(CalibratedClassifierCV):  # type: ignore[misc]
    """``CalibratedClassifierCV`` whose ``fit`` first checks every class's row count."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> Any:
        """Fit as scikit-learn does, after refusing a class smaller than ``cv`` folds."""
        if isinstance(self.cv, int):
            labels, counts = np.unique(np.asarray(y), return_counts=True)
            small = np.flatnonzero(counts < self.cv)
            if small.size:
                label, count = labels[small[0]].item(), int(counts[small[0]])
                raise ValueError(
                    f"Calibration fits on {self.cv} out-of-fold splits, so every class needs "
                    f"at least {self.cv} training rows; class {label!r} has {count}. Add rows "
                    "of that class or drop it; a family other than svm can also train with "
                    "calibration=None."
                )
        return super().fit(X, y, sample_weight=sample_weight, **fit_params)
