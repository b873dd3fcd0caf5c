"""Newton-CG on a distributed loss, run by the driver.

The same method as polyclass's single-node ``newton_cg``: a warm start solved on a
uniform row sample (here gathered from the blocks), conjugate gradients preconditioned by
the exact Hessian of a row subsample (Cholesky per coupled block), the same forcing
term, an Armijo search that tries the full step with its gradient first. Each CG step
and each gradient is one round trip; a failed full step costs one more round trip that
evaluates twenty shorter steps at once (two passes over each block, none per step).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import scipy.linalg

from polyclass.linear import LogisticLoss, SolveResult, dense_hessian, forcing_term
from polyclass.scale._loss import Array, DistributedLoss

#: A preconditioner is rebuilt at a new point when CG needed more steps than this.
_REFRESH_AFTER_CG = 3
#: Steps the line search evaluates in its one round trip: 1/2, 1/4, ... 2^-20.
_STEPS: Array = 0.5 ** np.arange(1, 21, dtype=np.float64)


def _cholesky(H: Array) -> Any:
    ridge = 1e-10 * max(float(np.trace(H)) / H.shape[0], 1e-300)
    H[np.diag_indices_from(H)] += ridge
    try:
        return scipy.linalg.cho_factor(H, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None


def preconditioner(sub: LogisticLoss, w: Array) -> Callable[[Array], Array]:
    """``r -> M^{-1} r`` with M the Hessian of the row subsample ``sub`` at ``w`` (one
    Cholesky factor per binary problem, one for the multinomial problem)."""
    _, _, state = sub.value_grad(sub.linear(w), w)
    blocks: list[int | None] = list(range(sub.K)) if sub.binary else [None]
    factors = [_cholesky(dense_hessian(sub, state, block=k)) for k in blocks]
    size = sub.n_coef // len(factors)

    def solve(r: Array) -> Array:
        z = np.empty_like(r)
        for k, factor in enumerate(factors):
            part = r[k * size : (k + 1) * size]
            z[k * size : (k + 1) * size] = (
                part if factor is None else scipy.linalg.cho_solve(factor, part, check_finite=False)
            )
        return sub.project(z)

    return solve


def _pcg(
    hessp: Callable[[Array], Array],
    b: Array,
    precond: Callable[[Array], Array],
    rtol: float,
    maxiter: int,
) -> tuple[Array, int]:
    """Preconditioned CG for ``H x = b`` from 0 (as the single-node solver's)."""
    x = np.zeros_like(b)
    r = b.copy()
    z = precond(r)
    d = z.copy()
    rz = float(r @ z)
    bnorm = float(np.linalg.norm(b))
    for i in range(1, maxiter + 1):
        Hd = hessp(d)
        dHd = float(d @ Hd)
        if dHd <= 0:
            return (d if i == 1 else x), i
        alpha = rz / dHd
        x += alpha * d
        r -= alpha * Hd
        if np.linalg.norm(r) <= rtol * bnorm:
            return x, i
        z = precond(r)
        rz_new = float(r @ z)
        d *= rz_new / rz
        d += z
        rz = rz_new
    return x, maxiter


def distributed_newton(
    loss: DistributedLoss,
    w0: Array,
    sub: LogisticLoss,
    tol: float,
    max_iter: int,
    verbose: int = 0,
) -> SolveResult:
    """Minimise ``loss`` from ``w0``, preconditioned on ``sub`` (a row subsample with
    the full problem's penalty); stops when max |gradient| <= ``tol``."""
    w = w0.copy()
    pid, f, g = loss.value_grad(w)
    precond: Callable[[Array], Array] | None = None
    last_cg = 0
    for it in range(max_iter + 1):
        gmax = float(np.max(np.abs(g))) if g.size else 0.0
        if verbose:
            print(f"dask newton-cg iter {it}: objective {f:.12g}, max |grad| {gmax:.3g}")
        if gmax <= tol:
            return SolveResult(w, it, True, "")
        if it == max_iter:
            break
        if precond is None or last_cg > _REFRESH_AFTER_CG:
            precond = preconditioner(sub, w)
        rtol = float(forcing_term(float(np.linalg.norm(g)), gmax, tol, True))
        d, last_cg = _pcg(
            partial(loss.hessp, (pid, w)), -g, precond, rtol, max(20, min(loss.n_coef, 200))
        )
        loss.project(d)
        gd = float(g @ d)
        if not gd < 0:
            d = -g
            gd = float(g @ d)
        w_t = w + d
        pid_t, f_t, g_t = loss.value_grad(w_t)
        if f_t <= f + 1e-4 * gd:
            pid, w, f, g = pid_t, w_t, f_t, g_t
            continue
        values = loss.line_values(w, w_t, _STEPS)
        passed = np.flatnonzero(values <= f + 1e-4 * _STEPS * gd)
        if passed.size == 0:
            return SolveResult(w, it + 1, False, "line search could not decrease the objective")
        w = w + _STEPS[passed[0]] * d
        pid, f, g = loss.value_grad(w)
    message = f"reached max_iter={max_iter} with max |gradient| {gmax:.3g} > tol={tol:g}"
    return SolveResult(w, max_iter, False, message)
