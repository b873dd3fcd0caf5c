"""OneVsRestClassifier and OneVsOneClassifier against scikit-learn's wrappers."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import multiclass as skm
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from polyclass import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier
from polyclass.linear._combine import pair_indices, pairwise_coupling
from polyclass.linear._multiclass_common import _n_cpus, n_workers

OURS = {"ovr": OneVsRestClassifier, "ovo": OneVsOneClassifier}
SKLEARN = {"ovr": skm.OneVsRestClassifier, "ovo": skm.OneVsOneClassifier}


class Generic(LogisticRegression):
    """polyclass's LogisticRegression behind the wrappers' generic path (not exact type)."""


def problem(
    n_classes: int = 4, n: int = 240, seed: int = 0, sparse: bool = False
) -> tuple[Any, np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=n,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    weights = np.random.default_rng(seed).uniform(0.2, 3.0, size=n)
    if sparse:
        X[np.abs(X) < 0.6] = 0.0
        return sp.csr_matrix(X), y, weights
    return X, y, weights


def fit_sklearn(
    strategy: str, X: Any, y: np.ndarray, weights: np.ndarray | None, **params: Any
) -> Any:
    """scikit-learn's wrapper around its own LogisticRegression, tightly converged."""
    base = SkLogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=1000, **params)
    if weights is None:
        return SKLEARN[strategy](base).fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        base.set_fit_request(sample_weight=True)
        return SKLEARN[strategy](base).fit(X, y, sample_weight=weights)


def binary_objective(est: Any, X: Any, y01: np.ndarray, w: np.ndarray, C: float) -> float:
    z = np.asarray(X @ est.coef_.ravel()) + est.intercept_[0]
    return C * float(np.sum(w * (np.logaddexp(0.0, z) - y01 * z))) + 0.5 * float(
        np.sum(est.coef_**2)
    )


def total_objective(
    strategy: str, model: Any, X: Any, y: np.ndarray, w: np.ndarray, class_weight: Any
) -> float:
    """Sum of the binary sub-problems' objectives (sample and class weights folded in)."""
    codes = np.searchsorted(model.classes_, y)
    total = 0.0
    if strategy == "ovr":
        targets = [1] if len(model.classes_) == 2 else range(len(model.classes_))
        subsets = [(np.arange(len(y)), (codes == k).astype(float)) for k in targets]
    else:
        subsets = []
        for i, j in zip(*pair_indices(len(model.classes_)), strict=True):
            rows = np.flatnonzero((codes == i) | (codes == j))
            subsets.append((rows, (codes[rows] == j).astype(float)))
    for est, (rows, y01) in zip(model.estimators_, subsets, strict=True):
        sub_w = w[rows].copy()
        if class_weight == "balanced":
            counts = np.array([sub_w[y01 == 0].sum(), sub_w[y01 == 1].sum()])
            sub_w *= (sub_w.sum() / (2 * counts))[y01.astype(int)]
        elif isinstance(class_weight, dict):
            sub_w *= np.array([class_weight[0], class_weight[1]])[y01.astype(int)]
        total += binary_objective(est, X[rows], y01, sub_w, 1.0)
    return total


CASES = [
    # (n_classes, sparse, fit_intercept, weighted, class_weight)
    (4, False, True, False, None),
    (4, False, False, False, None),
    (4, False, True, True, None),
    (4, False, True, True, "balanced"),
    (4, False, True, False, {0: 1.0, 1: 3.0}),
    (4, True, True, True, None),
    (4, True, False, False, "balanced"),
    (2, False, True, True, None),
    (2, True, True, False, "balanced"),
    (3, False, False, True, {0: 2.0, 1: 0.5}),
]


@pytest.mark.parametrize("strategy", ["ovr", "ovo"])
@pytest.mark.parametrize(
    ("n_classes", "sparse", "fit_intercept", "weighted", "class_weight"), CASES
)
def test_fast_path_matches_sklearn(
    strategy: str,
    n_classes: int,
    sparse: bool,
    fit_intercept: bool,
    weighted: bool,
    class_weight: Any,
) -> None:
    X, y, w = problem(n_classes, sparse=sparse, seed=n_classes)
    weights = w if weighted else None
    params = {"fit_intercept": fit_intercept, "class_weight": class_weight}
    ours = OURS[strategy](LogisticRegression(tol=1e-8, max_iter=500, **params))
    ours.fit(X, y, sample_weight=weights)
    assert ours._predictor is not None  # the fast path was taken
    theirs = fit_sklearn(strategy, X, y, weights, **params)

    scale = np.abs(theirs.decision_function(X)).max()
    assert_allclose(ours.decision_function(X), theirs.decision_function(X), atol=1e-4 * scale)
    for mine, ref in zip(ours.estimators_, theirs.estimators_, strict=True):
        assert_allclose(mine.coef_, ref.coef_, rtol=1e-4, atol=1e-6)
        assert_array_equal(mine.classes_, ref.classes_)
    assert_array_equal(ours.predict(X), theirs.predict(X))
    if strategy == "ovr":
        assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    ones = np.ones(len(y)) if weights is None else weights
    ours_obj = total_objective(strategy, ours, X, y, ones, class_weight)
    ref_obj = total_objective(strategy, theirs, X, y, ones, class_weight)
    assert ours_obj <= ref_obj * (1 + 1e-8)


