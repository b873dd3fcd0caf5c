"""The "linear" family: polyclass's own logistic regression, multinomial or one-vs-rest/one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._family import Family, stored_classes

STRATEGIES = ("multinomial", "ovr", "ovo")
_TYPES = {
    "LogisticRegression": "multinomial",
    "OneVsRestClassifier": "ovr",
    "OneVsOneClassifier": "ovo",
}


class LinearFamily(Family):
    """``polyclass.linear``'s estimators; stored exactly as a model artifact's estimator.

    The metadata is ``{"type": <class name>, "state": <to_state() metadata>}``, the
    ``estimator`` section artifacts have always had, so old artifacts load unchanged.
    """

    name = "linear"
    requires = ("sklearn",)
    calibratable = False  # its probabilities are its logistic model's own

    def candidates(self, n_rows: int, n_features: int, n_classes: int) -> list[dict[str, Any]]:
        grid = [{"strategy": "multinomial", "C": c} for c in (1.0, 0.1, 10.0)]
        # one-vs-rest fits k small problems in threads: worth trying when there is time
        return grid if n_rows > 100_000 else [*grid, {"strategy": "ovr", "C": 1.0}]

    def build_estimator(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        self.require()
        import polyclass.linear as linear

        params = dict(params)
        strategy = params.pop("strategy", "multinomial")
        if strategy not in STRATEGIES:
            raise ValueError(
                f"The linear strategy must be one of {', '.join(STRATEGIES)}. "
                f"Got {strategy!r} instead."
            )
        base = linear.LogisticRegression(**params, random_state=random_state)
        if strategy == "ovr":
            return linear.OneVsRestClassifier(base, n_jobs=n_jobs)
        if strategy == "ovo":
            return linear.OneVsOneClassifier(base, n_jobs=n_jobs)
        return base

    def export_estimator(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        name = type(fitted).__name__
        if name not in _TYPES:
            raise ValueError(f"The linear family stores {', '.join(_TYPES)}; got a {name}.")
        state, arrays = fitted.to_state()
        return {"type": name, "state": state}, arrays

    def stored_predictor(
        self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
    ) -> LinearPredictor:
        from polyclass.linear import check_stored_estimator

        type_name = meta.get("type") if isinstance(meta, Mapping) else None
        check_stored_estimator(type_name, meta.get("state"), arrays)
        return LinearPredictor(
            _TYPES[str(type_name)],
            np.asarray(arrays["coef"], dtype=np.float64),
            np.asarray(arrays["intercept"], dtype=np.float64),
            stored_classes(arrays),
            int(meta["state"]["n_features_in"]),
        )


class LinearPredictor:
    """A stored linear model's predictions, with NumPy alone."""

    def __init__(
        self,
        strategy: str,
        coef: NDArray[np.float64],
        intercept: NDArray[np.float64],
        classes: NDArray[Any],
        n_features: int,
    ) -> None:
        from polyclass.linear import LinearMulticlassPredictor

        self.strategy = strategy
        self.classes = classes
        self.n_features = n_features
        self.coef = coef
        self.intercept = intercept
        self.wrapped: Any = None
        if strategy != "multinomial":
            self.wrapped = LinearMulticlassPredictor(strategy, coef, intercept, classes)

    def scores(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The decision values; 1-D for two classes."""
        from polyclass.linear import linear_scores

        if self.wrapped is not None:
            return np.asarray(self.wrapped.decision_function(X))
        return np.asarray(linear_scores(X, self.coef, self.intercept))

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """``coef * x`` per score and feature, then the intercept: they sum to the scores.

        Returns
        -------
        ndarray of shape (n_rows, n_scores, n_features + 1)
            The scores are one for two classes (multinomial), one per class (one-vs-rest)
            or one per pair of classes (one-vs-one, before its vote).
        """
        coef = self.coef if self.strategy == "multinomial" else self.coef.T
        X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
        out = np.empty((X.shape[0], coef.shape[0], coef.shape[1] + 1), dtype=np.float64)
        out[:, :, :-1] = X[:, None, :] * coef[None, :, :]
        out[:, :, -1] = self.intercept.reshape(-1)
        return out

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes``."""
        from polyclass.linear import proba_from_scores

        if self.wrapped is not None:
            return np.asarray(self.wrapped.predict_proba(X))
        return np.asarray(proba_from_scores(self.scores(X)))

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The fitted estimator's labels: the largest score (above zero for two classes)."""
        if self.wrapped is not None:
            return np.asarray(self.wrapped.predict(X))
        scores = self.scores(X)
        if scores.ndim == 1:
            return np.asarray(self.classes[(scores > 0).astype(np.intp)])
        return np.asarray(self.classes[np.argmax(scores, axis=1)])
