"""Class labels to codes without a sort when they are small integers."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.utils.multiclass import check_classification_targets

# Integer labels spanning at most this many values (beyond n) are counted, not sorted.
_MAX_SPAN = 1 << 20


def encode_labels(y: Any) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """``(classes, codes)`` as ``np.unique(y, return_inverse=True)`` gives them, after
    scikit-learn's classification-target check.

    A 1-D integer or bool ``y`` is always a binary or multiclass target, so the check
    (which finds the unique values by sorting) is skipped, and when its values span a
    small range they are counted with ``np.bincount``, much faster than sorting them.
    """
    y = np.asarray(y)
    if y.ndim == 1 and y.size and y.dtype.kind in "iub":
        lo, hi = int(y.min()), int(y.max())
        if hi - lo <= _MAX_SPAN + y.size and -(2**62) < lo and hi < 2**62:
            shifted = y.astype(np.intp) - lo if lo else y.astype(np.intp, copy=False)
            present = np.flatnonzero(np.bincount(shifted, minlength=hi - lo + 1))
            lookup = np.zeros(hi - lo + 1, dtype=np.intp)
            lookup[present] = np.arange(present.size, dtype=np.intp)
            classes = (present + lo).astype(y.dtype)
            return classes, lookup[shifted]
        classes, codes = np.unique(y, return_inverse=True)
        return classes, codes.astype(np.intp, copy=False).ravel()
    check_classification_targets(y)
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.astype(np.intp, copy=False).ravel()
