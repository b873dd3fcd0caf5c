"""Tree ensembles as one ``ai.onnx.ml`` ``TreeEnsemble`` node (operator set 5, float64).

polyclass stores every tree of an ensemble in shared node arrays (``left`` -1 marks a
leaf; ``x <= threshold`` goes left; a missing value goes where ``missing_left`` says).
The operator wants split nodes and leaves in separate lists, one target per leaf, so a
tree whose leaves carry several values (a forest's class fractions) is written once per
target, each copy carrying that target's values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.export._graph import ML_DOMAIN, Graph

_BRANCH_LEQ = 0
_SUM = 1


def tree_ensemble(
    g: Graph,
    x: str,
    arrays: dict[str, NDArray[Any]],
    leaf_values: NDArray[np.float64],
    tree_targets: list[list[int]],
) -> str:
    """The ensemble's per-target sums, shape (N, n_targets), float64.

    ``leaf_values[node, t]`` is what ``node`` (a leaf) adds to the ``t``-th target of
    ``tree_targets[tree]``; a tree is written once per target it feeds.
    """
    left = np.asarray(arrays["left"], np.int64)
    roots = np.asarray(arrays["roots"], np.int64)
    ends = np.append(roots[1:], len(left))
    split: dict[str, list[Any]] = {k: [] for k in ("feature", "split", "missing", "true", "false")}
    split.update(true_leaf=[], false_leaf=[])
    leaf_target: list[int] = []
    leaf_weight: list[float] = []
    tree_roots: list[int] = []
    for tree, (start, end) in enumerate(zip(roots.tolist(), ends.tolist(), strict=True)):
        for column, target in enumerate(tree_targets[tree]):
            node_id: dict[int, int] = {}
            leaf_id: dict[int, int] = {}
            for node in range(start, end):  # number this copy's split nodes and leaves
                if left[node] >= 0:
                    node_id[node] = len(split["feature"]) + len(node_id)
                else:
                    leaf_id[node] = len(leaf_target) + len(leaf_id)
            for node in range(start, end):
                if node in leaf_id:
                    leaf_target.append(target)
                    leaf_weight.append(float(leaf_values[node, column]))
            tree_roots.append(_add_splits(split, arrays, node_id, leaf_id, start, end))
    return _node(g, x, split, leaf_target, leaf_weight, tree_roots)


def _add_splits(
    split: dict[str, list[Any]],
    arrays: dict[str, NDArray[Any]],
    node_id: dict[int, int],
    leaf_id: dict[int, int],
    start: int,
    end: int,
) -> int:
    """Append one tree copy's split nodes; returns its root's index."""
    left, right = arrays["left"], arrays["right"]
    if not node_id:  # a tree that is one leaf: a split whose two branches reach it
        root = len(split["feature"])
        split["feature"].append(0)
        split["split"].append(0.0)
        split["missing"].append(0)
        for side in ("true", "false"):
            split[side].append(leaf_id[start])
            split[f"{side}_leaf"].append(1)
        return root
    for node in range(start, end):
        if node not in node_id:
            continue
        split["feature"].append(int(arrays["feature"][node]))
        split["split"].append(float(arrays["threshold"][node]))
        split["missing"].append(int(bool(arrays["missing_left"][node])))
        for side, child in (("true", int(left[node])), ("false", int(right[node]))):
            is_leaf = child in leaf_id
            split[side].append(leaf_id[child] if is_leaf else node_id[child])
            split[f"{side}_leaf"].append(int(is_leaf))
    return node_id[start]


def _node(
    g: Graph,
    x: str,
    split: dict[str, list[Any]],
    leaf_target: list[int],
    leaf_weight: list[float],
    tree_roots: list[int],
) -> str:
    helper = g.onnx.helper
    n_targets = max(leaf_target) + 1
    return g.op(
        "TreeEnsemble",
        x,
        domain=ML_DOMAIN,
        hint="trees",
        aggregate_function=_SUM,
        post_transform=0,
        n_targets=n_targets,
        tree_roots=tree_roots,
        nodes_featureids=split["feature"],
        nodes_splits=helper.make_tensor(
            "splits", g.onnx.TensorProto.DOUBLE, [len(split["split"])], split["split"]
        ),
        nodes_modes=helper.make_tensor(
            "modes",
            g.onnx.TensorProto.UINT8,
            [len(split["split"])],
            [_BRANCH_LEQ] * len(split["split"]),
        ),
        nodes_missing_value_tracks_true=split["missing"],
        nodes_truenodeids=split["true"],
        nodes_trueleafs=split["true_leaf"],
        nodes_falsenodeids=split["false"],
        nodes_falseleafs=split["false_leaf"],
        leaf_targetids=leaf_target,
        leaf_weights=helper.make_tensor(
            "weights", g.onnx.TensorProto.DOUBLE, [len(leaf_weight)], leaf_weight
        ),
    )
