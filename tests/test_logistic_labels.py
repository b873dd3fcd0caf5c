"""encode_labels agrees with np.unique and keeps scikit-learn's target check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from polyclass.linear._labels import encode_labels


@pytest.mark.parametrize(
    "y",
    [
        np.array([3, 1, 1, 7, -2], dtype=np.int8),
        np.array([True, False, True]),
        np.array([5, 5, 9], dtype=np.uint64),
        np.array([0, 2**40, 5]),
        np.array([2**63 - 1, 2**63 - 2], dtype=np.int64),
        np.array(["b", "a", "b"]),
        np.array([1.0, 2.0, 1.0]),
    ],
)
def test_encode_labels_matches_unique(y: Any) -> None:
    classes, codes = encode_labels(y)
    expected, inverse = np.unique(y, return_inverse=True)
    assert classes.dtype == expected.dtype
    np.testing.assert_array_equal(classes, expected)
    np.testing.assert_array_equal(codes, inverse.ravel())
    assert codes.dtype == np.intp


def test_encode_labels_rejects_continuous_targets() -> None:
    with pytest.raises(ValueError, match="continuous"):
        encode_labels(np.array([0.5, 1.2, 0.7]))
