"""The "forest" family: random forests and extra trees, stored as their trees' node arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._family import (
    Family,
    StoredPredictor,
    check_header,
    dense,
    plain_classes,
    stored_array,
    stored_classes,
    stored_int,
)
from polyclass.families._trees import Nodes

FORMAT = "polyclass.families.forest"
VERSION = 1


class ForestFamily(Family):
    """Random forests (``kind='random'``) and extra trees (``kind='extra'``).

    The predictor averages each tree's leaf class fractions in tree order, as
    scikit-learn does, on inputs rounded to float32 as scikit-learn's trees read them;
    its probabilities are bitwise the fitted forest's.
    """

    name = "forest"

    def candidates(self, n_rows: int, n_features: int, n_classes: int) -> list[dict[str, Any]]:
        trees = 100 if n_rows <= 50_000 else 50
        # bootstrap samples of at most 50k rows keep a big table's trees shallow and fast
        sample = None if n_rows <= 50_000 else 50_000 / n_rows
        return [
            {"kind": "random", "n_estimators": trees, "min_samples_leaf": 1, "max_samples": sample},
            {"kind": "extra", "n_estimators": trees, "min_samples_leaf": 1},
        ]

    def build_estimator(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        self.require()
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        params = dict(params)
        kind = params.pop("kind", "random")
        if kind not in ("random", "extra"):
            raise ValueError(f"The forest kind must be 'random' or 'extra'. Got {kind!r} instead.")
        cls = RandomForestClassifier if kind == "random" else ExtraTreesClassifier
        return cls(**params, random_state=random_state, n_jobs=n_jobs)

    def export_estimator(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        if getattr(fitted, "n_outputs_", 1) != 1:
            raise ValueError("A forest with several outputs cannot be stored; fit one target.")
        trees = []
        for tree in fitted.estimators_:
            t = tree.tree_
            trees.append(
                {
                    "left": t.children_left,
                    "right": t.children_right,
                    "feature": t.feature,
                    "threshold": t.threshold,
                    "missing_left": np.asarray(t.missing_go_to_left, dtype=bool),
                }
            )
        nodes = Nodes.concatenate(trees)
        value = np.concatenate([t.tree_.value[:, 0, :] for t in fitted.estimators_])
        meta = {"format": FORMAT, "version": VERSION, "n_features_in": int(fitted.n_features_in_)}
        arrays = {
            **nodes.to_arrays(),
            "value": np.ascontiguousarray(value, dtype=np.float64),
            "classes": plain_classes(fitted.classes_),
        }
        return meta, arrays

    def stored_predictor(
        self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
    ) -> ForestPredictor:
        check_header(meta, FORMAT, VERSION)
        n_features = stored_int(meta, "n_features_in", 1)
        nodes = Nodes.from_arrays(arrays, n_features)
        classes = stored_classes(arrays)
        value = stored_array(arrays, "value", "f", 2)
        if value.shape != (len(nodes.left), len(classes)):
            raise ValueError(
                f"the stored 'value' array has shape {value.shape}; expected "
                f"({len(nodes.left)}, {len(classes)}), one row of class weights per node"
            )
        predictor = ForestPredictor(nodes, value, classes, n_features)
        predictor.keep(meta, arrays)
        return predictor


class ForestPredictor(StoredPredictor):
    """A stored forest's probabilities: the mean of its trees' leaf class fractions."""

    def __init__(
        self, nodes: Nodes, value: NDArray[np.float64], classes: NDArray[Any], n_features: int
    ) -> None:
        normalizer = value.sum(axis=1)[:, None]
        normalizer[normalizer == 0.0] = 1.0
        self.nodes = nodes
        self.fractions = value / normalizer  # each tree's predict_proba at its leaves
        self.classes = classes
        self.n_features = n_features

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes``."""
        x32 = (
            dense(X, self.n_features).astype(np.float32).astype(np.float64)
        )  # what sklearn's trees read
        leaves = self.nodes.apply(x32)
        proba = np.zeros((x32.shape[0], len(self.classes)), dtype=np.float64)
        for j in range(leaves.shape[1]):
            proba += self.fractions[leaves[:, j]]
        proba /= leaves.shape[1]
        return proba

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The most probable class of each row (the first on a tie, as scikit-learn)."""
        return np.asarray(self.classes[np.argmax(self.predict_proba(X), axis=1)])
