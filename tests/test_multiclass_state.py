"""Storing a fitted OvR/OvO wrapper as JSON + .npy (no pickle) and loading it back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import polyclass.linear._combine as combine
from polyclass import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier
from polyclass.linear._combine import LinearMulticlassPredictor
from polyclass.linear._multiclass_state import label_array


def save(meta: dict[str, Any], arrays: dict[str, np.ndarray], directory: Path) -> None:
    directory.mkdir()
    (directory / "meta.json").write_text(json.dumps(meta, allow_nan=False))
    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)


def load(directory: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta = json.loads((directory / "meta.json").read_text())
    arrays = {p.stem: np.load(p, allow_pickle=False) for p in directory.glob("*.npy")}
    return meta, arrays


def data(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=200,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=n_classes,
    )
    return X, y


@pytest.mark.parametrize("cls", [OneVsRestClassifier, OneVsOneClassifier])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_round_trip_predicts_identically(cls: Any, n_classes: int, tmp_path: Path) -> None:
    X, y = data(n_classes)
    labels = np.array(["ant", "bee", "cow", "doe"], dtype=object)[y]
    estimator = LogisticRegression(C=np.inf if n_classes == 2 else 0.5, class_weight={0: 1, 1: 2})
    model = cls(estimator, n_jobs=2).fit(X, labels)
    save(*model.to_state(), tmp_path / "model")
    meta, arrays = load(tmp_path / "model")
    loaded = cls.from_state(meta, arrays)
    for method in ("predict", "decision_function", "predict_proba"):
        assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    assert loaded.get_params()["estimator__C"] == estimator.C
    assert loaded.get_params()["estimator__class_weight"] == {0: 1, 1: 2}
    assert loaded.n_jobs == 2
    assert len(loaded.estimators_) == len(model.estimators_)
    assert_array_equal(loaded.estimators_[0].predict(X), model.estimators_[0].predict(X))
    # NumPy only: the predictor rebuilt straight from the stored arrays.
    predictor = LinearMulticlassPredictor(
        meta["strategy"], arrays["coef"], arrays["intercept"], arrays["classes"]
    )
    assert_array_equal(predictor.predict(X), model.predict(X))
    assert_array_equal(predictor.predict_proba(X), model.predict_proba(X))
    # A loaded model can be refitted like any estimator.
    assert_array_equal(loaded.fit(X, labels).predict(X), model.predict(X))


def test_round_trip_with_feature_names_and_sparse(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    X, y = data(3)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    model = OneVsOneClassifier(LogisticRegression()).fit(frame, y)
    save(*model.to_state(), tmp_path / "named")
    loaded = OneVsOneClassifier.from_state(*load(tmp_path / "named"))
    assert_array_equal(loaded.feature_names_in_, frame.columns)
    assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))

    X_sparse = sp.csr_matrix(X)
    sparse_model = OneVsRestClassifier(LogisticRegression()).fit(X_sparse, y)
    save(*sparse_model.to_state(), tmp_path / "sparse")
    loaded = OneVsRestClassifier.from_state(*load(tmp_path / "sparse"))
    assert_array_equal(loaded.predict_proba(X_sparse), sparse_model.predict_proba(X_sparse))


def test_numpy_only_prediction_in_a_fresh_process(tmp_path: Path) -> None:
    X, y = data(4)
    model = OneVsOneClassifier(LogisticRegression()).fit(X, y)
    save(*model.to_state(), tmp_path / "model")
    np.save(tmp_path / "X.npy", X)
    script = f"""
import importlib.util, json, sys
from pathlib import Path
import numpy as np
spec = importlib.util.spec_from_file_location("combine", {str(combine.__file__)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
d = Path({str(tmp_path)!r})
meta = json.loads((d / "model" / "meta.json").read_text())
names = ("coef", "intercept", "classes")
a = {{n: np.load(d / "model" / (n + ".npy"), allow_pickle=False) for n in names}}
p = module.LinearMulticlassPredictor(meta["strategy"], a["coef"], a["intercept"], a["classes"])
X = np.load(d / "X.npy", allow_pickle=False)
np.save(d / "proba.npy", p.predict_proba(X))
np.save(d / "pred.npy", p.predict(X))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy", "polyclass"))
print(json.dumps(heavy))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    assert_array_equal(np.load(tmp_path / "proba.npy"), model.predict_proba(X))
    assert_array_equal(np.load(tmp_path / "pred.npy"), model.predict(X))


def test_state_errors() -> None:
    X, y = data(3)
    with pytest.raises(ValueError, match="wrap polyclass's"):
        OneVsRestClassifier(SkLogisticRegression()).fit(X, y).to_state()
    meta, arrays = OneVsRestClassifier(LogisticRegression()).fit(X, y).to_state()
    with pytest.raises(ValueError, match=r"OneVsRestClassifier\.from_state"):
        OneVsOneClassifier.from_state(meta, arrays)
    with pytest.raises(ValueError, match="format"):
        OneVsRestClassifier.from_state({**meta, "version": 99}, arrays)
    with pytest.raises(ValueError, match="lack"):
        OneVsRestClassifier.from_state(meta, {"coef": arrays["coef"]})
    with pytest.raises(ValueError, match="corrupt"):
        OneVsRestClassifier.from_state(meta, {**arrays, "coef": arrays["coef"][:2]})
    with pytest.raises(ValueError, match="corrupt"):
        OneVsRestClassifier.from_state({**meta, "estimator": "os.system"}, arrays)
    with pytest.raises(ValueError, match="without pickle"):
        label_array(np.array(["a", 1], dtype=object))
    assert label_array(np.array([3, 1], dtype=object)).dtype.kind == "i"
