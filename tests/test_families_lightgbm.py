"""The boosting family's LightGBM engine: stored from LightGBM's JSON dump as node arrays,
its NumPy predictor equals lightgbm's predict_proba, its contributions lightgbm's own."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import make_classification

from polyclass.families import get_family

lightgbm = pytest.importorskip("lightgbm")  # in the dev extra: skipped only by choice


def _stored(fitted: Any) -> Any:
    family = get_family("boosting")
    meta, arrays = family.export(fitted)
    read = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        buffer.seek(0)
        read[name] = np.load(buffer, allow_pickle=False)
    return family.predictor(json.loads(json.dumps(meta)), read)


def _table(n_classes: int, seed: int = 0) -> tuple[NDArray[np.float64], NDArray[Any]]:
    X, y = make_classification(
        n_samples=400,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return X, np.array(["ant", "bee", "cat", "dog"])[y]


def _fit(params: dict[str, Any], X: Any, y: Any) -> Any:
    family = get_family("boosting")
    return family.build({"engine": "lightgbm", **params}, random_state=0).fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_lightgbm_predictor_equals_lightgbm(n_classes: int) -> None:
    X, y = _table(n_classes)
    X = X.copy()
    X[::9, 1] = np.nan  # learned missing-value directions (missing type NaN)
    for params in get_family("boosting").candidates(len(X), 6, n_classes)[:2]:
        fitted = _fit({**params, "n_estimators": 30}, X[100:], y[100:])
        predictor = _stored(fitted)
        X_new = np.vstack([X[:100], X[:50] * 1.7])
        X_new[::7, 3] = np.nan  # NaN where training had none: LightGBM reads it as 0.0
        # equal up to one ulp of the final exp/softmax (NumPy's loops against LightGBM's C++)
        got, expected = predictor.predict_proba(X_new), fitted.predict_proba(X_new)
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-16)
        np.testing.assert_array_equal(predictor.predict(X_new), fitted.predict(X_new))
        np.testing.assert_array_equal(predictor.classes, fitted.classes_)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lightgbm_contributions_equal_pred_contrib(n_classes: int) -> None:
    X, y = _table(n_classes, seed=2)
    X = X.copy()
    X[::5, 0] = np.nan
    fitted = _fit({"n_estimators": 20, "num_leaves": 15}, X, y)
    predictor = _stored(fitted)
    rows = X[:60]
    expected = fitted.predict(rows, pred_contrib=True)
    got = predictor.contributions(rows)
    np.testing.assert_allclose(got.reshape(len(rows), -1), expected, rtol=1e-9, atol=1e-12)
    raw = fitted.predict(rows, raw_score=True).reshape(len(rows), -1)
    np.testing.assert_allclose(got.sum(axis=2), raw, rtol=0, atol=1e-10)


def test_lightgbm_needs_its_extra_and_refuses_categorical_splits() -> None:
    X, y = _table(3)
    fitted = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(
        np.column_stack([X, np.unique(y, return_inverse=True)[1]]), y, categorical_feature=[6]
    )
    with pytest.raises(ValueError, match="categorical splits cannot be stored"):
        get_family("boosting").export(fitted)
    with pytest.raises(ValueError, match="boosting engine must be 'lightgbm' or 'sklearn'"):
        get_family("boosting").build({"engine": "xgboost"}, random_state=0)


def test_without_lightgbm_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lightgbm" else real(name, *a)
    )
    family = get_family("boosting")
    with pytest.raises(ImportError, match=r"pip install 'polyclass\[boosting\]'"):
        family.build({"engine": "lightgbm"}, random_state=0)
    # the default search space falls back to scikit-learn's HistGradientBoosting
    assert all("engine" not in p for p in family.candidates(500, 6, 3))
    assert type(family.build(family.candidates(500, 6, 3)[0], random_state=0)).__name__ == (
        "HistGradientBoostingClassifier"
    )
