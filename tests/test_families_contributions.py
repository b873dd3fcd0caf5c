"""Exact per-prediction contributions of gradient boosting: TreeSHAP over the stored tree
arrays equals a brute-force Shapley computation, and the contributions sum to the raw score."""

from __future__ import annotations

import io
import json
from itertools import combinations
from math import factorial
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from polyclass.families import get_family


def _predictor(n_classes: int, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
    family = get_family("boosting")
    with threadpool_limits(1):
        fitted = family.build(params, random_state=0).fit(X, y)
    meta, arrays = family.export(fitted)
    read = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        buffer.seek(0)
        read[name] = np.load(buffer, allow_pickle=False)
    return fitted, family.predictor(json.loads(json.dumps(meta)), read)


def _expected(p: Any, tree: int, x: NDArray[np.float64], known: set[int]) -> float:
    """A tree's output with the features outside ``known`` integrated out along the cover
    (Lundberg et al.'s EXPVALUE), written independently of the TreeSHAP code."""
    n = p.nodes

    def walk(node: int) -> float:
        if n.left[node] < 0:
            return float(p.value[node])
        f = int(n.feature[node])
        if f in known:
            v = x[f]
            left = bool(n.missing_left[node]) if np.isnan(v) else bool(v <= n.threshold[node])
            return walk(int(n.left[node] if left else n.right[node]))
        lc, rc = int(n.left[node]), int(n.right[node])
        return (p.cover[lc] * walk(lc) + p.cover[rc] * walk(rc)) / p.cover[node]

    return walk(int(n.roots[tree]))


def _brute_force(p: Any, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shapley values by enumerating every subset of features, per output."""
    k = len(p.baseline)
    m = p.n_features
    out = np.zeros((k, m + 1))
    for tree in range(len(p.nodes.roots)):
        for j in range(m):
            others = [f for f in range(m) if f != j]
            for size in range(m):
                weight = factorial(size) * factorial(m - size - 1) / factorial(m)
                for subset in combinations(others, size):
                    s = set(subset)
                    gain = _expected(p, tree, x, s | {j}) - _expected(p, tree, x, s)
                    out[tree % k, j] += weight * gain
        out[tree % k, m] += _expected(p, tree, x, set())
    out[:, m] += p.baseline
    return out


@pytest.mark.parametrize("n_classes", [2, 3])
def test_treeshap_equals_brute_force_shapley(n_classes: int) -> None:
    X, y = make_classification(
        n_samples=300,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=1,
    )
    X[::11, 2] = np.nan  # missing values follow each split's learned direction
    _, p = _predictor(n_classes, X, y, max_iter=3, max_leaf_nodes=8, min_samples_leaf=5)
    rows = np.vstack([X[:4], np.full((1, 5), np.nan)])
    got = p.contributions(rows)
    for i, x in enumerate(rows):
        np.testing.assert_allclose(got[i], _brute_force(p, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_contributions_sum_to_the_fitted_raw_scores(n_classes: int) -> None:
    X, y = make_classification(
        n_samples=600, n_features=8, n_informative=5, n_classes=n_classes, random_state=0
    )
    fitted, p = _predictor(n_classes, X, y, max_iter=30)
    parts = p.contributions(X[:100])
    raw = fitted.decision_function(X[:100]).reshape(100, -1)
    assert parts.shape == (100, 1 if n_classes == 2 else n_classes, 9)
    np.testing.assert_allclose(parts.sum(axis=2), raw, rtol=0, atol=1e-10)
    # the last column is the same expected score for every row
    np.testing.assert_array_equal(parts[:, :, -1], np.broadcast_to(parts[0, :, -1], raw.shape))


def test_a_model_stored_without_cover_refuses_contributions() -> None:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    family = get_family("boosting")
    with threadpool_limits(1):
        fitted = family.build({"max_iter": 5}, random_state=0).fit(X, y)
    meta, arrays = family.export(fitted)
    old = family.predictor(meta, {k: v for k, v in arrays.items() if k != "cover"})
    np.testing.assert_array_equal(old.predict_proba(X), fitted.predict_proba(X))
    with pytest.raises(ValueError, match="stored without its trees' cover"):
        old.contributions(X[:2])
