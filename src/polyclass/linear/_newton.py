"""Line-search Newton-CG for the smooth logistic objective.

Each outer step solves ``H d = -g`` approximately by preconditioned conjugate
gradients with exact Hessian-vector products (one read of a dense X each, in
cache-sized row blocks), then does an Armijo backtracking search along ``d`` on the
linear predictor ``Z + t * X d``. CG accumulates ``X d`` from its products, so a trial
step costs no pass over X. The preconditioner is the exact Hessian on a row subsample
(Cholesky-factorised) when the coupled coefficients are few and X is dense, else the
Hessian's diagonal. When n is much larger than the subsample, the solver first solves a
row subsample (1/32 of the rows, at least four preconditioner subsamples; recursively)
and starts from its solution. For a large dense float64 X it may read a float32 copy
of X in the Hessian products only (half the memory traffic; the products, and the
``X d`` increments, are then float32-accurate, while every gradient and objective
value is computed in float64 from X itself).

Stops when the largest absolute gradient entry is at most ``tol`` (scikit-learn's
criterion on the same scaled objective).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from polyclass.linear._design import attach
from polyclass.linear._loss import Array, CurvatureState, LogisticLoss, dense_hessian

Precond = Callable[[Array], Array]

# The exact Hessian as preconditioner is used up to this many coefficients ...
_MAX_DENSE_COEF = 600
# ... computed on at most this many rows (and at least ROWS_PER_COEF per coefficient).
_MIN_SUBSAMPLE = 2000
_ROWS_PER_COEF = 8
# A cached preconditioner is rebuilt when CG needed more iterations than this.
_REFRESH_AFTER_CG = 3
# The warm start solves a 1/_WARM_FRACTION row subsample first (recursively), to max
# |gradient| <= _WARM_TOL at most: its optimum's gradient on all rows is ~5e-3 on the
# benchmarks (sampling error), so solving it further is wasted.
_WARM_FRACTION = 32
_WARM_TOL = 1e-3
# The last Newton step's CG aims at this fraction of tol (see forcing_term).
_TOL_MARGIN = 0.25
# Smallest subsampled Hessian (rows x coupled coefficients ** 2) built in float32.
_FLOAT32_HESSIAN_MIN_FLOPS = 50_000_000


def intercept_start(loss: LogisticLoss) -> Array:
    """The start (K, q) with zero coefficients and the intercept-only model's intercepts:
    the log-odds of each problem's weighted positive fraction (binary problems only;
    zeros otherwise). Costs no pass over X and saves Newton a step or more."""
    W = np.zeros((loss.K, loss.q))
    # not for the multinomial loss: the centred log class frequencies measured no faster
    if loss.fit_intercept and loss.binary:
        pos = np.sum(loss.sw * loss.y01, axis=0)  # sw sums to one per problem
        pos = np.clip(pos, 1e-12, 1.0 - 1e-12)
        W[:, loss.p] = np.log(pos) - np.log1p(-pos)
    return W


@dataclass
class SolveResult:
    w: Array
    n_iter: int
    converged: bool
    message: str


def _block_size(loss: LogisticLoss) -> int:
    """Coefficients coupled in the Hessian: one problem's for a binary batch, else all."""
    return int(loss.q if loss.binary else loss.n_coef)


def _subsample_size(loss: LogisticLoss) -> int:
    return int(max(_MIN_SUBSAMPLE, _ROWS_PER_COEF * _block_size(loss)))


def exact_preconditioner_rows(n_coef: int) -> int:
    """The most rows on which a binary problem of ``n_coef`` coefficients (a dense X) is
    preconditioned by its exact Hessian: no row subsample is drawn."""
    if n_coef > _MAX_DENSE_COEF:
        return 0
    return int(max(_MIN_SUBSAMPLE, _ROWS_PER_COEF * n_coef))


