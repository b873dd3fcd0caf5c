"""Calibration any family may ask for: stored as arrays, predicting what scikit-learn's
``CalibratedClassifierCV`` predicted; the svm family is always calibrated."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.metrics import brier_score_loss
from threadpoolctl import threadpool_limits

from polyclass.families import Family, calibrated, get_family


def _table(n_classes: int, n: int = 300, seed: int = 0) -> tuple[NDArray[np.float64], Any]:
    X, y = make_classification(
        n_samples=n,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.05,
        random_state=seed,
    )
    return X, np.array(["a", "b", "c", "d"])[y]


def _stored(family: Family, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    meta, arrays = family.export(fitted)
    read = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        buffer.seek(0)
        read[name] = np.load(buffer, allow_pickle=False)
    return json.loads(json.dumps(meta)), read


def _fit(family: Family, params: dict[str, Any], X: Any, y: Any) -> Any:
    with threadpool_limits(1):
        return family.build(params, random_state=0).fit(X, y)


CASES = [
    ("svm", 2, "sigmoid", {"kernel": "linear", "C": 1.0}),
    ("svm", 3, "sigmoid", {"kernel": "rbf", "C": 1.0, "n_components": 50}),
    ("svm", 2, "isotonic", {"kernel": "rbf", "C": 10.0, "n_components": 50}),
    ("svm", 3, "isotonic", {"kernel": "linear", "C": 0.1}),
    ("forest", 3, "isotonic", {"kind": "extra", "n_estimators": 20}),
    ("forest", 2, "sigmoid", {"kind": "random", "n_estimators": 20}),
    ("boosting", 2, "sigmoid", {"max_iter": 20}),
    ("boosting", 3, "isotonic", {"max_iter": 20}),
]


@pytest.mark.parametrize(("name", "n_classes", "method", "params"), CASES)
def test_calibrated_predictor_equals_sklearn(
    name: str, n_classes: int, method: str, params: dict[str, Any]
) -> None:
    family = get_family(name)
    X, y = _table(n_classes)
    params = {**params, "calibration": method}
    fitted = _fit(family, params, X[60:], y[60:])
    assert isinstance(fitted, CalibratedClassifierCV) and fitted.method == method
    predictor = family.predictor(*_stored(family, fitted))
    X_new = np.vstack([X[:60], X[:60] * 3.0])  # beyond the calibration range too
    np.testing.assert_allclose(
        predictor.predict_proba(X_new), fitted.predict_proba(X_new), rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(predictor.predict(X_new), fitted.predict(X_new))
    np.testing.assert_array_equal(predictor.classes, fitted.classes_)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_svm_margins_equal_the_fitted_svm(kernel: str) -> None:
    family = get_family("svm")
    X, y = _table(3)
    params = next(p for p in family.candidates(len(X), 6, 3) if p["kernel"] == kernel)
    fitted = _fit(family, params, X, y)
    base = fitted.calibrated_classifiers_[0].estimator
    predictor = family.predictor(*_stored(family, fitted))
    np.testing.assert_allclose(
        predictor.base.decision_function(X), base.decision_function(X), rtol=0, atol=1e-12
    )


def test_svm_probabilities_are_calibrated_out_of_fold() -> None:
    # the margins squashed by a softmax are far from the frequencies; the calibration is close
    X, y = _table(2, n=2000, seed=3)
    family = get_family("svm")
    fitted = _fit(family, family.candidates(1000, 6, 2)[0], X[:1000], y[:1000])
    margins = fitted.calibrated_classifiers_[0].estimator.decision_function(X[1000:])
    positive = y[1000:] == fitted.classes_[1]
    raw = 1.0 / (1.0 + np.exp(-margins))
    calibrated_p = fitted.predict_proba(X[1000:])[:, 1]
    assert brier_score_loss(positive, calibrated_p) < brier_score_loss(positive, raw)
    bins = np.clip((calibrated_p * 10).astype(int), 0, 9)
    gaps = [abs(positive[bins == b].mean() - calibrated_p[bins == b].mean()) for b in range(10)]
    weights = np.bincount(bins, minlength=10) / len(bins)
    assert float(np.nansum(np.array(gaps) * weights)) < 0.05  # expected calibration error


def test_svm_must_be_calibrated_and_linear_cannot_be() -> None:
    with pytest.raises(ValueError, match="'svm' family's scores are not probabilities"):
        get_family("svm").build({"kernel": "linear", "calibration": None}, random_state=0)
    with pytest.raises(ValueError, match="'linear' family's probabilities are not recalibrated"):
        get_family("linear").build({"calibration": "sigmoid"}, random_state=0)
    with pytest.raises(ValueError, match=r"one of sigmoid \(Platt scaling\), isotonic"):
        get_family("forest").build({"calibration": "platt"}, random_state=0)
    with pytest.raises(ValueError, match="takes no n_components"):
        get_family("svm").build({"kernel": "linear", "n_components": 5}, random_state=0)
    with pytest.raises(ValueError, match="calibration method must be one of"):
        calibrated(object(), "beta")


def test_corrupt_calibration_is_refused() -> None:
    family = get_family("svm")
    X, y = _table(3)
    meta, arrays = _stored(family, _fit(family, family.candidates(300, 6, 3)[0], X, y))
    with pytest.raises(ValueError, match="wrong number of classes"):
        family.predictor(meta, dict(arrays, **{"calibration.a": arrays["calibration.a"][:2]}))
    with pytest.raises(ValueError, match="2 calibrators for 3 classes"):
        family.predictor({**meta, "n_calibrators": 2}, arrays)
    with pytest.raises(ValueError, match="stored calibration is 'beta'"):
        family.predictor({**meta, "method": "beta"}, arrays)
    with pytest.raises(ValueError, match="must be calibrated"):
        family.predictor(meta["estimator"], {k[10:]: v for k, v in arrays.items()})
    bad_svm = dict(arrays, **{"estimator.coef": arrays["estimator.coef"][:, :3]})
    with pytest.raises(ValueError, match="svm coef"):
        family.predictor(meta, bad_svm)
    with pytest.raises(ValueError, match="cannot be calibrated"):
        get_family("linear").predictor(meta, arrays)


def test_isotonic_curve_is_checked() -> None:
    family = get_family("forest")
    X, y = _table(3)
    params = {"kind": "extra", "n_estimators": 10, "calibration": "isotonic"}
    meta, arrays = _stored(family, _fit(family, params, X, y))
    reversed_x = arrays["calibration.x.0"][::-1].copy()
    with pytest.raises(ValueError, match="isotonic calibration 0 is not an increasing curve"):
        family.predictor(meta, dict(arrays, **{"calibration.x.0": reversed_x}))


@pytest.mark.parametrize("keep", [2, 1])
@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("svm", {"kernel": "linear"}),
        ("forest", {"kind": "random", "n_estimators": 5, "calibration": "isotonic"}),
    ],
)
def test_a_class_smaller_than_the_folds_is_named(
    family: str, params: dict[str, Any], keep: int
) -> None:
    X, y = _table(3, n=90)
    rows = np.concatenate([np.flatnonzero(y != "c"), np.flatnonzero(y == "c")[:keep]])
    estimator = get_family(family).build(params, random_state=0)
    with pytest.raises(ValueError, match=f"class 'c' has {keep}. Add rows of that class"):
        estimator.fit(X[rows], y[rows])
