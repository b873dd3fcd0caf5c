"""fit_binary_logistic_batch: m binary problems in shared passes, each as if fitted alone."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from polyclass import LogisticRegression
from polyclass.linear._design import DesignCopies, attach, shared_copies
from polyclass.linear._logistic import (
    fit_binary_logistic,
    fit_binary_logistic_batch,
    uses_newton,
)
from polyclass.linear._loss import LogisticLoss


def hessian_copy(est: Any, X: Any, n_columns: int) -> DesignCopies | None:
    """The copies a batch of ``est`` on ``X`` with ``n_columns`` problems would share."""
    return shared_copies(X, n_columns, uses_newton(est, X))


def _problems(n: int, p: int = 6, k: int = 4, seed: int = 0) -> tuple[Any, Any]:
    X, y = make_classification(
        n_samples=n,
        n_features=p,
        n_informative=min(4, p),
        n_redundant=0,
        n_classes=k,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return X, np.stack([y == c for c in range(k)], axis=1)


def _weights(kind: str | None, Y: Any) -> Any:
    rng = np.random.default_rng(1)
    n, m = Y.shape
    if kind == "shared":
        return rng.uniform(0.2, 3.0, n)
    if kind == "per-problem":
        sw = rng.uniform(0.2, 3.0, (n, m))
        sw[Y[:, 2], 0] = 0.0  # a zero weight leaves a row out, as one-vs-one does
        sw[Y[:, 3], 1] = 0.0
        return sw
    return None


def _separate(est: Any, X: Any, Y: Any, sw: Any) -> list[tuple[Any, float, int]]:
    return [
        fit_binary_logistic(
            est, X, Y[:, k], None if sw is None else (sw if sw.ndim == 1 else sw[:, k])
        )
        for k in range(Y.shape[1])
    ]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weights", [None, "shared", "per-problem"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_each_problem_is_its_separate_fit(
    sparse: bool, weights: str | None, fit_intercept: bool, tol: float
) -> None:
    # tol=1e-4: the problems stop at different iterations, so a solver that stopped
    # them together would differ from the separate fits by ~tol, not by rounding
    X, Y = _problems(600)
    Xf = sp.csr_matrix(X) if sparse else X
    sw = _weights(weights, Y)
    est = LogisticRegression(C=0.5, tol=tol, fit_intercept=fit_intercept)
    coef, intercept, n_iter = fit_binary_logistic_batch(est, Xf, Y, sw)
    for k, (c_k, b_k, it_k) in enumerate(_separate(est, Xf, Y, sw)):
        assert_allclose(coef[k], c_k, rtol=0, atol=1e-12)
        assert intercept[k] == pytest.approx(b_k, rel=0, abs=1e-12)
        assert n_iter[k] == it_k


def test_result_does_not_depend_on_the_other_problems() -> None:
    X, Y = _problems(800, k=5, seed=2)
    est = LogisticRegression(tol=1e-4)
    whole = fit_binary_logistic_batch(est, X, Y, None)
    parts = [fit_binary_logistic_batch(est, X, Y[:, cols], None) for cols in ([0, 1], [2, 3, 4])]
    assert_allclose(whole[0], np.vstack([part[0] for part in parts]), rtol=0, atol=1e-13)
    assert_array_equal(whole[2], np.concatenate([part[2] for part in parts]))


def test_warm_start_and_subsampled_preconditioner_match_separate_fits() -> None:
    # n > 16,000 rows: both fits first solve a row subsample and precondition with a
    # subsampled Hessian; seeded alike, they draw the same rows
    X, Y = _problems(20_000, p=5, k=3, seed=3)
    est = LogisticRegression(tol=1e-6, random_state=0)
    coef, intercept, _ = fit_binary_logistic_batch(est, X, Y, None, copy_for_hessian=False)
    for k, (c_k, b_k, _) in enumerate(_separate(est, X, Y, None)):
        assert_allclose(coef[k], c_k, rtol=1e-9, atol=1e-11)
        assert intercept[k] == pytest.approx(b_k, rel=1e-9, abs=1e-11)


def _check_float32_copies(est: Any, X: Any, Y: Any, copy: Any) -> tuple[Any, float]:
    """The batch fitted with its own float32 copies, and with ``copy``, matches the
    exact-Hessian fit; returns its coefficients and their scale."""
    own = fit_binary_logistic_batch(est, X, Y, None)
    shared = fit_binary_logistic_batch(est, X, Y, None, hessian_X=copy)
    exact = fit_binary_logistic_batch(est, X, Y, None, copy_for_hessian=False)
    scale = float(np.abs(exact[0]).max())
    assert_allclose(own[0], exact[0], atol=1e-5 * scale)
    assert_allclose(shared[0], exact[0], atol=1e-5 * scale)
    return own[0], scale


def test_shared_float32_copy_for_hessian_products() -> None:
    X, Y = _problems(40_000, p=50, k=2, seed=4)  # n * p >= 2e6: the float32 copy is used
    est = LogisticRegression(tol=1e-6, random_state=0)
    copy = hessian_copy(est, X, 2)
    assert copy is not None and copy.forward is None
    assert copy.X.dtype == np.float32 and copy.X.shape == X.shape
    assert hessian_copy(est, X[:1000], 2) is None  # too small to be worth it
    assert hessian_copy(est, sp.csr_matrix(X[:1000]), 2) is None
    _check_float32_copies(est, X, Y, copy)


def test_lbfgs_runs_separate_fits() -> None:
    X, Y = _problems(300)
    est = LogisticRegression(solver="lbfgs", tol=1e-6)
    coef, intercept, n_iter = fit_binary_logistic_batch(est, X, Y, None)
    for k, (c_k, b_k, it_k) in enumerate(_separate(est, X, Y, None)):
        assert_array_equal(coef[k], c_k)
        assert intercept[k] == b_k and n_iter[k] == it_k


def test_non_convergence_is_reported_per_problem() -> None:
    X, Y = _problems(300)
    with pytest.warns(ConvergenceWarning, match="did not converge on 4 of 4"):
        _, _, n_iter = fit_binary_logistic_batch(
            LogisticRegression(max_iter=1, tol=1e-14), X, Y, None
        )
    assert_array_equal(n_iter, [1, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_binary_logistic_batch(LogisticRegression(max_iter=100), X, Y, None)


def test_float32_X() -> None:
    X, Y = _problems(500)
    est = LogisticRegression(tol=1e-6)
    coef32, _, _ = fit_binary_logistic_batch(est, X.astype(np.float32), Y, None)
    coef64, _, _ = fit_binary_logistic_batch(est, X, Y, None)
    assert_allclose(coef32, coef64, atol=1e-4)


@pytest.mark.slow
def test_sparse_batch_reads_float32_csr_and_csc_copies() -> None:
    """A large sparse batch's Hessian products read float32 copies (CSC for X @ V);
    the models match the exact-Hessian fit and the one-by-one fits."""
    rng = np.random.default_rng(5)
    n, p = 10_000, 2_000
    X = sp.random(n, p, density=0.1, format="csr", random_state=5, dtype=np.float64)
    W = rng.normal(size=(3, p)) * 3.0
    Y = np.asarray(X @ W.T) + rng.logistic(size=(n, 3)) > 0
    est = LogisticRegression(tol=1e-10, random_state=0)
    copy = hessian_copy(est, X, 3)
    assert copy is not None and X.nnz >= 2_000_000
    assert copy.X.dtype == np.float32 and sp.issparse(copy.X) and copy.X.format == "csr"
    assert copy.forward is not None and copy.forward.format == "csc"
    single = hessian_copy(est, X, 1)
    assert single is not None and single.forward is None
    own, scale = _check_float32_copies(est, X, Y, copy)
    for k, (c_k, _, _) in enumerate(_separate(est, X, Y, None)):
        assert_allclose(own[k], c_k, atol=1e-5 * scale)


@pytest.mark.parametrize(("tol", "from_copy"), [(1e-4, True), (1e-6, True), (1e-8, False)])
def test_gradients_read_the_float32_copy_only_at_loose_tol(tol: float, from_copy: bool) -> None:
    X, Y = _problems(40_000, p=50, k=2, seed=6)  # large enough for the copy
    exact = LogisticLoss(X, Y, None, 2, True, 1e-5)
    loss = LogisticLoss(X, Y, None, 2, True, 1e-5)
    attach(loss, True, tol)
    copies = loss.copies
    assert copies is not None
    # at a loose tol everything reads the copy, filled at once; else the first Hessian
    # product fills it and only Hessian products read it
    assert copies.filled is from_copy
    assert loss.gradient_X() is (copies.X if from_copy else loss.X)
    w = np.full(loss.n_coef, 0.01)
    Z = loss.linear(w)
    _, g, state = loss.value_grad(Z, w)
    loss.hessp_u(state, w)
    assert copies.filled
    assert loss.gradient_X() is (copies.X if from_copy else loss.X)
    np.testing.assert_array_equal(copies.X, X.astype(np.float32))
    # the copy moves Z and the gradient by float32 rounding only (relative to their
    # entries; absolute near an optimum, where they are small), far below such a tol
    Z_exact = exact.linear(w)
    _, g_exact, _ = exact.value_grad(Z_exact, w)
    assert_allclose(Z, Z_exact, rtol=1e-6, atol=1e-7)
    assert_allclose(g, g_exact, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_sparse_multinomial_reads_float32_copies() -> None:
    """A large sparse multinomial loss's Hessian products read the float32 CSR and CSC
    copies and agree with the exact ones; the fit reaches the exact-Hessian fit's model."""
    from polyclass.linear._logistic import _solve

    rng = np.random.default_rng(7)
    n, p = 10_000, 2_000
    X = sp.random(n, p, density=0.1, format="csr", random_state=7, dtype=np.float64)
    y = np.argmax(np.asarray(X @ rng.normal(size=(p, 4))) + rng.gumbel(size=(n, 4)), axis=1)
    loss = LogisticLoss(X, y, None, 4, True, 1e-4)
    w = rng.normal(size=loss.n_coef) * 0.1
    state = loss.value_grad(loss.linear(w), w)[2]
    v = rng.normal(size=loss.n_coef)
    exact, U_exact = loss.hessp_u(state, v)
    attach(loss, True, 1e-4)
    assert loss.copies is not None
    assert loss.copies.X.dtype == np.float32 and loss.copies.forward.format == "csc"
    approx, U_approx = loss.hessp_u(state, v)
    assert_allclose(approx, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())
    assert_allclose(U_approx, U_exact, rtol=1e-5, atol=1e-5 * np.abs(U_exact).max())
    est = LogisticRegression(tol=1e-10, random_state=0)
    with_copies = _solve(est, X, y, 4, None, None, copy_for_hessian=True).w
    exact_w = _solve(est, X, y, 4, None, None, copy_for_hessian=False).w
    assert_allclose(with_copies, exact_w, atol=1e-5 * np.abs(exact_w).max())