@pytest.mark.parametrize("strategy", ["ovr", "ovo"])
@pytest.mark.parametrize(
    ("sparse", "params"),
    [
        (False, {"class_weight": "balanced"}),
        (True, {"class_weight": "balanced"}),
        (False, {"l1_ratio": 1.0, "C": 0.3}),
        (True, {"l1_ratio": 0.5, "fit_intercept": False}),
    ],
)
def test_fast_and_generic_paths_fit_the_same_models(
    strategy: str, sparse: bool, params: dict[str, Any]
) -> None:
    X, y, w = problem(5, sparse=sparse, seed=3)
    params = {"tol": 1e-8, **params}
    fast = OURS[strategy](LogisticRegression(**params), n_jobs=2).fit(X, y, sample_weight=w)
    generic = OURS[strategy](Generic(**params)).fit(X, y, sample_weight=w)
    assert fast._predictor is not None and generic._predictor is None
    assert_allclose(fast.decision_function(X), generic.decision_function(X), atol=1e-10)
    assert_allclose(fast.predict_proba(X), generic.predict_proba(X), atol=1e-10)
    assert_array_equal(fast.predict(X), generic.predict(X))
    for a, b in zip(fast.estimators_, generic.estimators_, strict=True):
        assert type(a) is LogisticRegression
        assert_allclose(a.coef_, b.coef_, atol=1e-12)
        assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-12)


@pytest.mark.parametrize("strategy", ["ovr", "ovo"])
def test_generic_path_is_sklearn_exactly(strategy: str) -> None:
    X, y, _ = problem(4, seed=1)
    base = SkLogisticRegression(C=0.5)
    ours = OURS[strategy](base).fit(X, y)
    theirs = SKLEARN[strategy](base).fit(X, y)
    assert_array_equal(ours.decision_function(X), theirs.decision_function(X))
    assert_array_equal(ours.predict(X), theirs.predict(X))
    if strategy == "ovr":
        assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))


@pytest.mark.parametrize("strategy", ["ovr", "ovo"])
def test_estimator_with_predict_proba_only(strategy: str) -> None:
    X, y, _ = problem(4, seed=2)
    ours = OURS[strategy](GaussianNB()).fit(X, y)
    theirs = SKLEARN[strategy](GaussianNB()).fit(X, y)
    assert not hasattr(GaussianNB(), "decision_function")
    assert_array_equal(ours.predict(X), theirs.predict(X))
    if strategy == "ovr":
        assert not hasattr(ours, "decision_function")
        assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))
    else:
        assert_array_equal(ours.decision_function(X), theirs.decision_function(X))
        assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0)


def test_ovo_pairwise_estimator_like_sklearn() -> None:
    X, y, _ = problem(3, seed=4)
    kernel = X @ X.T
    ours = OneVsOneClassifier(SVC(kernel="precomputed")).fit(kernel, y)
    theirs = skm.OneVsOneClassifier(SVC(kernel="precomputed")).fit(kernel, y)
    assert ours.pairwise_indices_ is not None
    assert_array_equal(ours.decision_function(kernel), theirs.decision_function(kernel))


def test_ovo_decision_is_sklearns_rule_on_its_sub_models() -> None:
    X, y, _ = problem(5, seed=5)
    model = OneVsOneClassifier(LogisticRegression()).fit(X, y)
    # sklearn's OvO combining our fitted sub-models: same rule, same votes.
    reference = skm.OneVsOneClassifier(LogisticRegression())
    reference.estimators_ = model.estimators_
    reference.classes_ = model.classes_
    reference.pairwise_indices_ = None
    reference.n_features_in_ = X.shape[1]
    assert_allclose(model.decision_function(X), reference.decision_function(X), atol=1e-12)
    assert_array_equal(model.predict(X), reference.predict(X))


