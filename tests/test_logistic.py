"""polyclass.LogisticRegression against sklearn's, and its internal binary entry point."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from polyclass import LogisticRegression
from polyclass.linear._logistic import fit_binary_logistic, fit_binary_logistic_batch


def _data(n_classes: int, seed: int = 0, n: int = 400, p: int = 8) -> tuple[Any, Any]:
    return make_classification(
        n_samples=n,
        n_features=p,
        n_informative=min(5, p),
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )


def _objective(model: Any, X: Any, y: Any, sw: Any = None) -> float:
    """scikit-learn's objective: C * sum_i w_i loss_i + (1-r)/2 ||W||^2 + r ||W||_1."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    Z = np.asarray(X @ coef.T, dtype=np.float64) + np.asarray(model.intercept_, np.float64)
    codes = np.searchsorted(model.classes_, y)
    sw = np.ones(len(y)) if sw is None else sw
    if model.class_weight == "balanced":
        counts = np.bincount(codes)
        sw = sw * (len(y) / (len(counts) * counts))[codes]
    if coef.shape[0] == 1:
        loss = np.logaddexp(0.0, Z[:, 0]) - codes * Z[:, 0]
    else:
        m = Z.max(axis=1)
        loss = np.log(np.exp(Z - m[:, None]).sum(axis=1)) + m - Z[np.arange(len(y)), codes]
    r = model.l1_ratio
    pen = 0.5 * (1 - r) * np.sum(coef**2) + r * np.abs(coef).sum()
    C = model.C
    return float(C * (sw @ loss) + pen) if np.isfinite(C) else float(sw @ loss)


def _reference(**params: Any) -> SkLogisticRegression:
    return SkLogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=1000, **params)


def _assert_matches(
    ours: Any, ref: Any, X: Any, y: Any, sw: Any = None, rtol: float = 1e-4
) -> None:
    scale = max(np.abs(ref.coef_).max(), np.abs(ref.intercept_).max())
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=rtol, atol=rtol * scale)
    f_ours, f_ref = _objective(ours, X, y, sw), _objective(ref, X, y, sw)
    assert f_ours <= f_ref * (1 + 1e-8), (f_ours, f_ref)


# --- agreement with scikit-learn ------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weights", [None, "sample", "balanced", "dict"])
def test_smooth_matches_sklearn(
    n_classes: int, fit_intercept: bool, sparse: bool, weights: str | None, solver: str = "auto"
) -> None:
    X, y = _data(n_classes, seed=n_classes)
    # unbalanced classes make class weights matter
    keep = (y != 0) | (np.arange(len(y)) % 3 == 0)
    X, y = X[keep], y[keep]
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(y)) if weights == "sample" else None
    cw: Any = {"balanced": "balanced", "dict": {0: 3.0, 1: 0.5}}.get(weights or "")
    common = {"C": 0.3, "fit_intercept": fit_intercept, "class_weight": cw}
    ref = _reference(**common).fit(X, y, sample_weight=sw)
    # tol is scikit-learn's max |gradient| of the mean loss; 1e-4 leaves ~1e-4 relative
    # error in the coefficients, so ask for more, as the reference does
    tol = 1e-6 if solver == "auto" else 1e-8
    Xf = sp.csr_matrix(X) if sparse else X
    ours = LogisticRegression(solver=solver, tol=tol, max_iter=1000, **common)
    ours.fit(Xf, y, sample_weight=sw)
    if weights == "dict":  # the objective helper knows 'balanced' only: fold the dict in
        sw = np.array([cw.get(c, 1.0) for c in y])
        ours.class_weight = ref.class_weight = None
    _assert_matches(ours, ref, X, y, sw)
    assert ours.coef_.shape == ref.coef_.shape and ours.intercept_.shape == ref.intercept_.shape


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weights", [None, "sample"])
def test_lbfgs_matches_sklearn(n_classes: int, weights: str | None) -> None:
    test_smooth_matches_sklearn(n_classes, True, True, weights, solver="lbfgs")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_no_penalty_matches_sklearn(n_classes: int) -> None:
    X, y = _data(n_classes, seed=3, n=600, p=4)
    X = X + np.random.default_rng(0).normal(scale=2.0, size=X.shape)  # not separable
    ref = _reference(C=np.inf).fit(X, y)
    ours = LogisticRegression(C=np.inf, tol=1e-7).fit(X, y)
    _assert_matches(ours, ref, X, y)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_float32_close_to_sklearn(n_classes: int) -> None:
    X, y = _data(n_classes)
    ref = _reference(C=0.5).fit(X, y)
    ours = LogisticRegression(C=0.5, dtype="float32", tol=1e-6).fit(X.astype(np.float32), y)
    assert ours.coef_.dtype == np.float32
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-3, atol=1e-4)
    assert _objective(ours, X, y) <= _objective(ref, X, y) * (1 + 1e-6)