def _subsample(loss: LogisticLoss, rows: np.ndarray) -> LogisticLoss:
    X = loss.X[rows]
    y = loss.y01 if loss.binary else loss.y_codes
    # the constructor renormalises the weights: the subsample's mean loss estimates the
    # full one, under the same penalty
    return LogisticLoss(
        X, y[rows], loss.sw[rows], 2 if loss.binary else loss.K, loss.fit_intercept, loss.l2v
    )


def hessian_on_rows(
    loss: LogisticLoss, rng: np.random.Generator, rows_factor: int = 4
) -> Callable[[Array, CurvatureState], Array]:
    """The full Hessian as a function of the point, exact when n is moderate, else on
    a random row subsample of ``rows_factor`` times the preconditioner's size."""
    m = rows_factor * _subsample_size(loss)
    if m >= loss.n:
        return lambda w, state: dense_hessian(loss, state)
    rows = np.sort(rng.choice(loss.n, size=m, replace=False))
    sub = _subsample(loss, rows)  # its weights are renormalised to the full problem's scale
    return lambda w, state: dense_hessian(sub, sub.value_grad(sub.linear(w), w)[2])


def preconditioner_dtype(sub: LogisticLoss) -> type[np.floating[Any]]:
    """float32 for a subsampled Hessian costly enough for it to matter (about twice as
    fast), else float64, whose sums do not depend on the order of the rows (one-vs-one's
    fast and generic paths take a pair's rows in different orders)."""
    size = sub.n * _block_size(sub) ** 2
    return np.float32 if size >= _FLOAT32_HESSIAN_MIN_FLOPS else np.float64


