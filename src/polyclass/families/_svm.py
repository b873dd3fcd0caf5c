"""The "svm" family: linear support vector machines, on the inputs or on Nystroem RBF features.

A linear SVM (``LinearSVC``, one-vs-rest) scores ``X @ coef.T + intercept``; the
non-linear variant first maps each row to its RBF kernel values against ``m`` sampled
rows (Nystroem's approximation: ``exp(-gamma * |x - c|^2) @ normalization.T``), then
scores those features linearly. The margins are not probabilities, so the family is
always calibrated (:mod:`polyclass.families._calibration`): sigmoid by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._family import (
    Family,
    check_header,
    dense,
    plain_classes,
    stored_array,
    stored_classes,
    stored_int,
)

FORMAT = "polyclass.families.svm"
VERSION = 1
KERNELS = ("linear", "rbf")


class SVMFamily(Family):
    """Linear SVMs (``kernel='linear'``) and RBF kernel approximations (``kernel='rbf'``).

    Parameters of :meth:`build`: ``kernel``, ``C``, and for ``rbf`` ``n_components``
    (the Nystroem sample size) and ``gamma`` (``None``: one over the number of
    features, right for polyclass's standardised inputs).
    """

    name = "svm"
    calibration = "sigmoid"
    scores_only = True

    def candidates(self, n_rows: int, n_features: int, n_classes: int) -> list[dict[str, Any]]:
        # the kernel map costs rows x components: about one per eight rows (at least
        # 100, at most half the rows), capped lower on a big table
        cap = 300 if n_rows <= 50_000 else 150
        components = max(2, min(max(100, n_rows // 8), n_rows // 2, cap))
        return [
            {"kernel": "linear", "C": 1.0},
            {"kernel": "rbf", "C": 10.0, "n_components": components, "gamma": None},
        ]

    def build_estimator(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        self.require()
        from sklearn.kernel_approximation import Nystroem
        from sklearn.pipeline import Pipeline
        from sklearn.svm import LinearSVC

        params = dict(params)
        kernel = params.pop("kernel", "linear")
        if kernel not in KERNELS:
            raise ValueError(f"The svm kernel must be one of {KERNELS}. Got {kernel!r} instead.")
        features = {k: params.pop(k) for k in ("n_components", "gamma") if k in params}
        if kernel == "linear" and features:
            raise ValueError(f"A linear svm takes no {', '.join(features)}; use kernel='rbf'.")
        # the primal solver when rows outnumber features: it converges in a few passes
        svm = LinearSVC(**params, dual="auto", max_iter=5000, random_state=random_state)
        if kernel == "linear":
            return svm
        nystroem = Nystroem(kernel="rbf", random_state=random_state, **features)
        return Pipeline([("features", nystroem), ("svm", svm)])

    def export_estimator(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        svm, nystroem = fitted, None
        if type(fitted).__name__ == "Pipeline":
            nystroem, svm = fitted.named_steps["features"], fitted.named_steps["svm"]
        if type(svm).__name__ != "LinearSVC" or svm.multi_class != "ovr":
            raise ValueError(
                "The svm family stores a one-vs-rest LinearSVC, alone or after Nystroem."
            )
        n_features = int(fitted.n_features_in_)
        meta: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "kernel": "linear",
            "n_features_in": n_features,
        }
        arrays: dict[str, NDArray[Any]] = {
            "coef": np.asarray(svm.coef_, np.float64),
            "intercept": np.asarray(svm.intercept_, np.float64).reshape(-1),
            "classes": plain_classes(fitted.classes_),
        }
        if nystroem is not None:
            if nystroem.kernel != "rbf":
                raise ValueError(f"The svm family stores RBF features; got {nystroem.kernel!r}.")
            gamma = nystroem.gamma if nystroem.gamma is not None else 1.0 / n_features
            meta.update(kernel="rbf", gamma=float(gamma))
            arrays["components"] = np.asarray(nystroem.components_, np.float64)
            arrays["normalization"] = np.asarray(nystroem.normalization_, np.float64)
        return meta, arrays

    def stored_predictor(
        self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
    ) -> SVMPredictor:
        check_header(meta, FORMAT, VERSION)
        n_features = stored_int(meta, "n_features_in", 1)
        kernel = meta.get("kernel")
        if kernel not in KERNELS:
            raise ValueError(f"the stored svm kernel {kernel!r} is not one of {KERNELS}")
        classes = stored_classes(arrays)
        coef = stored_array(arrays, "coef", "f", 2)
        intercept = stored_array(arrays, "intercept", "f", 1)
        n_scores = 1 if len(classes) == 2 else len(classes)
        components = normalization = None
        width = n_features
        gamma = 0.0
        if kernel == "rbf":
            stored_gamma = meta.get("gamma")
            if not isinstance(stored_gamma, float) or not stored_gamma > 0:
                raise ValueError(f"the stored svm gamma {stored_gamma!r} is not a positive number")
            gamma = stored_gamma
            components = stored_array(arrays, "components", "f", 2)
            normalization = stored_array(arrays, "normalization", "f", 2)
            width = components.shape[0]
            if components.shape[1] != n_features or normalization.shape != (width, width):
                raise ValueError(
                    f"the stored svm components {components.shape} and normalization "
                    f"{normalization.shape} do not fit {n_features} features"
                )
        if coef.shape != (n_scores, width) or intercept.shape != (n_scores,):
            raise ValueError(
                f"the stored svm coef {coef.shape} and intercept {intercept.shape}; expected "
                f"({n_scores}, {width}) and ({n_scores},) for {len(classes)} classes"
            )
        return SVMPredictor(coef, intercept, classes, n_features, components, normalization, gamma)


class SVMPredictor:
    """A stored SVM's margins (``decision_function``), with NumPy alone."""

    def __init__(
        self,
        coef: NDArray[np.float64],
        intercept: NDArray[np.float64],
        classes: NDArray[Any],
        n_features: int,
        components: NDArray[np.float64] | None = None,
        normalization: NDArray[np.float64] | None = None,
        gamma: float = 0.0,
    ) -> None:
        self.coef = coef
        self.intercept = intercept
        self.classes = classes
        self.n_features = n_features
        self.components = components
        self.normalization = normalization
        self.gamma = gamma

    def features(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The inputs the linear SVM reads: ``X`` itself, or its Nystroem RBF features."""
        X = dense(X, self.n_features)
        if self.components is None or self.normalization is None:
            return X
        c = self.components
        # scikit-learn's euclidean_distances: |x|^2 - 2 x.c + |c|^2, clipped at zero
        d = -2.0 * (X @ c.T)
        d += np.einsum("ij,ij->i", X, X)[:, None]
        d += np.einsum("ij,ij->i", c, c)[None, :]
        np.maximum(d, 0, out=d)
        d *= -self.gamma
        np.exp(d, out=d)
        return np.asarray(d @ self.normalization.T)

    def decision_function(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The margins; 1-D for two classes, as ``LinearSVC.decision_function``."""
        scores = self.features(X) @ self.coef.T + self.intercept
        return np.asarray(scores.ravel() if scores.shape[1] == 1 else scores)

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The uncalibrated SVM's labels: the largest margin (above zero for two classes)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.asarray(self.classes[(scores > 0).astype(np.intp)])
        return np.asarray(self.classes[np.argmax(scores, axis=1)])
