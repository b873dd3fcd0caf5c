"""Accelerated proximal gradient (FISTA) for the L1 and elastic-net objectives.

Minimises ``f(w) + l1 * ||W||_1`` where ``f`` is the smooth logistic objective (with
its L2 part) and the intercept is not penalised. The step size is found by
backtracking and may grow again after successful steps; momentum restarts whenever the
objective goes up (O'Donoghue and Candès, 2015). Stops when the largest entry of the
gradient mapping ``(w - prox(w - g / L)) * L`` is at most ``tol``, which for
``l1 = 0`` is scikit-learn's max |gradient| criterion.
"""

from __future__ import annotations

import numpy as np

from polyclass.linear._loss import Array, LogisticLoss
from polyclass.linear._newton import SolveResult


def _penalised_mask(loss: LogisticLoss) -> Array:
    mask = np.ones((loss.K, loss.q))
    if loss.fit_intercept:
        mask[:, loss.p] = 0.0
    return mask.ravel()


def _prox(v: Array, thresh: Array) -> Array:
    return np.sign(v) * np.maximum(np.abs(v) - thresh, 0.0)


def fista(
    loss: LogisticLoss, w0: Array, l1: float, tol: float, max_iter: int, verbose: int = 0
) -> SolveResult:
    """Minimise ``loss + l1 * ||W||_1`` from ``w0``; see the module docstring."""
    mask = _penalised_mask(loss) * l1

    def objective(f: float, w: Array) -> float:
        return f + float(np.abs(w) @ mask)

    w = w0.copy()
    f_w, g_w = loss.grad(w)
    F_w = objective(f_w, w)
    v, f_v, g_v = w, f_w, g_w
    # initial Lipschitz guess from a tiny probe step
    L = 1.0
    t_mom = 1.0
    gmap_max = np.inf
    for it in range(1, max_iter + 1):
        # backtracking from the extrapolated point v
        while True:
            thresh = mask / L
            w_new = _prox(v - g_v / L, thresh)
            diff = w_new - v
            f_new, g_new = loss.grad(w_new)
            if f_new <= f_v + float(g_v @ diff) + 0.5 * L * float(diff @ diff) + 1e-14 * abs(f_v):
                break
            L *= 2.0
        F_new = objective(f_new, w_new)
        # gradient mapping at the new point (cheap: gradient already known)
        step = _prox(w_new - g_new / L, mask / L)
        gmap_max = float(np.max(np.abs(w_new - step))) * L if w_new.size else 0.0
        if verbose and it % 50 == 0:
            print(f"fista iter {it}: objective {F_new:.12g}, gradient mapping {gmap_max:.3g}")
        if F_new > F_w:  # restart momentum
            t_mom = 1.0
            v, f_v, g_v = w, f_w, g_w
            L *= 1.0
            if gmap_max <= tol:
                return SolveResult(w, it, True, "")
            continue
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_mom * t_mom))
        beta = (t_mom - 1.0) / t_next
        v = w_new + beta * (w_new - w)
        w, f_w, g_w, F_w = w_new, f_new, g_new, F_new
        t_mom = t_next
        if gmap_max <= tol:
            return SolveResult(w, it, True, "")
        f_v, g_v = loss.grad(v) if beta != 0 else (f_w, g_w)
        L *= 0.9  # let the step grow again
    message = (
        f"reached max_iter={max_iter} with gradient mapping {gmap_max:.3g} > tol={tol:g}"
    )
    return SolveResult(w, max_iter, False, message)