@pytest.mark.parametrize(("n_classes", "l1_ratio"), [(2, 1.0), (2, 0.5), (3, 0.5), (4, 0.3)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_l1_elastic_net_match_saga(n_classes: int, l1_ratio: float, fit_intercept: bool) -> None:
    X, y = _data(n_classes, p=10)
    X = StandardScaler().fit_transform(X)  # saga needs scaled features to converge tightly
    common = {"C": 0.1, "l1_ratio": l1_ratio, "fit_intercept": fit_intercept}
    ref = SkLogisticRegression(solver="saga", tol=1e-10, max_iter=100_000, **common).fit(X, y)
    ours = LogisticRegression(tol=1e-8, **common).fit(X, y)
    _assert_matches(ours, ref, X, y)
    assert np.sum(ours.coef_ == 0) == np.sum(np.abs(ref.coef_) < 1e-10)


def test_multinomial_lasso_objective_matches_saga() -> None:
    # with an even number of classes the multinomial lasso optimum is not unique:
    # compare the objective reached, not the coefficients
    X, y = _data(4, p=10)
    X = StandardScaler().fit_transform(X)
    ref = SkLogisticRegression(solver="saga", l1_ratio=1.0, C=0.1, tol=1e-10, max_iter=100_000)
    ref.fit(X, y)
    ours = LogisticRegression(l1_ratio=1.0, C=0.1, tol=1e-8).fit(X, y)
    assert _objective(ours, X, y) <= _objective(ref, X, y) * (1 + 1e-8)


def test_large_n_path_matches_sklearn() -> None:
    # enough rows for the Newton solver to warm-start on a subsample and precondition
    # with a subsampled Hessian
    X, y = _data(3, n=30_000, p=5)
    ref = _reference().fit(X, y)
    ours = LogisticRegression(random_state=0, tol=1e-6).fit(X, y)
    _assert_matches(ours, ref, X, y)


def test_predictions_and_probabilities() -> None:
    X, y = _data(3)
    ours = LogisticRegression().fit(X, y)
    ref = _reference().fit(X, y)
    proba = ours.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(ours.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert np.mean(ours.predict(X) == ref.predict(X)) > 0.99
    assert ours.decision_function(X).shape == (len(y), 3)
    Xb, yb = _data(2)
    binary = LogisticRegression().fit(Xb, np.where(yb == 1, "yes", "no"))
    scores = binary.decision_function(Xb)
    assert scores.shape == (len(yb),)
    assert list(binary.predict(Xb[:3])) == list(np.where(scores[:3] > 0, "yes", "no"))
    assert binary.score(Xb, np.where(yb == 1, "yes", "no")) > 0.8


# --- sklearn tooling ---------------------------------------------------------------------------


def test_pipeline_gridsearch_cross_val() -> None:
    X, y = _data(3)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.6
    grid = GridSearchCV(pipe, {"logisticregression__C": [0.01, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["logisticregression__C"] in (0.01, 1.0)


def test_pandas_input_keeps_feature_names() -> None:
    X, y = _data(2)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = LogisticRegression().fit(df, y)
    assert list(model.feature_names_in_) == list(df.columns)
    plain = LogisticRegression().fit(X, y)
    assert not hasattr(plain, "feature_names_in_")
    np.testing.assert_allclose(model.predict_proba(df), plain.predict_proba(X), rtol=1e-12)


def test_warm_start_takes_fewer_iterations() -> None:
    X, y = _data(3)
    model = LogisticRegression(warm_start=True, solver="lbfgs", tol=1e-6).fit(X, y)
    first = model.n_iter_[0]
    model.fit(X, y)
    assert model.n_iter_[0] < first


# --- errors --------------------------------------------------------------------------------


def test_clear_errors() -> None:
    X, y = _data(2)
    bad = X.copy()
    bad[17, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(bad, y)
    bad[17, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        LogisticRegression().fit(bad, y)
    with pytest.raises(ValueError, match="only one class"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LogisticRegression().fit(X, y[:-1])
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :-1])
    with pytest.raises(ValueError, match="'C' parameter"):
        LogisticRegression(C=0).fit(X, y)
    with pytest.raises(ValueError, match="'l1_ratio' parameter"):
        LogisticRegression(l1_ratio=2).fit(X, y)
    with pytest.raises(ValueError, match="'solver' parameter"):
        LogisticRegression(solver="sag").fit(X, y)
    with pytest.raises(ValueError, match="'dtype' parameter"):
        LogisticRegression(dtype="int8").fit(X, y)
    with pytest.raises(ValueError, match="supports only a smooth penalty"):
        LogisticRegression(solver="lbfgs", l1_ratio=0.5).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        LogisticRegression().fit(X, y, sample_weight=-np.ones(len(y)))


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs", "proximal"])
def test_max_iter_warns(solver: str) -> None:
    X, y = _data(3)
    l1 = 0.5 if solver == "proximal" else 0.0
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        LogisticRegression(solver=solver, l1_ratio=l1, max_iter=1, tol=1e-12).fit(X, y)


# --- pickle-free state ----------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["int", "str", "binary-str"])
def test_state_round_trip(tmp_path: Path, labels: str) -> None:
    X, y = _data(2 if labels == "binary-str" else 3)
    if labels != "int":
        y = np.array(["cat", "dog", "eel"], dtype=object)[y]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = LogisticRegression(C=np.inf, class_weight={y[0]: 2.0}).fit(df, y)
    meta, arrays = model.to_state()
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    for name, arr in arrays.items():
        np.save(tmp_path / f"{name}.npy", arr, allow_pickle=False)
    meta2 = json.loads((tmp_path / "meta.json").read_text())
    arrays2 = {n: np.load(tmp_path / f"{n}.npy", allow_pickle=False) for n in arrays}
    loaded = LogisticRegression.from_state(meta2, arrays2)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))
    np.testing.assert_array_equal(loaded.predict_proba(df), model.predict_proba(df))
    assert list(loaded.feature_names_in_) == list(df.columns)
    assert loaded.classes_.dtype == model.classes_.dtype


def test_state_refuses_foreign_or_broken() -> None:
    X, y = _data(3)
    meta, arrays = LogisticRegression().fit(X, y).to_state()
    with pytest.raises(ValueError, match=r"not a polyclass\.LogisticRegression"):
        LogisticRegression.from_state({**meta, "format": "other"}, arrays)
    with pytest.raises(ValueError, match="inconsistent"):
        LogisticRegression.from_state(meta, {**arrays, "coef": arrays["coef"][:, :2]})


# --- the internal entry point for OvR / OvO ----------------------------------------------


def test_fit_binary_logistic_matches_sklearn() -> None:
    X, y = _data(2)
    w = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    est = LogisticRegression(C=0.5, tol=1e-6)
    coef, intercept, n_iter = fit_binary_logistic(est, X, y == 1, w)
    ref = _reference(C=0.5).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(coef, ref.coef_[0], rtol=1e-4, atol=1e-6)
    assert intercept == pytest.approx(ref.intercept_[0], rel=1e-4, abs=1e-6)
    assert n_iter > 0
    before = X.copy()
    coef_s, intercept_s, _ = fit_binary_logistic(est, sp.csr_matrix(X), y == 1, w)
    np.testing.assert_allclose(coef_s, coef, rtol=1e-4, atol=1e-5)
    assert intercept_s == pytest.approx(intercept, rel=1e-4, abs=1e-5)
    np.testing.assert_array_equal(X, before)


def test_fit_binary_logistic_is_thread_safe() -> None:
    X, y = _data(4, n=3000)
    est = LogisticRegression(C=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serial = [fit_binary_logistic(est, X, y == k, None) for k in range(4)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            parallel = list(pool.map(lambda k: fit_binary_logistic(est, X, y == k, None), range(4)))
    for (c1, b1, _), (c2, b2, _) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(c1, c2)
        assert b1 == b2


def test_fit_binary_logistic_needs_both_classes() -> None:
    X, _ = _data(2)
    with pytest.raises(ValueError, match="both a positive and a negative"):
        fit_binary_logistic(LogisticRegression(), X, np.ones(X.shape[0], dtype=bool), None)


def test_many_coefficient_lasso_matches_liblinear() -> None:
    # more than 600 coefficients: the accelerated proximal-gradient path
    rng = np.random.default_rng(0)
    X = sp.random(300, 700, density=0.05, format="csr", random_state=0)
    y = (X @ rng.normal(size=700) + 0.3 * rng.normal(size=300) > 0).astype(int)
    common = {"C": 2.0, "l1_ratio": 1.0, "fit_intercept": False}
    ref = SkLogisticRegression(
        solver="liblinear", tol=1e-9, max_iter=100_000, random_state=0, **common
    ).fit(X, y)
    ours = LogisticRegression(tol=1e-8, max_iter=5000, **common).fit(X, y)
    assert _objective(ours, X, y) <= _objective(ref, X, y) * (1 + 1e-8)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weights", [None, "shared", "per-problem"])
def test_fit_binary_logistic_batch_equals_separate_fits(sparse: bool, weights: str | None) -> None:
    X, y = _data(4, n=5000)  # > 2 row blocks, so the blocked Hessian product runs
    Xf = sp.csr_matrix(X) if sparse else X
    Y = np.stack([y == k for k in range(4)], axis=1)
    rng = np.random.default_rng(0)
    sw: Any = None
    if weights == "shared":
        sw = rng.uniform(0.5, 2.0, len(y))
    elif weights == "per-problem":
        sw = rng.uniform(0.5, 2.0, (len(y), 4))
        sw[y > 1, 0] = 0.0  # problem 0 sees classes 0 and 1 only, like one-vs-one
    est = LogisticRegression(C=0.3, tol=1e-8)
    coef, intercept, n_iter = fit_binary_logistic_batch(est, Xf, Y, sw)
    assert coef.shape == (4, X.shape[1]) and intercept.shape == (4,) and n_iter.shape == (4,)
    for k in range(4):
        w_k = None if sw is None else (sw if sw.ndim == 1 else sw[:, k])
        c_k, b_k, _ = fit_binary_logistic(est, Xf, Y[:, k], w_k)
        np.testing.assert_allclose(coef[k], c_k, rtol=1e-5, atol=1e-7)
        assert intercept[k] == pytest.approx(b_k, rel=1e-5, abs=1e-7)


def test_fit_binary_logistic_batch_refuses_one_sided_problem() -> None:
    X, y = _data(3)
    Y = np.stack([y == 0, np.zeros(len(y), dtype=bool)], axis=1)
    with pytest.raises(ValueError, match=r"problems \[1\] lack one"):
        fit_binary_logistic_batch(LogisticRegression(), X, Y, None)


def test_blas_limit_restored_after_threaded_fits() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    X, y = _data(3, n=2000)
    est = LogisticRegression()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda k: fit_binary_logistic(est, X, y == k, None), range(3)))
    assert blas_threads() == before


def test_float32_hessian_copy_fills_and_agrees() -> None:
    from polyclass.linear._design import DesignCopies
    from polyclass.linear._loss import _CHUNK_ROWS, LogisticLoss

    rng = np.random.default_rng(0)
    n = 2 * _CHUNK_ROWS + 1000  # walked in row blocks, the last one partial
    X = rng.normal(size=(n, 6))
    loss = LogisticLoss(X, rng.integers(0, 3, n), rng.random(n), 3, True, 1e-3)
    w = rng.normal(size=loss.n_coef) * 0.1
    state = loss.value_grad(loss.linear(w), w)[2]
    v = rng.normal(size=loss.n_coef)
    exact, U_exact = loss.hessp_u(state, v)
    loss.copies = DesignCopies(np.empty(X.shape, dtype=np.float32), filled=False)
    first, _ = loss.hessp_u(state, v)  # reads X, fills the copy
    assert loss.copies.filled
    np.testing.assert_array_equal(loss.copies.X, X.astype(np.float32))
    second, U_second = loss.hessp_u(state, v)  # reads the copy
    np.testing.assert_allclose(first, exact, rtol=1e-12)
    np.testing.assert_allclose(second, exact, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(U_second, U_exact, rtol=1e-5, atol=1e-5)


def test_large_dense_fit_with_float32_hessian_matches_sklearn() -> None:
    # n * p >= 2e6: Newton-CG reads a float32 copy of X in its Hessian products
    X, y = _data(3, n=40_000, p=50)
    ref = _reference(C=0.1).fit(X, y)
    ours = LogisticRegression(C=0.1, tol=1e-6, random_state=0).fit(X, y)
    _assert_matches(ours, ref, X, y)
