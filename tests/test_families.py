"""Each model family's stored-and-loaded NumPy predictor gives the fitted model's output.

The data is dense and already imputed, as polyclass's preprocessing hands it to an
estimator; the metadata goes through JSON and the arrays through ``np.save`` /
``np.load(allow_pickle=False)``, as an artifact stores them.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from polyclass.families import FAMILIES, Family, get_family

#: Families whose predictor repeats the fitted model's arithmetic operation for operation:
#: equal up to the last bit of the final exp/softmax, whose implementation (NumPy's SIMD
#: loops against the C library's) may round one ulp apart.
BITWISE = {"forest", "boosting"}


def _table(n_classes: int, seed: int = 0) -> tuple[NDArray[np.float64], NDArray[Any]]:
    X, y = make_classification(
        n_samples=240,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    labels = np.array(["setosa", "versicolor", "virginica", "other"])[y]
    return X, labels


def _stored(family: Family, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    meta, arrays = family.export(fitted)
    read: dict[str, NDArray[Any]] = {}
    for name, array in arrays.items():
        assert array.dtype != object, name
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        buffer.seek(0)
        read[name] = np.load(buffer, allow_pickle=False)
    return json.loads(json.dumps(meta)), read


def _fit(family: Family, params: dict[str, Any], X: Any, y: Any) -> Any:
    estimator = family.build(params, random_state=0)
    with threadpool_limits(1), warnings.catch_warnings():  # OpenMP: one thread is fastest
        # a network stopped at its iteration cap is stored and predicted all the same
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_stored_predictor_equals_fitted_model(name: str, n_classes: int) -> None:
    family = get_family(name)
    X, y = _table(n_classes)
    X_new = np.vstack([X[:60] + 0.37, X[60:120]])  # off the training points and on them
    for params in family.candidates(len(X), X.shape[1], n_classes)[:2]:
        fitted = _fit(family, params, X[60:], y[60:])
        predictor = family.predictor(*_stored(family, fitted))
        expected = fitted.predict_proba(X_new)
        got = predictor.predict_proba(X_new)
        if name in BITWISE and n_classes > 2:
            np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-16)
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(predictor.predict(X_new), fitted.predict(X_new))
        np.testing.assert_array_equal(predictor.classes, fitted.classes_)
        assert predictor.n_features == X.shape[1]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_candidates_are_few_and_buildable(name: str) -> None:
    family = get_family(name)
    for n_rows in (200, 200_000):
        grid = family.candidates(n_rows, 30, 6)
        assert 1 <= len(grid) <= 6
        for params in grid:
            json.dumps(params)
            family.build(params, random_state=0, n_jobs=1)


def test_trees_route_missing_values_as_fitted() -> None:
    # sklearn's trees learn where NaN goes; the stored trees must send it the same way
    X, y = _table(3)
    X = X.copy()
    X[::7, 0] = np.nan
    X_new = X[:80].copy()
    X_new[::3, 1] = np.nan
    for name in ("forest", "boosting"):
        family = get_family(name)
        fitted = _fit(family, family.candidates(len(X), 6, 3)[0], X, y)
        predictor = family.predictor(*_stored(family, fitted))
        got, expected = predictor.predict_proba(X_new), fitted.predict_proba(X_new)
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-16)  # one ulp, see BITWISE


def test_forest_reads_inputs_as_float32_like_sklearn() -> None:
    # a value between two float32 numbers lands on the same side of a split as in sklearn
    X, y = _table(3)
    family = get_family("forest")
    fitted = _fit(family, {"kind": "extra", "n_estimators": 20}, X, y)
    X_new = X[:50] + 1e-9
    predictor = family.predictor(*_stored(family, fitted))
    np.testing.assert_array_equal(predictor.predict_proba(X_new), fitted.predict_proba(X_new))


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown model family 'svm2'; polyclass knows linear"):
        get_family("svm2")


@pytest.mark.parametrize("name", ["forest", "boosting"])
def test_corrupt_trees_are_refused(name: str) -> None:
    family = get_family(name)
    X, y = _table(3)
    meta, arrays = _stored(family, _fit(family, family.candidates(240, 6, 3)[0], X, y))
    cyclic = dict(arrays, left=np.where(arrays["left"] > 0, 0, arrays["left"]))
    with pytest.raises(ValueError, match="child does not follow it"):
        family.predictor(meta, cyclic)
    far = dict(arrays, feature=np.where(arrays["left"] >= 0, 99, arrays["feature"]))
    with pytest.raises(ValueError, match=r"feature outside 0\.\.5"):
        family.predictor(meta, far)
    with pytest.raises(ValueError, match="format"):
        family.predictor({**meta, "version": 99}, arrays)
    with pytest.raises(ValueError, match="no 'threshold' array"):
        family.predictor(meta, {k: v for k, v in arrays.items() if k != "threshold"})


def test_mlp_layer_shapes_are_checked() -> None:
    family = get_family("mlp")
    X, y = _table(3)
    meta, arrays = _stored(family, _fit(family, family.candidates(240, 6, 3)[0], X, y))
    with pytest.raises(ValueError, match="layer 1"):
        family.predictor(meta, dict(arrays, **{"coef.1": arrays["coef.1"][:-1]}))


def test_missing_library_names_the_extra() -> None:
    class Absent(Family):
        name = "absent"
        extra = "families"
        requires = ("polyclass_no_such_module",)

    assert not Absent().available()
    with pytest.raises(ImportError, match=r"pip install 'polyclass\[families\]'"):
        Absent().require()


def test_predictors_need_numpy_only() -> None:
    # the server rebuilds predictors; it must not pay for scikit-learn
    code = (
        "import sys, numpy as np\n"
        "from polyclass.families import get_family\n"
        "get_family('forest')\n"
        "print(sorted({'sklearn', 'scipy', 'pandas'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