@pytest.mark.slow
def test_sparse_batch_on_row_blocks_in_threads_fits_the_same_models() -> None:
    """n_jobs > 1 on a large sparse X: the batch's products run on row blocks of the
    float32 copies in threads; the models equal the one-thread batch's."""
    from concurrent.futures import ThreadPoolExecutor

    from polyclass.linear._design import row_block_copies
    from polyclass.linear._multiclass_common import _fit_sparse_batch
    from polyclass.linear._rowblocks import RowBlocks, csr_row_views

    rng = np.random.default_rng(8)
    n, p = 10_000, 2_000
    X = sp.random(n, p, density=0.1, format="csr", random_state=8, dtype=np.float64)
    Y = np.asarray(X @ rng.normal(size=(p, 3))) + rng.logistic(size=(n, 3)) > 0
    blocks = csr_row_views(X, 3)
    assert sum(b.shape[0] for b in blocks) == n
    assert all(np.shares_memory(b.data, X.data) for b in blocks)  # views, not copies
    assert_allclose(sp.vstack(blocks).toarray(), X.toarray())
    with ThreadPoolExecutor(2) as pool:
        copy = row_block_copies(X, 3, pool, 2)
        assert copy is not None and isinstance(copy.X, RowBlocks)
        assert isinstance(copy.forward, RowBlocks)
        V = rng.normal(size=(p, 3)).astype(np.float32)
        R = rng.normal(size=(n, 3)).astype(np.float32)
        X32 = X.astype(np.float32)
        assert_allclose(copy.forward @ V, X32 @ V, rtol=1e-5, atol=1e-5)
        assert_allclose(copy.X.T @ R, X32.T @ R, rtol=1e-5, atol=1e-4)
    est = LogisticRegression(tol=1e-10, random_state=0)
    one = _fit_sparse_batch(est, X, Y, None, 1)
    two = _fit_sparse_batch(est, X, Y, None, 2)
    scale = np.abs(one[0]).max()
    assert_allclose(two[0], one[0], atol=1e-6 * scale)
    assert_allclose(two[1], one[1], atol=1e-6 * scale)