@pytest.mark.parametrize("n_classes", [2, 3, 6])
def test_ovo_predict_proba_by_coupling(n_classes: int) -> None:
    X, y, _ = problem(n_classes, n=400, seed=6)
    model = OneVsOneClassifier(LogisticRegression()).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(y), n_classes)
    assert np.all(proba >= 0)
    assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    second = np.column_stack([e.predict_proba(X)[:, 1] for e in model.estimators_])
    assert_allclose(proba, pairwise_coupling(second, n_classes), atol=1e-10)
    agreement = np.mean(model.classes_[proba.argmax(axis=1)] == model.predict(X))
    assert agreement >= (1.0 if n_classes == 2 else 0.97)


def test_string_labels_and_binary_ovr() -> None:
    X, y, _ = problem(2, seed=7)
    labels = np.array(["no", "yes"], dtype=object)[y]
    ours = OneVsRestClassifier(LogisticRegression(tol=1e-8)).fit(X, labels)
    theirs = fit_sklearn("ovr", X, labels, None)
    assert len(ours.estimators_) == 1
    assert ours.decision_function(X).shape == (len(y),)
    assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)

    X, y, _ = problem(3, seed=8)
    names = np.array(["cat", "dog", "eel"])[y]
    for strategy in ("ovr", "ovo"):
        model = OURS[strategy](LogisticRegression()).fit(X, names)
        assert_array_equal(model.classes_, ["cat", "dog", "eel"])
        assert set(model.predict(X)) <= {"cat", "dog", "eel"}


def test_parallel_fits_are_identical() -> None:
    X, y, w = problem(4, seed=9)
    for cls in (OneVsRestClassifier, OneVsOneClassifier):
        one = cls(LogisticRegression(), n_jobs=1).fit(X, y, sample_weight=w)
        two = cls(LogisticRegression(), n_jobs=-1).fit(X, y, sample_weight=w)
        assert_allclose(one.decision_function(X), two.decision_function(X), atol=1e-12)


def test_n_jobs_means_what_joblib_means() -> None:
    cpus = _n_cpus()
    assert n_workers(None, 10) == 1
    assert n_workers(3, 10) == 3
    assert n_workers(3, 2) == 2  # never more workers than sub-problems
    assert n_workers(-1, 100) == cpus
    assert n_workers(-2, 100) == max(1, cpus - 1)


def test_float32_estimator() -> None:
    X, y, _ = problem(4, seed=10)
    for cls in (OneVsRestClassifier, OneVsOneClassifier):
        model = cls(LogisticRegression(dtype="float32")).fit(X, y)
        reference = cls(LogisticRegression()).fit(X, y)
        assert model.estimators_[0].coef_.dtype == np.float32
        assert_allclose(model.decision_function(X), reference.decision_function(X), atol=1e-3)


def test_feature_names_from_pandas() -> None:
    pd = pytest.importorskip("pandas")
    X, y, _ = problem(3, seed=11)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    for cls in (OneVsRestClassifier, OneVsOneClassifier):
        model = cls(LogisticRegression()).fit(frame, y)
        assert_array_equal(model.feature_names_in_, frame.columns)
        assert_array_equal(model.estimators_[0].feature_names_in_, frame.columns)
        assert model.n_features_in_ == X.shape[1]
        with pytest.raises(ValueError, match="feature names"):
            model.predict(frame.rename(columns={"f0": "other"}))


@pytest.mark.parametrize("cls", [OneVsRestClassifier, OneVsOneClassifier])
def test_in_pipeline_grid_search_and_cross_val(cls: Any) -> None:
    X, y, _ = problem(3, n=150, seed=12)
    pipe = make_pipeline(StandardScaler(), cls(LogisticRegression()))
    assert pipe.fit(X, y).score(X, y) > 0.6
    search = GridSearchCV(cls(LogisticRegression()), {"estimator__C": [0.01, 1.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["estimator__C"] in (0.01, 1.0)
    assert search.best_estimator_.estimators_[0].C == search.best_params_["estimator__C"]
    scores = cross_val_score(cls(LogisticRegression()), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)


@pytest.mark.parametrize("cls", [OneVsRestClassifier, OneVsOneClassifier])
def test_clear_errors(cls: Any) -> None:
    X, y, _ = problem(3, seed=13)
    model = cls(LogisticRegression())
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y)
    with pytest.raises(ValueError, match="one class"):
        model.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="multilabel"):
        model.fit(X, np.eye(3)[y])
    with pytest.raises(ValueError, match="one weight per row"):
        model.fit(X, y, sample_weight=np.ones(len(y) + 1))
    with pytest.raises(ValueError, match="non-negative"):
        model.fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        cls(LogisticRegression(), n_jobs=0).fit(X, y)
    with pytest.raises(TypeError, match="decision_function or predict_proba"):
        cls(StandardScaler()).fit(X, y)
    with pytest.raises(TypeError, match="takes no sample_weight"):
        cls(KNeighborsClassifier()).fit(X, y, sample_weight=np.ones(len(y)))
    with pytest.raises(ValueError, match="labels are 0"):
        cls(LogisticRegression(class_weight={0: 1.0, 7: 2.0})).fit(X, y)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"X has 3 features, but .* is expecting 6"):
        model.predict(X[:, :3])


