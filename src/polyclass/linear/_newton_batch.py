"""Newton-CG on a batch of independent binary logistic problems that share X.

One-vs-rest fits K binary problems on the same rows. Here every pass over X (the
linear predictor, the gradient's ``X.T @ R``, a Hessian-vector product) serves all the
problems of the batch at once, while each problem keeps its own solver state: its own
preconditioner refreshes, conjugate-gradient scalars and stopping test, line-search
step, convergence test and iteration count. A converged problem stops moving. So each
problem's result is the one :func:`polyclass.linear._newton.newton_cg` finds for it
alone (up to rounding), whatever else is in the batch; only the passes are shared.

This mirrors ``newton_cg`` step for step, including its draws from the random
generator (the warm-start row subsample, the preconditioner's subsample): a batch and
separate fits seeded alike take the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from polyclass.linear._design import DesignCopies, attach
from polyclass.linear._loss import Array, CurvatureState, LogisticLoss, dense_hessian
from polyclass.linear._newton import (
    _REFRESH_AFTER_CG,
    _WARM_FRACTION,
    _WARM_TOL,
    _cholesky,
    _Preconditioner,
    _subsample,
    _subsample_size,
    forcing_term,
    intercept_start,
    preconditioner_dtype,
)


@dataclass
class BatchSolveResult:
    """Per problem: coefficients (rows of W), iterations, convergence and message."""

    W: Array  # (m, q)
    n_iter: NDArray[np.int32]
    converged: NDArray[np.bool_]
    messages: list[str]


def _rowdot(A: Array, B: Array) -> Array:
    return np.asarray(np.einsum("kj,kj->k", A, B))


def _penalty(loss: LogisticLoss, W: Array) -> Array:
    Wp = W[:, : loss.p]
    return 0.5 * loss.l2v * _rowdot(Wp, Wp)


def _values(loss: LogisticLoss, Z: Array, W: Array) -> Array:
    """Each problem's objective (``LogisticLoss.value`` column by column)."""
    L = np.logaddexp(0.0, Z)
    L -= loss.y01 * Z
    L *= loss.sw
    return np.asarray(loss.column_sums(L) + _penalty(loss, W))