def _cholesky(H: Array) -> Any:
    """Cholesky factor of ``H`` plus a tiny ridge, or None if it still fails."""
    ridge = 1e-10 * max(float(np.trace(H)) / H.shape[0], 1e-300)
    H[np.diag_indices_from(H)] += ridge
    try:
        return scipy.linalg.cho_factor(H, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None


def subsample_preconditioner(
    sub: LogisticLoss, state: CurvatureState, project: Callable[[Array], Array]
) -> Precond:
    """The exact Hessian of a row subsample as a preconditioner for :func:`pcg`.

    One Cholesky factor per binary problem of a batch, one for the multinomial problem.

    Parameters
    ----------
    sub : LogisticLoss
        The loss on the subsampled rows, carrying the full problem's penalty.
    state : CurvatureState
        ``sub``'s curvature at the current point (from ``sub.value_grad``).
    project : callable
        Applied to each solution, e.g. ``LogisticLoss.project`` (removes the directions
        the multinomial objective is flat along).

    Returns
    -------
    callable
        ``r -> project(M^{-1} r)``, with ``M`` the Hessian of ``sub`` at that point.
    """
    blocks = range(sub.K) if sub.binary else [None]
    dtype = preconditioner_dtype(sub)
    factors = [_cholesky(dense_hessian(sub, state, block=k, dtype=dtype)) for k in blocks]
    size = _block_size(sub)

    def solve(r: Array) -> Array:
        z = np.empty_like(r)
        for k, factor in enumerate(factors):
            part = r[k * size : (k + 1) * size]
            z[k * size : (k + 1) * size] = (
                part if factor is None else scipy.linalg.cho_solve(factor, part, check_finite=False)
            )
        return project(z)

    return solve


class _Preconditioner:
    """Builds ``M^{-1}`` at the current point."""

    def __init__(self, loss: LogisticLoss, rng: np.random.Generator) -> None:
        self.loss = loss
        self.sub: LogisticLoss | None = None
        self.X2: np.ndarray | sp.spmatrix | None = None
        dense = not sp.issparse(loss.X)
        if dense and _block_size(loss) <= _MAX_DENSE_COEF:
            m = _subsample_size(loss)
            if m >= loss.n:
                self.sub = loss
            else:
                rows = np.sort(rng.choice(loss.n, size=m, replace=False))
                self.sub = _subsample(loss, rows)
        elif sp.issparse(loss.X):
            # float32 is plenty for a preconditioner; the index arrays are X's own
            X: Any = loss.X
            data2 = np.square(X.data, dtype=np.float32)
            self.X2 = sp.csr_matrix((data2, X.indices, X.indptr), shape=X.shape)
        else:
            self.X2 = np.square(loss.X)

        self.cached: Precond | None = None

    def __call__(self, w: Array, state: CurvatureState, last_cg: int) -> Precond:
        if self.cached is None or last_cg > _REFRESH_AFTER_CG:
            self.cached = self._build(w, state)
        return self.cached

    def _build(self, w: Array, state: CurvatureState) -> Precond:
        loss = self.loss
        if self.sub is not None:
            sub = self.sub
            sub_state = state if sub is loss else sub.value_grad(sub.linear(w), w)[2]
            return subsample_preconditioner(sub, sub_state, loss.project)
        assert self.X2 is not None
        d = loss.hessian_diag(state, self.X2)
        d[d <= 0] = 1.0
        inv = 1.0 / d
        return lambda r: loss.project(r * inv)


def forcing_term(gnorm: Any, gmax: Any, tol: float, exact_precond: bool) -> Any:
    """CG's relative residual target for one Newton step (scalars or per-problem arrays).

    Superlinear close to the optimum (``sqrt(||g||)``, scaled up when CG steps are dear,
    as with the diagonal preconditioner), but never tighter than the step needs to bring
    max |gradient| under ``tol``: CG's residual is the gradient of the quadratic model at
    the step, so a relative residual of ``_TOL_MARGIN * tol / max|g|`` leaves a margin for
    the model's error and for the max norm against the 2-norm. Without this floor the last
    step oversolves (10 CG steps where 3 do on the sparse benchmark).
    """
    scale = 1.0 if exact_precond else 3.0
    floor = _TOL_MARGIN * tol / np.maximum(gmax, 1e-300)
    return np.minimum(0.5, np.maximum(scale * np.sqrt(gnorm), floor))


def pcg(
    hessp_u: Callable[[Array], tuple[Array, Array | None]],
    b: Array,
    precond: Precond,
    rtol: float,
    maxiter: int,
) -> tuple[Array, Array | None, int]:
    """Preconditioned conjugate gradients for ``H x = b``, from ``x = 0``.

    Stops at a relative residual of ``rtol``, after ``maxiter`` iterations, or at flat or
    negative curvature (then the last iterate, or the preconditioned gradient if that
    happens at once).

    Parameters
    ----------
    hessp_u : callable
        ``d -> (H d, linear predictor of d)``; accumulating the latter gives the
        solution's linear predictor without another pass over X. It may return None for
        it (a loss spread over a cluster), and then None comes back.
    b : ndarray of shape (n_coef,)
        The right-hand side (the negative gradient, for a Newton step).
    precond : callable
        ``r -> M^{-1} r``, e.g. from :func:`subsample_preconditioner`.
    rtol : float
        Target of ``||r|| / ||b||``.
    maxiter : int
        Most iterations.

    Returns
    -------
    x : ndarray of shape (n_coef,)
        The approximate solution.
    Ux : ndarray or None
        Its linear predictor (None when ``hessp_u`` gives none).
    iterations : int
        Iterations taken.
    """
    x = np.zeros_like(b)
    Ux: Array | None = None
    r = b.copy()
    z = precond(r)
    d = z.copy()
    rz = float(r @ z)
    bnorm = float(np.linalg.norm(b))
    for i in range(1, maxiter + 1):
        Hd, Ud = hessp_u(d)
        dHd = float(d @ Hd)
        if dHd <= 0:  # flat or numerically negative curvature: stop here
            if i == 1:
                return d, Ud, i
            return x, Ux, i
        alpha = rz / dHd
        x += alpha * d
        if Ud is not None and Ux is None:
            Ux = alpha * Ud
        elif Ud is not None and Ux is not None:
            Ux += alpha * Ud
        r -= alpha * Hd
        if np.linalg.norm(r) <= rtol * bnorm:
            return x, Ux, i
        z = precond(r)
        rz_new = float(r @ z)
        d *= rz_new / rz
        d += z
        rz = rz_new
    return x, Ux, maxiter


def newton_cg(
    loss: LogisticLoss,
    w0: Array,
    tol: float,
    max_iter: int,
    rng: np.random.Generator,
    verbose: int = 0,
    allow_warm_subsample: bool = True,
    half_precision_hessian: bool = False,
) -> SolveResult:
    """Minimise ``loss`` from ``w0``; see the module docstring."""
    w = w0.copy()
    if allow_warm_subsample and not w.any() and loss.n > 8 * _subsample_size(loss):
        # Solve a 1/32 row subsample first; Newton then needs few full steps.
        m = max(4 * _subsample_size(loss), loss.n // _WARM_FRACTION)
        rows = np.sort(rng.choice(loss.n, size=m, replace=False))
        sub = _subsample(loss, rows)
        res = newton_cg(sub, w, max(tol, _WARM_TOL), max_iter, rng, 0, allow_warm_subsample=True)
        if np.all(np.isfinite(res.w)):
            w = res.w
        del sub
    if not w.any():
        w = intercept_start(loss).ravel()
    attach(loss, half_precision_hessian, tol)
    precond_builder = _Preconditioner(loss, rng)
    Z = loss.linear(w)
    f, g, state = loss.value_grad(Z, w)
    exact_z = loss.X.dtype == np.float64
    message = ""
    last_cg = 0
    for it in range(max_iter + 1):
        gmax = float(np.max(np.abs(g))) if g.size else 0.0
        if verbose:
            print(f"newton-cg iter {it}: objective {f:.12g}, max |grad| {gmax:.3g}")
        if gmax <= tol:
            return SolveResult(w, it, True, "")
        if it == max_iter:
            break
        precond = precond_builder(w, state, last_cg)
        gnorm = float(np.linalg.norm(g))
        # forcing term, tighter (superlinear) close to the optimum; CG steps are cheap
        # with the subsampled-Hessian preconditioner, dear with the diagonal one
        rtol = float(forcing_term(gnorm, gmax, tol, precond_builder.sub is not None))
        d, U, last_cg = pcg(
            partial(loss.hessp_u, state),
            -g,
            precond,
            rtol,
            maxiter=max(20, min(loss.n_coef, 200)),
        )
        d_raw = d.copy()
        loss.project(d)
        gd = float(g @ d)
        if not gd < 0:
            d = -g
            gd = float(g @ d)
            U = None
        # CG's iterates are projected already; recompute X d only if that moved it
        if U is None or np.max(np.abs(d - d_raw), initial=0.0) > 1e-12 * np.max(
            np.abs(d), initial=1.0
        ):
            U = loss.linear(d)
        # the full step usually passes: evaluate it with its gradient straight away
        w_t = w + d
        Z_t = Z + U if exact_z else loss.linear(w_t)
        f_t, g_t, state_t = loss.value_grad(Z_t, w_t)
        if f_t <= f + 1e-4 * gd:
            w, Z, f, g, state = w_t, Z_t, f_t, g_t, state_t
            continue
        t = 0.5
        for _ in range(40):
            w_t = w + t * d
            Z_t = Z + t * U
            if loss.value(Z_t, w_t) <= f + 1e-4 * t * gd:
                break
            t *= 0.5
        else:
            message = "line search could not decrease the objective"
            return SolveResult(w, it + 1, False, message)
        w = w_t
        Z = Z_t if exact_z else loss.linear(w)
        f, g, state = loss.value_grad(Z, w)
    message = f"reached max_iter={max_iter} with max |gradient| {gmax:.3g} > tol={tol:g}"
    return SolveResult(w, max_iter, False, message)
