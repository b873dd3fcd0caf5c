"""LightGBM for the "boosting" family: its JSON model dump as the boosting family's node arrays.

``Booster.dump_model()`` is LightGBM's non-executable description of its trees. Each
numerical split sends ``x <= threshold`` left; a missing value goes the way LightGBM's
``NumericalDecision`` sends it: ``default_left`` when the split learned a direction for
NaN (``missing_type`` NaN), else as the value 0.0 (``missing_type`` None). Leaf values
already hold the initial score, so the baseline is zero; node cover is LightGBM's own
``internal_count``/``leaf_count``, which its ``pred_contrib`` weighs by too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._trees import Nodes


def build_lightgbm(params: dict[str, Any], *, random_state: int, n_jobs: int) -> Any:
    """An unfitted ``LGBMClassifier`` (silent; ``n_jobs`` threads)."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**params, random_state=random_state, n_jobs=n_jobs, verbose=-1)


def is_lightgbm(fitted: Any) -> bool:
    """Whether ``fitted`` is a fitted ``LGBMClassifier``."""
    return type(fitted).__name__ == "LGBMClassifier"


def export_lightgbm(fitted: Any) -> tuple[list[dict[str, NDArray[Any]]], int]:
    """Per-tree node arrays (local ids, -1 at leaves) and the trees per iteration."""
    dump = fitted.booster_.dump_model()
    per_iteration = int(dump["num_tree_per_iteration"])
    trees = [_tree(info["tree_structure"]) for info in dump["tree_info"]]
    if len(trees) % per_iteration:
        raise ValueError("The LightGBM model's tree count is not whole iterations.")
    return trees, per_iteration


def _tree(root: dict[str, Any]) -> dict[str, NDArray[Any]]:
    """One tree's nodes in pre-order (a child after its parent, as the traversal needs)."""
    rows: list[dict[str, Any]] = []

    def visit(node: dict[str, Any]) -> int:
        me = len(rows)
        if "leaf_value" in node:
            rows.append(
                {
                    "left": -1,
                    "right": -1,
                    "feature": 0,
                    "threshold": 0.0,
                    "missing_left": False,
                    "value": float(node["leaf_value"]),
                    "cover": float(node.get("leaf_count", 0)),
                }
            )
            return me
        if node.get("decision_type") != "<=":
            raise ValueError(
                "A LightGBM model with categorical splits cannot be stored; one-hot encode "
                "the categories (polyclass's preprocessing does)."
            )
        missing = node.get("missing_type")
        if missing not in ("None", "NaN"):
            raise ValueError(f"LightGBM's missing type {missing!r} cannot be stored.")
        threshold = float(node["threshold"])
        row = {
            "feature": int(node["split_feature"]),
            "threshold": threshold,
            # NaN: the learned direction; otherwise LightGBM reads NaN as 0.0
            "missing_left": bool(node["default_left"]) if missing == "NaN" else 0.0 <= threshold,
            "value": 0.0,
            "cover": float(node["internal_count"]),
        }
        rows.append(row)
        row["left"] = visit(node["left_child"])
        row["right"] = visit(node["right_child"])
        return me

    visit(root)
    if len(rows) == 1 and rows[0]["cover"] == 0:
        rows[0]["cover"] = 1.0  # a one-leaf tree: its leaf is all of its cover
    return {
        "left": np.array([r["left"] for r in rows], dtype=np.int64),
        "right": np.array([r["right"] for r in rows], dtype=np.int64),
        "feature": np.array([r["feature"] for r in rows], dtype=np.int64),
        "threshold": np.array([r["threshold"] for r in rows], dtype=np.float64),
        "missing_left": np.array([r["missing_left"] for r in rows], dtype=bool),
        "value": np.array([r["value"] for r in rows], dtype=np.float64),
        "cover": np.array([r["cover"] for r in rows], dtype=np.float64),
    }


__all__ = ["Nodes", "build_lightgbm", "export_lightgbm", "is_lightgbm"]
