"""Exact per-prediction contributions of tree ensembles (path-dependent TreeSHAP).

The value of a set ``S`` of known features is the tree's expected output when the
features outside ``S`` are integrated out along the training cover (the fraction of
training rows each child received), as Lundberg et al.'s TreeSHAP and LightGBM's
``pred_contrib`` define it. A tree's output is a sum over its leaves, and for one leaf
the game is a product: with ``U`` the distinct features split on along its path,
``z_i`` the cover fraction of the path's steps on feature ``i`` and ``o_i`` whether
the row takes all of them, ``g(S) = value * prod_{i in S} o_i * prod_{i not in S} z_i``.
Its Shapley values are ``value * (o_j - z_j) * sum_k w(k, |U|) e_k``, where ``e_k`` is
the ``t^k`` coefficient of ``prod_{i != j} (z_i + o_i t)`` and ``w`` the Shapley weights;
leaves are grouped by ``|U|`` and computed for many rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
from numpy.typing import NDArray

from polyclass.families._trees import Nodes

#: Rows whose node decisions are held at once.
_BLOCK_ROWS = 256


@dataclass(frozen=True)
class _LeafGroup:
    """The leaves of one path length ``d`` (distinct features), as padded arrays."""

    leaf: NDArray[np.int64]  # (L,) node ids
    output: NDArray[np.int64]  # (L,) the output each leaf's tree adds to
    feature: NDArray[np.int64]  # (L, d) the distinct features on the path
    zero: NDArray[np.float64]  # (L, d) their cover fractions
    step_node: NDArray[np.int64]  # (L, s) the path's split nodes (padded with node 0)
    step_left: NDArray[np.bool_]  # (L, s) whether the path goes left there
    step_slot: NDArray[np.int64]  # (L, s) the distinct feature each step is on
    step_valid: NDArray[np.bool_]  # (L, s)


class TreeExplainer:
    """Exact contributions of an ensemble whose tree ``t`` adds its leaf values to
    output ``tree_output[t]``.

    Parameters
    ----------
    nodes : Nodes
    value : ndarray of shape (n_nodes,)
        Each leaf's value.
    cover : ndarray of shape (n_nodes,)
        Training rows (or weight) reaching each node; a split's children sum to it.
    tree_output : ndarray of int, shape (n_trees,)
    n_outputs : int
    """

    def __init__(
        self,
        nodes: Nodes,
        value: NDArray[np.float64],
        cover: NDArray[np.float64],
        tree_output: NDArray[np.int64],
        n_outputs: int,
    ) -> None:
        self.nodes = nodes
        self.n_outputs = n_outputs
        parent, went_left, tree_of = _parents(nodes)
        leaves = np.flatnonzero(nodes.left < 0)
        root_cover = cover[nodes.roots[tree_of[leaves]]]
        fraction = np.divide(
            cover[leaves], root_cover, out=np.zeros(len(leaves)), where=root_cover > 0
        )
        self.expected = np.zeros(n_outputs)
        np.add.at(self.expected, tree_output[tree_of[leaves]], value[leaves] * fraction)
        self.groups = _groups(nodes, value, cover, parent, went_left, tree_of, tree_output)
        self.leaf_value = value

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shape (n_rows, n_outputs, n_features + 1): each feature's share, then the
        expected output; a row's entries sum to its summed leaf values."""
        n_features = X.shape[1]
        out = np.zeros((X.shape[0], self.n_outputs, n_features + 1))
        out[:, :, -1] = self.expected
        for start in range(0, X.shape[0], _BLOCK_ROWS):
            block = X[start : start + _BLOCK_ROWS]
            flat = out[start : start + _BLOCK_ROWS].reshape(len(block), -1)
            go_left = self._decisions(block)
            for group in self.groups:
                phi = _shapley(group, go_left, self.leaf_value[group.leaf])  # (n, L, d)
                index = group.output[:, None] * (n_features + 1) + group.feature
                # a view: column sums of repeated (output, feature) pairs land in ``out``
                np.add.at(flat.T, index.reshape(-1), phi.reshape(len(block), -1).T)
        return out

    def _decisions(self, X: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether each row goes left at each node (the traversal's rule)."""
        n = self.nodes
        x = X[:, n.feature]
        return np.where(np.isnan(x), n.missing_left[None, :], x <= n.threshold[None, :])


def _parents(
    nodes: Nodes,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64]]:
    """Each node's parent (-1 at a root), whether it is its parent's left child, its tree."""
    n = len(nodes.left)
    parent = np.full(n, -1, dtype=np.int64)
    went_left = np.zeros(n, dtype=bool)
    split = np.flatnonzero(nodes.left >= 0)
    parent[nodes.left[split]] = split
    parent[nodes.right[split]] = split
    went_left[nodes.left[split]] = True
    tree_of = np.zeros(n, dtype=np.int64)
    tree_of[nodes.roots] = np.arange(len(nodes.roots))
    for node in range(n):  # children follow their parent, so one pass suffices
        if parent[node] >= 0:
            tree_of[node] = tree_of[parent[node]]
    return parent, went_left, tree_of


_Path = tuple[int, list[int], list[float], list[tuple[int, bool, int]]]


def _groups(
    nodes: Nodes,
    value: NDArray[np.float64],
    cover: NDArray[np.float64],
    parent: NDArray[np.int64],
    went_left: NDArray[np.bool_],
    tree_of: NDArray[np.int64],
    tree_output: NDArray[np.int64],
) -> list[_LeafGroup]:
    """Every leaf's path, merged per distinct feature, grouped by its count of features."""
    by_length: dict[int, list[_Path]] = {}
    for leaf in np.flatnonzero(nodes.left < 0).tolist():
        path = _path(nodes, cover, parent, went_left, leaf)
        if path[1]:  # a tree that is a single leaf only shifts the expected value
            by_length.setdefault(len(path[1]), []).append(path)
    return [_group(members, tree_of, tree_output) for _, members in sorted(by_length.items())]


def _path(
    nodes: Nodes,
    cover: NDArray[np.float64],
    parent: NDArray[np.int64],
    went_left: NDArray[np.bool_],
    leaf: int,
) -> _Path:
    """A leaf's distinct features, their cover fractions, and its steps from the leaf up."""
    features: list[int] = []
    zero: list[float] = []
    steps: list[tuple[int, bool, int]] = []
    child = leaf
    while parent[child] >= 0:
        node = int(parent[child])
        f = int(nodes.feature[node])
        if f not in features:
            features.append(f)
            zero.append(1.0)
        slot = features.index(f)
        zero[slot] *= float(cover[child] / cover[node]) if cover[node] > 0 else 0.0
        steps.append((node, bool(went_left[child]), slot))
        child = node
    return leaf, features, zero, steps


def _group(
    members: list[_Path], tree_of: NDArray[np.int64], tree_output: NDArray[np.int64]
) -> _LeafGroup:
    """Paths of one length as arrays, steps padded (``step_valid`` False) to the longest."""
    width = max(len(m[3]) for m in members)
    node = np.zeros((len(members), width), dtype=np.int64)
    left = np.ones((len(members), width), dtype=np.bool_)
    slot = np.zeros((len(members), width), dtype=np.int64)
    valid = np.zeros((len(members), width), dtype=np.bool_)
    for i, (_, _, _, steps) in enumerate(members):
        for j, (n, goes_left, s) in enumerate(steps):
            node[i, j], left[i, j], slot[i, j], valid[i, j] = n, goes_left, s, True
    leaves = np.array([m[0] for m in members], dtype=np.int64)
    return _LeafGroup(
        leaf=leaves,
        output=tree_output[tree_of[leaves]].astype(np.int64),
        feature=np.array([m[1] for m in members], dtype=np.int64),
        zero=np.array([m[2] for m in members], dtype=np.float64),
        step_node=node,
        step_left=left,
        step_slot=slot,
        step_valid=valid,
    )


def _shapley(
    group: _LeafGroup, go_left: NDArray[np.bool_], leaf_value: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each leaf's Shapley values per row and distinct feature, shape (n, L, d)."""
    n_rows = go_left.shape[0]
    n_leaves, d = group.feature.shape
    leaves = np.arange(n_leaves)
    one = np.ones((n_rows, n_leaves, d), dtype=bool)
    for s in range(group.step_node.shape[1]):
        takes = go_left[:, group.step_node[:, s]] == group.step_left[:, s]
        takes |= ~group.step_valid[:, s]
        one[:, leaves, group.step_slot[:, s]] &= takes
    o = one.astype(np.float64)
    z = np.broadcast_to(group.zero, o.shape)
    # coefficients of prod_i (z_i + o_i t), lowest power first
    poly = np.zeros((n_rows, n_leaves, d + 1))
    poly[..., 0] = 1.0
    for i in range(d):
        poly[..., 1 : i + 2] = poly[..., 1 : i + 2] * z[..., i : i + 1] + (
            poly[..., : i + 1] * o[..., i : i + 1]
        )
        poly[..., 0] *= z[..., i]
    weights = np.array([factorial(k) * factorial(d - 1 - k) / factorial(d) for k in range(d)])
    phi = np.empty((n_rows, n_leaves, d))
    for j in range(d):
        zj, oj = z[..., j], one[..., j]
        # divide out (z_j + o_j t): by z_j when o_j = 0, synthetically by (t + z_j) when 1
        quotient = np.empty((n_rows, n_leaves, d))
        quotient[..., d - 1] = poly[..., d]
        for k in range(d - 1, 0, -1):
            quotient[..., k - 1] = poly[..., k] - zj * quotient[..., k]
        safe_z = np.where(zj > 0, zj, 1.0)
        without = np.where(oj[..., None], quotient, poly[..., :d] / safe_z[..., None])
        phi[..., j] = (without @ weights) * (o[..., j] - zj)
    phi *= leaf_value[None, :, None]
    return phi
