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

import numpy as np

from polyclass.linear import (
    LogisticLoss,
    SolveResult,
    forcing_term,
    pcg,
    subsample_preconditioner,
)
from polyclass.scale._loss import Array, DistributedLoss

#: A preconditioner is rebuilt at a new point when CG needed more steps than this.
_REFRESH_AFTER_CG = 3
#: Steps the line search evaluates in its one round trip: 1/2, 1/4, ... 2^-20.
_STEPS: Array = 0.5 ** np.arange(1, 21, dtype=np.float64)


def preconditioner(sub: LogisticLoss, w: Array) -> Callable[[Array], Array]:
    """``r -> M^{-1} r`` with M the Hessian of the row subsample ``sub`` at ``w``."""
    _, _, state = sub.value_grad(sub.linear(w), w)
    return subsample_preconditioner(sub, state, sub.project)


def _hessp(loss: DistributedLoss, point: tuple[int, Array], v: Array) -> tuple[Array, None]:
    """A Hessian product for ``pcg``, without the linear predictor (it stays on the
    workers)."""
    return loss.hessp(point, v), None


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
        hessp = partial(_hessp, loss, (pid, w))
        d, _, last_cg = pcg(hessp, -g, precond, rtol, max(20, min(loss.n_coef, 200)))
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
