"""Probability calibration any family may ask for, fitted out-of-fold and stored as arrays.

A family whose scores are not probabilities (an SVM's margins), or whose probabilities
are badly calibrated, is wrapped in scikit-learn's ``CalibratedClassifierCV`` with
``ensemble=False``: the family's estimator is cross-validated to get out-of-fold scores,
one calibrator per class (two classes: one, for the second class) maps those scores to
probabilities, then the estimator is refitted on all rows. The stored form is the
family's own stored estimator plus the calibrators' parameters: Platt's ``a, b`` per
class (``sigmoid``) or the isotonic step points (``isotonic``). The NumPy predictor
repeats scikit-learn's arithmetic: calibrate each class's score, then renormalise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.families._family import (
    StoredPredictor,
    check_header,
    expit,
    plain_classes,
    stored_array,
    stored_classes,
    stored_int,
)

FORMAT = "polyclass.families.calibrated"
VERSION = 1
#: The calibration methods: Platt scaling and isotonic regression.
METHODS = ("sigmoid", "isotonic")
#: Where a calibrator reads the estimator's scores, in scikit-learn's order of preference.
RESPONSES = ("decision_function", "predict_proba")
#: Out-of-fold folds for fitting the calibrators.
CALIBRATION_FOLDS = 3


def calibrated(estimator: Any, method: str, *, n_jobs: int = 1) -> Any:
    """``estimator`` wrapped so that its probabilities are calibrated out-of-fold.

    Parameters
    ----------
    estimator : estimator
        An unfitted classifier with ``decision_function`` or ``predict_proba``.
    method : {'sigmoid', 'isotonic'}
        Platt scaling (two parameters per class; for small tables) or isotonic
        regression (monotone steps; needs a thousand rows or more to beat sigmoid).
    n_jobs : int, default=1
        Folds fitted in parallel.

    Returns
    -------
    CalibratedCV
        scikit-learn's ``CalibratedClassifierCV`` (refusing a class smaller than the folds
        by name), unfitted, ``ensemble=False``, stratified :data:`CALIBRATION_FOLDS` folds.
    """
    if method not in METHODS:
        raise ValueError(
            "The calibration method must be one of sigmoid (Platt scaling), isotonic (or "
            f"None for none). Got {method!r} instead."
        )
    from polyclass.families._calibrated_cv import CalibratedCV

    return CalibratedCV(
        estimator, method=method, cv=CALIBRATION_FOLDS, ensemble=False, n_jobs=n_jobs
    )


def is_calibrated(fitted: Any) -> bool:
    """Whether ``fitted`` is a calibrated wrapper :func:`calibrated` made (fitted)."""
    return type(fitted).__name__ in ("CalibratedCV", "CalibratedClassifierCV") and hasattr(
        fitted, "calibrated_classifiers_"
    )


def export_calibrated(
    fitted: Any, export_estimator: Callable[[Any], tuple[dict[str, Any], dict[str, NDArray[Any]]]]
) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """A fitted calibrated wrapper as metadata and arrays; ``export_estimator`` stores the base.

    The base estimator's arrays are stored under ``estimator.<name>``, the calibrators'
    under ``calibration.<name>``.
    """
    if len(fitted.calibrated_classifiers_) != 1:
        raise ValueError("Only a calibrated model fitted with ensemble=False can be stored.")
    inner = fitted.calibrated_classifiers_[0]
    base = inner.estimator
    response = "decision_function" if hasattr(base, "decision_function") else "predict_proba"
    if not np.array_equal(np.asarray(base.classes_), np.asarray(fitted.classes_)):
        raise ValueError("The calibrated estimator saw fewer classes than the calibration.")
    base_meta, base_arrays = export_estimator(base)
    arrays: dict[str, NDArray[Any]] = {f"estimator.{k}": v for k, v in base_arrays.items()}
    arrays["classes"] = plain_classes(fitted.classes_)
    if fitted.method == "sigmoid":
        arrays["calibration.a"] = np.array([c.a_ for c in inner.calibrators], np.float64)
        arrays["calibration.b"] = np.array([c.b_ for c in inner.calibrators], np.float64)
    elif fitted.method == "isotonic":
        for i, c in enumerate(inner.calibrators):
            if not c.increasing_:
                raise ValueError("A decreasing isotonic calibration cannot be stored.")
            arrays[f"calibration.x.{i}"] = np.asarray(c.X_thresholds_, np.float64)
            arrays[f"calibration.y.{i}"] = np.asarray(c.y_thresholds_, np.float64)
    else:
        raise ValueError(f"The calibration method {fitted.method!r} cannot be stored.")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "method": fitted.method,
        "response": response,
        "n_calibrators": len(inner.calibrators),
        "n_features_in": int(fitted.n_features_in_),
        "estimator": base_meta,
    }
    return meta, arrays


def is_calibrated_state(meta: Mapping[str, Any]) -> bool:
    """Whether stored metadata is a calibrated model's (else the family's own format)."""
    return isinstance(meta, Mapping) and meta.get("format") == FORMAT


def calibrated_predictor(
    meta: Mapping[str, Any],
    arrays: Mapping[str, NDArray[Any]],
    base_predictor: Callable[[Mapping[str, Any], Mapping[str, NDArray[Any]]], Any],
) -> CalibratedPredictor:
    """The stored calibrated model, checked; ``base_predictor`` rebuilds the base estimator."""
    check_header(meta, FORMAT, VERSION)
    method, response = meta.get("method"), meta.get("response")
    if method not in METHODS or response not in RESPONSES:
        raise ValueError(
            f"the stored calibration is {method!r} on {response!r}; this polyclass reads "
            f"{', '.join(METHODS)} on {', '.join(RESPONSES)}"
        )
    classes = stored_classes(arrays)
    n_calibrators = stored_int(meta, "n_calibrators", 1)
    if n_calibrators != (1 if len(classes) == 2 else len(classes)):
        raise ValueError(
            f"the stored model has {n_calibrators} calibrators for {len(classes)} classes"
        )
    inner = {k[len("estimator.") :]: v for k, v in arrays.items() if k.startswith("estimator.")}
    base = base_predictor(meta.get("estimator", {}), inner)
    if stored_int(meta, "n_features_in", 1) != base.n_features:
        raise ValueError("the stored calibrated model's n_features_in differs from its estimator's")
    if not hasattr(base, response):
        raise ValueError(f"the stored estimator has no {response} to calibrate")
    if not np.array_equal(np.asarray(base.classes), classes):
        raise ValueError("the stored estimator's classes differ from the calibrated classes")
    curves: list[Callable[[NDArray[np.float64]], NDArray[np.float64]]] = []
    for i in range(n_calibrators):
        if method == "sigmoid":
            a = stored_array(arrays, "calibration.a", "f", 1)
            b = stored_array(arrays, "calibration.b", "f", 1)
            if a.shape != (n_calibrators,) or b.shape != (n_calibrators,):
                raise ValueError("the stored sigmoid calibration has the wrong number of classes")
            curves.append(_sigmoid(float(a[i]), float(b[i])))
        else:
            x = stored_array(arrays, f"calibration.x.{i}", "f", 1)
            y = stored_array(arrays, f"calibration.y.{i}", "f", 1)
            if x.shape != y.shape or len(x) == 0 or np.any(np.diff(x) < 0):
                raise ValueError(f"the stored isotonic calibration {i} is not an increasing curve")
            curves.append(_isotonic(x, y))
    predictor = CalibratedPredictor(base, str(response), curves, classes, str(method))
    predictor.keep(meta, arrays)
    return predictor


def _sigmoid(a: float, b: float) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    # scikit-learn's _SigmoidCalibration.predict: expit(-(a * score + b))
    return lambda s: expit(-(a * s + b))


def _isotonic(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    # IsotonicRegression(out_of_bounds='clip'): clip to the fitted range, interpolate linearly
    if len(x) == 1:
        return lambda s: np.full(s.shape, y[0], dtype=np.float64)
    return lambda s: np.asarray(np.interp(np.clip(s, x[0], x[-1]), x, y), dtype=np.float64)


class CalibratedPredictor(StoredPredictor):
    """A stored calibrated model: the base estimator's scores through each class's curve."""

    def __init__(
        self,
        base: Any,
        response: str,
        curves: list[Callable[[NDArray[np.float64]], NDArray[np.float64]]],
        classes: NDArray[Any],
        method: str,
    ) -> None:
        self.base = base
        self.response = response
        self.curves = curves
        self.classes = classes
        self.method = method
        self.n_features = int(base.n_features)

    def scores(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The base estimator's uncalibrated scores, one column per calibrator."""
        s = np.asarray(getattr(self.base, self.response)(X), dtype=np.float64)
        if self.response == "predict_proba" and len(self.classes) == 2:
            s = s[:, 1]  # scikit-learn calibrates the second class's probability
        return s.reshape(len(s), -1)

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated class probabilities, columns in the order of ``classes``."""
        s = self.scores(X)
        n_classes = len(self.classes)
        proba = np.zeros((s.shape[0], n_classes), dtype=np.float64)
        if n_classes == 2:
            proba[:, 1] = self.curves[0](s[:, 0])
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            for k, curve in enumerate(self.curves):
                proba[:, k] = curve(s[:, k])
            total = proba.sum(axis=1)[:, None]
            uniform = np.full_like(proba, 1.0 / n_classes)
            proba = np.divide(proba, total, out=uniform, where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0  # as scikit-learn rounds
        return proba

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The most probable class of each row (as ``CalibratedClassifierCV.predict``)."""
        return np.asarray(self.classes[np.argmax(self.predict_proba(X), axis=1)])