def _value_grad(loss: LogisticLoss, Z: Array, W: Array) -> tuple[Array, Array, CurvatureState]:
    """Per problem objective (m,), gradient (m, q) and the curvature state.

    ``LogisticLoss.value_grad``'s arithmetic, in three (n, m) buffers instead of six.
    """
    e = np.abs(Z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    L = np.log1p(e)
    T = np.maximum(Z, 0.0)
    L += T
    np.multiply(loss.y01, Z, out=T)
    L -= T
    L *= loss.sw
    f = np.asarray(loss.column_sums(L))
    # sigmoid(z) = 1/(1+e) for z >= 0, e/(1+e) for z < 0
    prob = L
    np.copyto(prob, e)
    np.copyto(prob, 1.0, where=Z >= 0)
    np.add(e, 1.0, out=T)
    prob /= T
    R = T
    np.subtract(prob, loss.y01, out=R)
    R *= loss.sw
    h = e
    np.subtract(1.0, prob, out=h)
    h *= prob
    h *= loss.sw
    del prob, L
    G = loss.back(R, loss.gradient_X()).reshape(loss.K, loss.q)
    if loss.l2 > 0:
        G[:, : loss.p] += loss.l2v[:, None] * W[:, : loss.p]
        f += _penalty(loss, W)
    return f, G, CurvatureState(h=h, P=None)


class _BlockPreconditioner:
    """``newton_cg``'s preconditioner, rebuilt problem by problem."""

    def __init__(self, loss: LogisticLoss, rng: np.random.Generator) -> None:
        self.loss = loss
        self.base = _Preconditioner(loss, rng)  # same subsample (same draw) or squared X
        self.factors: list[Any] = [None] * loss.K
        self.inv: list[Array | None] = [None] * loss.K
        self.built = np.zeros(loss.K, dtype=bool)

    @property
    def exact(self) -> bool:
        return self.base.sub is not None

    def refresh(self, W: Array, state: CurvatureState, blocks: NDArray[np.intp]) -> None:
        if blocks.size == 0:
            return
        loss, sub = self.loss, self.base.sub
        if sub is not None:
            w = W.ravel()
            sub_state = state if sub is loss else sub.value_grad(sub.linear(w), w)[2]
            for k in blocks.tolist():
                self.factors[k] = _cholesky(
                    dense_hessian(sub, sub_state, block=k, dtype=preconditioner_dtype(sub))
                )
        else:
            assert self.base.X2 is not None
            d = loss.hessian_diag(state, self.base.X2).reshape(loss.K, loss.q)
            for k in blocks.tolist():
                dk = d[k].copy()
                dk[dk <= 0] = 1.0
                self.inv[k] = 1.0 / dk
        self.built[blocks] = True

    def apply(self, R: Array, blocks: NDArray[np.intp]) -> Array:
        """``M^{-1} r`` for the rows ``blocks`` of R (the other rows are zero)."""
        Z = np.zeros_like(R)
        for k in blocks.tolist():
            if self.exact:
                factor = self.factors[k]
                Z[k] = (
                    R[k]
                    if factor is None
                    else scipy.linalg.cho_solve(factor, R[k], check_finite=False)
                )
            else:
                inv = self.inv[k]
                assert inv is not None
                Z[k] = R[k] * inv
        return Z


def _hessp_rows(
    loss: LogisticLoss, state: CurvatureState, D: Array, rows: NDArray[np.intp]
) -> tuple[Array, Array]:
    """Hessian products with the rows ``rows`` of D (m, q), the others taken as zero:
    ``H D`` (m, q), zero outside ``rows``, and ``U`` (n, len(rows)) for those rows.

    Problems whose CG has stopped leave the product: a sparse product's cost grows with
    its columns (SciPy's CSC product: about 5 + 2.8 k ms for k columns on 100,000 x
    20,000 with 9.6M entries), and their rows of D are zero anyway.
    """
    m = loss.K
    if rows.size == m:
        H, U = loss.hessp_u(state, D.ravel())
        return H.reshape(m, loss.q), U
    sub, sub_state = loss.problems(state, rows)
    H_rows, U = sub.hessp_u(sub_state, D[rows].ravel())
    H = np.zeros_like(D)
    H[rows] = H_rows.reshape(rows.size, loss.q)
    return H, U


def _pcg_batch(
    loss: LogisticLoss,
    state: CurvatureState,
    B: Array,
    precond: _BlockPreconditioner,
    rtol: Array,
    maxiter: int,
    active: NDArray[np.bool_],
) -> tuple[Array, Array, NDArray[np.int64]]:
    """``newton_cg``'s ``pcg`` for each active row of B; one Hessian product per step.

    Returns the solutions (m, q), their linear predictors (n, m) and CG iterations.
    Inactive rows (and their columns) stay zero.
    """
    m = loss.K
    x = np.zeros_like(B)
    Ux = np.zeros((loss.n, m))
    iters = np.zeros(m, dtype=np.int64)
    run = active.copy()
    r = B.copy()
    idx = np.flatnonzero(run)
    z = precond.apply(r, idx)
    d = z.copy()
    rz = _rowdot(r, z)
    bnorm = np.linalg.norm(B, axis=1)
    for i in range(1, maxiter + 1):
        cols = np.flatnonzero(run)
        Hd, Ud = _hessp_rows(loss, state, d, cols)
        dHd = _rowdot(d, Hd)
        flat = run & ~(dHd > 0)  # flat or numerically negative curvature: stop there
        if flat.any():
            if i == 1:
                x[flat] = d[flat]
                Ux[:, flat] = Ud[:, np.searchsorted(cols, np.flatnonzero(flat))]
            iters[flat] = i
            run &= ~flat
        alpha = np.zeros(m)
        alpha[run] = rz[run] / dHd[run]
        x += alpha[:, None] * d
        Ud *= alpha[cols]
        if cols.size == m:
            Ux += Ud
        else:
            Ux[:, cols] += Ud
        del Ud
        r -= alpha[:, None] * Hd
        done = run & (np.linalg.norm(r, axis=1) <= rtol * bnorm)
        iters[done] = i
        run &= ~done
        if not run.any():
            return x, Ux, iters
        idx = np.flatnonzero(run)
        z = precond.apply(r, idx)
        rz_new = _rowdot(r, z)
        beta = np.zeros(m)
        beta[run] = rz_new[run] / rz[run]
        d *= beta[:, None]  # stopped rows become zero
        d += z
        rz = np.where(run, rz_new, rz)
    iters[run] = maxiter
    return x, Ux, iters


def newton_cg_batch(
    loss: LogisticLoss,
    tol: float,
    max_iter: int,
    rng: np.random.Generator,
    verbose: int = 0,
    allow_warm_subsample: bool = True,
    half_precision_hessian: bool = False,
    W0: Array | None = None,
    x_hess: DesignCopies | None = None,
) -> BatchSolveResult:
    """Minimise each binary problem of the batch ``loss`` (2-D y) from zero or ``W0``.

    ``x_hess`` holds float32 copies of X made by the caller (shared by several
    batches); they replace the ones ``half_precision_hessian`` would make.
    """
    m, q = loss.K, loss.q
    W = np.zeros((m, q)) if W0 is None else W0.copy()
    if allow_warm_subsample and not W.any() and loss.n > 8 * _subsample_size(loss):
        # newton_cg's warm start: solve a row subsample first (same draw)
        n_sub = max(4 * _subsample_size(loss), loss.n // _WARM_FRACTION)
        rows = np.sort(rng.choice(loss.n, size=n_sub, replace=False))
        sub = _subsample(loss, rows)
        res = newton_cg_batch(sub, max(tol, _WARM_TOL), max_iter, rng, 0, True)
        finite = np.all(np.isfinite(res.W), axis=1)
        W[finite] = res.W[finite]
        del sub, res
    zero = ~W.any(axis=1)
    if zero.any():  # as newton_cg starts each problem from zero
        W[zero] = intercept_start(loss)[zero]
    attach(loss, half_precision_hessian, tol, shared=x_hess)
    precond = _BlockPreconditioner(loss, rng)
    Z = loss.linear(W.ravel())
    f, G, state = _value_grad(loss, Z, W)
    exact_z = loss.X.dtype == np.float64
    active = np.ones(m, dtype=bool)
    n_iter = np.full(m, max_iter, dtype=np.int32)
    converged = np.zeros(m, dtype=bool)
    messages = [""] * m
    last_cg = np.zeros(m, dtype=np.int64)
    cg_maxiter = max(20, min(q, 200))
    gmax = np.zeros(m)
    for it in range(max_iter + 1):
        gmax = np.max(np.abs(G), axis=1)
        if verbose:
            print(
                f"newton-cg batch iter {it}: {int(active.sum())} of {m} problems active, "
                f"objective {float(f[active].sum()) if active.any() else 0.0:.12g}, "
                f"max |grad| {float(gmax[active].max()) if active.any() else 0.0:.3g}"
            )
        done = active & (gmax <= tol)
        n_iter[done] = it
        converged[done] = True
        active &= ~done
        if not active.any() or it == max_iter:
            break
        idx = np.flatnonzero(active)
        precond.refresh(W, state, idx[~precond.built[idx] | (last_cg[idx] > _REFRESH_AFTER_CG)])
        gnorm = np.linalg.norm(G, axis=1)
        rtol = forcing_term(gnorm, gmax, tol, precond.exact)
        B = -G * active[:, None]
        D, U, cg_iters = _pcg_batch(loss, state, B, precond, rtol, cg_maxiter, active)
        last_cg[active] = cg_iters[active]
        gd = _rowdot(G, D)
        fallback = active & ~(gd < 0)
        if fallback.any():
            D[fallback] = -G[fallback]
            gd[fallback] = _rowdot(G[fallback], D[fallback])
            Dfb = np.zeros_like(D)
            Dfb[fallback] = D[fallback]
            U[:, fallback] = loss.linear(Dfb.ravel())[:, fallback]
        # the full step usually passes: evaluate it with its gradient straight away.
        # Memory: the old curvature state is not needed again, and Z + U goes into U.
        state.h = None
        W_t = W + D
        if exact_z:
            U += Z
            Z_t = U
            del U
        else:
            Z_t = loss.linear(W_t.ravel())
        f_t, G_t, state_t = _value_grad(loss, Z_t, W_t)
        accept = active & (f_t <= f + 1e-4 * gd)
        back = active & ~accept
        if not back.any():
            W, Z, f, G, state = W_t, Z_t, f_t, G_t, state_t
            del W_t, Z_t, f_t, G_t, state_t
            continue
        del state_t
        if exact_z:  # rare: some problems backtrack along U, recovered to rounding
            U = Z_t - Z
        W[accept] = W_t[accept]
        Z[:, accept] = Z_t[:, accept]
        del W_t, Z_t, f_t, G_t
        t = np.where(back, 0.5, 0.0)
        step = np.zeros(m)
        pending = back.copy()
        for _ in range(40):
            tp = np.where(pending, t, 0.0)
            values = _values(loss, Z + U * tp, W + tp[:, None] * D)
            ok = pending & (values <= f + 1e-4 * t * gd)
            step[ok] = t[ok]
            pending &= ~ok
            if not pending.any():
                break
            t[pending] *= 0.5
        for k in np.flatnonzero(pending).tolist():
            n_iter[k] = it + 1
            messages[k] = "line search could not decrease the objective"
        active &= ~pending
        W += step[:, None] * D
        if exact_z:
            U *= step
            Z += U
        else:
            Z = loss.linear(W.ravel())
        del U
        f, G, state = _value_grad(loss, Z, W)
    for k in np.flatnonzero(active).tolist():
        messages[k] = f"reached max_iter={max_iter} with max |gradient| {gmax[k]:.3g} > tol={tol:g}"
    return BatchSolveResult(W, n_iter, converged, messages)
