"""Accelerated proximal gradient (FISTA) for the L1 and elastic-net objectives.

Minimises ``f(w) + l1 * ||W||_1`` where ``f`` is the smooth logistic objective (with
its L2 part) and the intercept is not penalised. The step size is found by
backtracking and may grow again after successful steps; momentum restarts whenever the
objective goes up (O'Donoghue and Candès, 2015). Stops when the largest entry of the
gradient mapping ``(w - prox(w - g / L)) * L`` is at most ``tol``, which for
``l1 = 0`` is scikit-learn's max |gradient| criterion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from polyclass.linear._loss import Array, CurvatureState, LogisticLoss
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
    message = f"reached max_iter={max_iter} with gradient mapping {gmap_max:.3g} > tol={tol:g}"
    return SolveResult(w, max_iter, False, message)


def _kkt_violation(w: Array, g: Array, thresh: Array) -> float:
    """Largest entry of the minimum-norm subgradient of ``f + ||thresh * w||_1``."""
    viol = np.where(
        w != 0,
        np.abs(g + thresh * np.sign(w)),
        np.maximum(np.abs(g) - thresh, 0.0),
    )
    return float(viol.max()) if viol.size else 0.0


def _cd_quadratic(H: Array, g: Array, w: Array, thresh: Array, sweeps: int, tol: float) -> Array:
    """Coordinate descent on ``g.d + d.H.d / 2 + ||thresh * (w + d)||_1``; returns d."""
    n = g.size
    d = np.zeros(n)
    Hd = np.zeros(n)
    diag = np.maximum(np.diag(H), 1e-12)
    z = w.copy()
    active = np.arange(n)
    for sweep in range(sweeps):
        biggest = 0.0
        for j in active:
            a = diag[j]
            b = g[j] + Hd[j]
            zj = z[j]
            u = zj - b / a
            t = thresh[j] / a
            new = np.sign(u) * max(abs(u) - t, 0.0) if t > 0 else u
            delta = new - zj
            if delta != 0.0:
                z[j] = new
                d[j] += delta
                Hd += delta * H[:, j]
                biggest = max(biggest, abs(delta) * a)
        if biggest <= tol:
            break
        if sweep == 0:
            # later sweeps skip coordinates that sit at zero with a small gradient
            grad = g + Hd
            active = np.flatnonzero((z != 0) | (np.abs(grad) > thresh) | (thresh == 0))
    return d


def _newton_direction(H: Array, g: Array, w: Array, thresh: Array, tol: float) -> Array:
    """Minimiser of the quadratic model plus L1, unpenalised coordinates eliminated.

    The intercepts enter the model without penalty, so they are solved for exactly
    (a Schur complement, i.e. centring the features); coordinate descent then works
    on the penalised block alone, which stays well-conditioned for uncentred X.
    """
    pen = thresh > 0
    if pen.all():
        return _cd_quadratic(H, g, w, thresh, sweeps=200, tol=tol)
    free = ~pen
    Huu_pinv = np.linalg.pinv(H[np.ix_(free, free)], hermitian=True)
    Hup = H[np.ix_(free, pen)]
    S = Huu_pinv @ Hup
    Hr = H[np.ix_(pen, pen)] - Hup.T @ S
    gr = g[pen] - S.T @ g[free]
    d = np.zeros_like(g)
    dp = _cd_quadratic(Hr, gr, w[pen], thresh[pen], sweeps=200, tol=tol)
    d[pen] = dp
    d[free] = -Huu_pinv @ (g[free] + Hup @ dp)
    return d


def proximal_newton(
    loss: LogisticLoss,
    w0: Array,
    l1: float,
    tol: float,
    max_iter: int,
    hessian: Callable[[Array, CurvatureState], Array],
    verbose: int = 0,
) -> SolveResult:
    """Proximal Newton (Lee, Sun and Saunders 2014) with a coordinate-descent inner solver.

    For few coefficients: each outer step builds the Hessian, minimises the quadratic
    model plus the L1 term by coordinate descent, then backtracks on the true objective.
    Stops when the largest entry of the minimum-norm subgradient is at most ``tol``.
    """
    thresh = _penalised_mask(loss) * l1
    w = w0.copy()
    f, g, state = loss.value_grad(loss.linear(w), w)
    F = f + float(np.abs(w) @ thresh)
    viol = np.inf
    for it in range(max_iter + 1):
        viol = _kkt_violation(w, g, thresh)
        if verbose:
            print(f"proximal newton iter {it}: objective {F:.12g}, violation {viol:.3g}")
        if viol <= tol:
            return SolveResult(w, it, True, "")
        if it == max_iter:
            break
        H = hessian(w, state)
        d = _newton_direction(H, g, w, thresh, tol=0.1 * min(tol, viol))
        decrease = float(g @ d) + float(np.abs(w + d) @ thresh) - float(np.abs(w) @ thresh)
        if not decrease < 0:
            return SolveResult(w, it + 1, False, "no descent direction found")
        t = 1.0
        for _ in range(40):
            w_t = w + t * d
            f_t, g_t, state_t = loss.value_grad(loss.linear(w_t), w_t)
            F_t = f_t + float(np.abs(w_t) @ thresh)
            if F_t <= F + 1e-4 * t * decrease:
                break
            t *= 0.5
        else:
            return SolveResult(w, it + 1, False, "line search could not decrease the objective")
        w, f, g, state, F = w_t, f_t, g_t, state_t, F_t
    message = f"reached max_iter={max_iter} with optimality violation {viol:.3g} > tol={tol:g}"
    return SolveResult(w, max_iter, False, message)
