"""The "boosting" family: LightGBM or scikit-learn's histogram boosting, stored as node arrays.

LightGBM (the extra ``boosting``) when installed, else scikit-learn's
``HistGradientBoostingClassifier``, which needs no extra library. With one-hot encoded
inputs both make only numerical splits on raw float64 values, so a stored model of
either is its node arrays, leaf values, node cover and baseline (``_lightgbm.py``
reads LightGBM's JSON dump).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._family import (
    Family,
    StoredPredictor,
    check_header,
    dense,
    expit,
    plain_classes,
    softmax_rows,
    stored_array,
    stored_classes,
    stored_int,
)
from polyclass.families._lightgbm import build_lightgbm, export_lightgbm, is_lightgbm
from polyclass.families._trees import Nodes
from polyclass.families._treeshap import TreeExplainer

FORMAT = "polyclass.families.boosting"
VERSION = 1


class BoostingFamily(Family):
    """Gradient-boosted trees (``HistGradientBoostingClassifier``).

    The predictor adds the trees' leaf values to the baseline iteration by iteration,
    in scikit-learn's order, then applies its softmax (or the logistic function for
    two classes).
    """

    name = "boosting"

    def candidates(self, n_rows: int, n_features: int, n_classes: int) -> list[dict[str, Any]]:
        # LightGBM when installed: faster to fit and to predict, the same macro-F1
        # (benchmarks/bench_boosting.py)
        rounds = 200 if n_rows > 10_000 else 100
        if importlib.util.find_spec("lightgbm") is not None:
            lgb = {"engine": "lightgbm", "learning_rate": 0.1, "n_estimators": rounds}
            # a small table gains nothing from a slower rate over twice the rounds, at
            # three times the fits' cost: fewer, larger trees instead
            larger = (
                {"learning_rate": 0.05, "n_estimators": 2 * rounds}
                if n_rows > 10_000
                else {"n_estimators": rounds // 2}
            )
            return [
                {**lgb, "num_leaves": 15, "reg_lambda": 1.0},
                {**lgb, **larger, "num_leaves": 31},
            ]
        # more rounds with early stopping on big tables, where a held-out 10% is cheap
        return [
            {
                "learning_rate": 0.1,
                "max_iter": rounds,
                "max_leaf_nodes": 15,
                "l2_regularization": 1.0,
            },
            {"learning_rate": 0.05, "max_iter": 2 * rounds, "max_leaf_nodes": 31},
        ]

    def build_estimator(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        self.require()
        params = dict(params)
        engine = params.pop("engine", "sklearn")
        if engine == "lightgbm":
            if importlib.util.find_spec("lightgbm") is None:
                raise ImportError(
                    "The 'boosting' model family's LightGBM engine needs the 'lightgbm' "
                    "package, which is not installed. Install it with: "
                    "pip install 'polyclass[boosting]' (or use engine 'sklearn')"
                )
            return build_lightgbm(params, random_state=random_state, n_jobs=n_jobs)
        if engine != "sklearn":
            raise ValueError(
                f"The boosting engine must be 'lightgbm' or 'sklearn'. Got {engine!r} instead."
            )
        from sklearn.ensemble import HistGradientBoostingClassifier

        # HistGradientBoosting uses OpenMP threads and has no n_jobs; polyclass limits
        # threads around fit (threadpoolctl) where it needs to.
        return HistGradientBoostingClassifier(
            **params, categorical_features=None, random_state=random_state
        )

    def export_estimator(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        if is_lightgbm(fitted):
            trees, per_iteration = export_lightgbm(fitted)
            return self._stored(fitted, trees, per_iteration, np.zeros(per_iteration), "lightgbm")
        trees = []
        for iteration in fitted._predictors:  # no public accessor for the fitted trees
            for predictor in iteration:
                nodes = predictor.nodes
                if np.any(nodes["is_categorical"]):
                    raise ValueError(
                        "A boosting model with categorical splits cannot be stored; "
                        "one-hot encode the categories (polyclass's preprocessing does)."
                    )
                leaf = nodes["is_leaf"].astype(bool)
                trees.append(
                    {
                        "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                        "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                        "feature": np.where(leaf, 0, nodes["feature_idx"].astype(np.int64)),
                        "threshold": nodes["num_threshold"],
                        "missing_left": nodes["missing_go_to_left"].astype(bool),
                        "value": nodes["value"],
                        "cover": nodes["count"],
                    }
                )
        baseline = np.asarray(fitted._baseline_prediction, np.float64).reshape(-1)
        return self._stored(fitted, trees, int(fitted.n_trees_per_iteration_), baseline, "sklearn")

    @staticmethod
    def _stored(
        fitted: Any,
        trees: list[dict[str, NDArray[Any]]],
        per_iteration: int,
        baseline: NDArray[np.float64],
        engine: str,
    ) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "engine": engine,
            "n_features_in": int(fitted.n_features_in_),
            "n_trees_per_iteration": per_iteration,
        }
        arrays = {
            **Nodes.concatenate(trees).to_arrays(),
            "value": np.concatenate([np.asarray(t["value"], np.float64) for t in trees]),
            # training rows per node: the weights of exact contributions (TreeSHAP)
            "cover": np.concatenate([np.asarray(t["cover"], np.float64) for t in trees]),
            "baseline": np.asarray(baseline, np.float64),
            "classes": plain_classes(fitted.classes_),
        }
        return meta, arrays

    def stored_predictor(
        self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
    ) -> BoostingPredictor:
        check_header(meta, FORMAT, VERSION)
        n_features = stored_int(meta, "n_features_in", 1)
        per_iteration = stored_int(meta, "n_trees_per_iteration", 1)
        nodes = Nodes.from_arrays(arrays, n_features)
        classes = stored_classes(arrays)
        value = stored_array(arrays, "value", "f", 1)
        baseline = stored_array(arrays, "baseline", "f", 1)
        expected = 1 if len(classes) == 2 else len(classes)
        if per_iteration != expected or baseline.shape != (expected,):
            raise ValueError(
                f"the stored model has {per_iteration} trees per iteration and a baseline of "
                f"shape {baseline.shape}; {len(classes)} classes need {expected} and ({expected},)"
            )
        if value.shape != nodes.left.shape or len(nodes.roots) % per_iteration:
            raise ValueError("the stored leaf values or tree count do not match the nodes")
        cover = None
        if "cover" in arrays:  # absent in models stored before contributions
            cover = stored_array(arrays, "cover", "f", 1)
            if cover.shape != value.shape or np.any(cover < 0):
                raise ValueError("the stored 'cover' array does not match the nodes")
        predictor = BoostingPredictor(nodes, value, baseline, classes, n_features, cover)
        predictor.keep(meta, arrays)
        return predictor


class BoostingPredictor(StoredPredictor):
    """A stored boosting model's probabilities from its trees' leaf values."""

    def __init__(
        self,
        nodes: Nodes,
        value: NDArray[np.float64],
        baseline: NDArray[np.float64],
        classes: NDArray[Any],
        n_features: int,
        cover: NDArray[np.float64] | None = None,
    ) -> None:
        self.nodes = nodes
        self.value = value
        self.baseline = baseline
        self.classes = classes
        self.n_features = n_features
        self.cover = cover
        self._explainer: TreeExplainer | None = None

    def raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The summed leaf values plus baseline, shape (n_rows, n_trees_per_iteration)."""
        X = dense(X, self.n_features)
        leaves = self.nodes.apply(X)
        k = len(self.baseline)
        raw = np.zeros((X.shape[0], k), dtype=np.float64, order="F")
        raw += self.baseline
        for j in range(leaves.shape[1]):  # tree j belongs to iteration j // k, output j % k
            raw[:, j % k] += self.value[leaves[:, j]]
        return raw

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Exact Shapley contributions of each feature to each raw score (TreeSHAP).

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)

        Returns
        -------
        ndarray of shape (n_rows, n_trees_per_iteration, n_features + 1)
            Each feature's share of the raw score, then the expected raw score over the
            training rows (the baseline plus each tree's cover-weighted mean); a row's
            entries sum to :meth:`raw`.

        Raises
        ------
        ValueError
            For a model stored without its node cover (before contributions existed).
        """
        if self.cover is None:
            raise ValueError(
                "This boosting model was stored without its trees' cover, which exact "
                "contributions need; train and save it again."
            )
        if self._explainer is None:  # built once: the paths of every leaf
            k = len(self.baseline)
            trees = np.arange(len(self.nodes.roots), dtype=np.int64)
            self._explainer = TreeExplainer(self.nodes, self.value, self.cover, trees % k, k)
        out = self._explainer.contributions(dense(X, self.n_features))
        out[:, :, -1] += self.baseline
        return out

    def decision_function(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The raw scores, 1-D for two classes, as the fitted model's ``decision_function``."""
        raw = self.raw(X)
        return raw.ravel() if raw.shape[1] == 1 else raw

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes``."""
        raw = self.raw(X)
        if raw.shape[1] > 1:
            return softmax_rows(raw)  # in the F order scikit-learn sums in
        proba = np.empty((raw.shape[0], 2), dtype=np.float64)
        proba[:, 1] = expit(raw[:, 0])
        proba[:, 0] = 1 - proba[:, 1]
        return proba

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The fitted model's labels: the largest raw score (above zero for two classes)."""
        raw = self.raw(X)
        if raw.shape[1] == 1:
            return np.asarray(self.classes[(raw[:, 0] > 0).astype(np.intp)])
        return np.asarray(self.classes[np.argmax(raw, axis=1)])
