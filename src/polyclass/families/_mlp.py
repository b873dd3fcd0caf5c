"""The "mlp" family: scikit-learn's multi-layer perceptron, stored as its weight matrices."""

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
    expit,
    plain_classes,
    softmax_rows,
    stored_array,
    stored_classes,
    stored_int,
)

FORMAT = "polyclass.families.mlp"
VERSION = 1
ACTIVATIONS = ("relu", "tanh", "identity", "logistic")


class MLPFamily(Family):
    """A feed-forward network (``MLPClassifier``); the predictor is its NumPy forward pass."""

    name = "mlp"
    # a batch's matrix products are too small for a second BLAS thread to pay
    blas_threads = False

    def candidates(self, n_rows: int, n_features: int, n_classes: int) -> list[dict[str, Any]]:
        # a small table fits in one batch: L-BFGS converges in a few dozen full-batch
        # steps where Adam takes hundreds of epochs; a big one gets Adam with early
        # stopping on a held-out 10%
        common: dict[str, Any] = (
            {"max_iter": 300, "early_stopping": True}
            if n_rows >= 5_000
            else {"max_iter": 300, "solver": "lbfgs"}
        )
        if n_rows >= 20_000:
            # batches of 200 spend most of an epoch in Python between tiny products:
            # larger batches at a larger rate fit as well in fewer seconds
            common.update(batch_size=1000, learning_rate_init=3e-3)
        return [
            {"hidden_layer_sizes": (64,), "alpha": 1e-4, **common},
            {"hidden_layer_sizes": (64,), "alpha": 1e-2, **common},
        ]

    def build_estimator(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        self.require()
        from sklearn.neural_network import MLPClassifier

        params = dict(params)
        if "hidden_layer_sizes" in params:
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        return MLPClassifier(**params, random_state=random_state)

    def export_estimator(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        if fitted.out_activation_ not in ("softmax", "logistic") or len(fitted.classes_) < 2:
            raise ValueError("Only a single-label MLPClassifier can be stored.")
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "n_features_in": int(fitted.n_features_in_),
            "n_layers": len(fitted.coefs_),
            "activation": fitted.activation,
        }
        arrays: dict[str, NDArray[Any]] = {"classes": plain_classes(fitted.classes_)}
        for i, (w, b) in enumerate(zip(fitted.coefs_, fitted.intercepts_, strict=True)):
            arrays[f"coef.{i}"] = np.asarray(w, np.float64)
            arrays[f"intercept.{i}"] = np.asarray(b, np.float64)
        return meta, arrays

    def stored_predictor(
        self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
    ) -> MLPPredictor:
        check_header(meta, FORMAT, VERSION)
        n_features = stored_int(meta, "n_features_in", 1)
        n_layers = stored_int(meta, "n_layers", 1)
        activation = meta.get("activation")
        if activation not in ACTIVATIONS:
            raise ValueError(f"the stored activation {activation!r} is not one of {ACTIVATIONS}")
        classes = stored_classes(arrays)
        width = n_features
        layers = []
        for i in range(n_layers):
            w = stored_array(arrays, f"coef.{i}", "f", 2)
            b = stored_array(arrays, f"intercept.{i}", "f", 1)
            if w.shape[0] != width or b.shape != (w.shape[1],):
                raise ValueError(
                    f"the stored layer {i} has weights {w.shape} and biases {b.shape}; its "
                    f"input has {width} units"
                )
            layers.append((w, b))
            width = w.shape[1]
        if width != (1 if len(classes) == 2 else len(classes)):
            raise ValueError(f"the stored network has {width} outputs for {len(classes)} classes")
        predictor = MLPPredictor(layers, str(activation), classes, n_features)
        predictor.keep(meta, arrays)
        return predictor


class MLPPredictor(StoredPredictor):
    """A stored network's forward pass, step for step as ``MLPClassifier`` computes it."""

    def __init__(
        self,
        layers: list[tuple[NDArray[np.float64], NDArray[np.float64]]],
        activation: str,
        classes: NDArray[Any],
        n_features: int,
    ) -> None:
        self.layers = layers
        self.activation = activation
        self.classes = classes
        self.n_features = n_features

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes``."""
        a = dense(X, self.n_features)
        for i, (w, b) in enumerate(self.layers):
            a = a @ w
            a += b
            if i < len(self.layers) - 1:
                a = _hidden(a, self.activation)
        if a.shape[1] > 1:
            return softmax_rows(a)
        p = expit(a.ravel())
        return np.vstack([1 - p, p]).T

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The most probable class of each row."""
        return np.asarray(self.classes[np.argmax(self.predict_proba(X), axis=1)])


def _hidden(a: NDArray[np.float64], activation: str) -> NDArray[np.float64]:
    if activation == "relu":
        return np.maximum(a, 0, out=a)
    if activation == "tanh":
        return np.tanh(a, out=a)
    if activation == "logistic":
        return expit(a)
    return a