def test_ovo_pair_without_weight_is_refused() -> None:
    X, y, _ = problem(3, seed=16)
    weights = np.where(y == 2, 1.0, 0.0)  # the pair (0, 1) has nothing to fit
    with pytest.raises(ValueError, match="0 vs 1 sum to zero"):
        OneVsOneClassifier(LogisticRegression()).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("cls", [OneVsRestClassifier, OneVsOneClassifier])
def test_convergence_warning_reaches_the_caller(cls: Any) -> None:
    X, y, _ = problem(3, seed=14)
    with pytest.warns(ConvergenceWarning):
        cls(LogisticRegression(max_iter=1, tol=1e-12)).fit(X, y)


def test_unfitted_raises() -> None:
    from sklearn.exceptions import NotFittedError

    X, _, _ = problem(3, seed=15)
    for cls in (OneVsRestClassifier, OneVsOneClassifier):
        with pytest.raises(NotFittedError), warnings.catch_warnings():
            cls(LogisticRegression()).predict(X)


def test_large_ovo_in_float32_reaches_the_float64_objective(monkeypatch: Any) -> None:
    """A large dense X at tol >= 1e-6: one-vs-one fits every pair on a float32 copy
    (``float32_suffices``); the models equal the float64 ones to what that tol resolves
    and reach an objective as low (to float32 rounding)."""
    import polyclass.linear._ovo as ovo_module
    from polyclass.linear._design import float32_suffices as suffices
    from polyclass.linear._logistic import uses_newton

    def float32_suffices(est: Any, X: Any) -> bool:
        return suffices(X, est.tol, uses_newton(est, X))

    X, y = make_classification(
        n_samples=60_000,
        n_features=40,
        n_informative=40,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    assert float32_suffices(LogisticRegression(tol=1e-6), X)
    assert not float32_suffices(LogisticRegression(tol=1e-8), X)
    assert not float32_suffices(LogisticRegression(tol=1e-6), X[:1000])
    assert not float32_suffices(LogisticRegression(tol=1e-6, l1_ratio=1.0), X)
    assert not float32_suffices(LogisticRegression(tol=1e-6), sp.csr_matrix(X[:100]))
    low = OneVsOneClassifier(LogisticRegression(tol=1e-6, random_state=0)).fit(X, y)
    monkeypatch.setattr(ovo_module, "float32_suffices", lambda *args: False)
    high = OneVsOneClassifier(LogisticRegression(tol=1e-6, random_state=0)).fit(X, y)
    scale = np.abs(high.decision_function(X)).max()
    assert_allclose(low.decision_function(X), high.decision_function(X), atol=1e-4 * scale)
    ones = np.ones(len(y))
    low_obj = total_objective("ovo", low, X, y, ones, None)
    high_obj = total_objective("ovo", high, X, y, ones, None)
    assert low_obj <= high_obj * (1 + 1e-7)


def test_ovo_pairs_in_one_batch_fit_each_pairs_model(monkeypatch: Any) -> None:
    """A small X fits every pair in one batch; the models are the per-pair fits'."""
    from polyclass.linear import _ovo

    X, y, w = problem(5, seed=4)
    assert _ovo._batch_all_pairs(LogisticRegression(), X)
    params = {"tol": 1e-8, "class_weight": "balanced"}
    together = OneVsOneClassifier(LogisticRegression(**params)).fit(X, y, sample_weight=w)
    monkeypatch.setattr(_ovo, "BATCH_PAIRS_MAX_COST", 0)
    assert not _ovo._batch_all_pairs(LogisticRegression(), X)
    apart = OneVsOneClassifier(LogisticRegression(**params)).fit(X, y, sample_weight=w)
    for a, b in zip(together.estimators_, apart.estimators_, strict=True):
        assert_allclose(a.coef_, b.coef_, atol=1e-12)
        assert_allclose(a.intercept_, b.intercept_, atol=1e-12)
        assert a.n_iter_ == b.n_iter_
