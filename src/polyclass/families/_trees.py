"""Tree ensembles as flat node arrays, and their vectorised NumPy traversal.

Every tree of an ensemble is stored in one set of node arrays (global node ids, a
root per tree); a node is a leaf when its ``left`` child is -1. The traversal moves
all (row, tree) pairs one level down per step, the rule of scikit-learn's trees:
a missing value goes where ``missing_left`` says, else ``x <= threshold`` goes left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._family import stored_array

#: Rows traversed at once: bounds the (rows x trees) index arrays to a few megabytes.
_BLOCK_PAIRS = 1 << 18

NODE_ARRAYS = ("left", "right", "feature", "threshold", "missing_left", "roots")


@dataclass(frozen=True)
class Nodes:
    """The nodes of every tree of an ensemble (see the module docstring)."""

    left: NDArray[np.int64]
    right: NDArray[np.int64]
    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    missing_left: NDArray[np.bool_]
    roots: NDArray[np.int64]

    @classmethod
    def concatenate(cls, trees: list[dict[str, NDArray[Any]]]) -> Nodes:
        """One node set from per-tree arrays with local child ids (-1 for leaves)."""
        offsets = np.cumsum([0] + [len(t["left"]) for t in trees[:-1]]).astype(np.int64)

        def shifted(key: str, offset: int, t: dict[str, NDArray[Any]]) -> NDArray[np.int64]:
            child = np.asarray(t[key], dtype=np.int64)
            return np.where(child >= 0, child + offset, -1)

        pairs = list(zip(offsets.tolist(), trees, strict=True))
        return cls(
            left=np.concatenate([shifted("left", o, t) for o, t in pairs]),
            right=np.concatenate([shifted("right", o, t) for o, t in pairs]),
            feature=np.concatenate([np.asarray(t["feature"], np.int64) for t in trees]),
            threshold=np.concatenate([np.asarray(t["threshold"], np.float64) for t in trees]),
            missing_left=np.concatenate([np.asarray(t["missing_left"], bool) for t in trees]),
            roots=offsets,
        )

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The node arrays by name, for an artifact."""
        return {name: getattr(self, name) for name in NODE_ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]], n_features: int) -> Nodes:
        """Node arrays read back, checked so that every traversal ends inside the arrays.

        Children have larger ids than their parent (as scikit-learn numbers them), so a
        stored cycle is impossible; feature ids are below ``n_features``.
        """
        left = stored_array(arrays, "left", "i", 1).astype(np.int64)
        right = stored_array(arrays, "right", "i", 1).astype(np.int64)
        feature = stored_array(arrays, "feature", "i", 1).astype(np.int64)
        threshold = stored_array(arrays, "threshold", "f", 1, infinite=True).astype(np.float64)
        missing_left = stored_array(arrays, "missing_left", "b", 1)
        roots = stored_array(arrays, "roots", "i", 1).astype(np.int64)
        n = len(left)
        if not all(len(a) == n for a in (right, feature, threshold, missing_left)):
            raise ValueError("the stored node arrays differ in length")
        ids = np.arange(n)
        split = left >= 0
        if np.any(split != (right >= 0)):
            raise ValueError("a stored node has one child; a split needs two")
        if np.any((left[split] <= ids[split]) | (right[split] <= ids[split])):
            raise ValueError("a stored node's child does not follow it; the trees are corrupt")
        if np.any((left >= n) | (right >= n)):
            raise ValueError("a stored node's child is beyond the last node")
        if np.any(split & ((feature < 0) | (feature >= n_features))):
            raise ValueError(f"a stored split uses a feature outside 0..{n_features - 1}")
        if len(roots) == 0 or np.any((roots < 0) | (roots >= n)):
            raise ValueError("the stored tree roots are missing or beyond the last node")
        return cls(left, right, feature, threshold, missing_left, roots)

    def apply(self, X: NDArray[np.float64]) -> NDArray[np.int64]:
        """The leaf each row reaches in each tree, shape (n_rows, n_trees)."""
        n_trees = len(self.roots)
        step = max(1, _BLOCK_PAIRS // n_trees)
        out = np.empty((X.shape[0], n_trees), dtype=np.int64)
        for start in range(0, X.shape[0], step):
            out[start : start + step] = self._apply_block(X[start : start + step])
        return out

    def _apply_block(self, X: NDArray[np.float64]) -> NDArray[np.int64]:
        node = np.repeat(self.roots[None, :], X.shape[0], axis=0)
        rows = np.repeat(np.arange(X.shape[0])[:, None], len(self.roots), axis=1)
        at = np.flatnonzero(self.left[node] >= 0)  # flat (row, tree) pairs still splitting
        flat_node = node.reshape(-1)
        flat_rows = rows.reshape(-1)
        while at.size:
            current = flat_node[at]
            x = X[flat_rows[at], self.feature[current]]
            go_left = np.where(
                np.isnan(x), self.missing_left[current], x <= self.threshold[current]
            )
            nxt = np.where(go_left, self.left[current], self.right[current])
            flat_node[at] = nxt
            at = at[self.left[nxt] >= 0]
        return node
