"""L-BFGS on the smooth logistic objective (SciPy's L-BFGS-B, our loss and gradient)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from polyclass.linear._loss import Array, LogisticLoss
from polyclass.linear._newton import SolveResult


def lbfgs(
    loss: LogisticLoss, w0: Array, tol: float, max_iter: int, verbose: int = 0
) -> SolveResult:
    """Minimise ``loss`` from ``w0``; stops when max |gradient| <= ``tol``."""
    res = minimize(
        loss.grad,
        w0,
        method="L-BFGS-B",
        jac=True,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    w = np.asarray(res.x, dtype=np.float64)
    n_iter = int(res.nit)
    if verbose:
        print(f"lbfgs: {n_iter} iterations, objective {res.fun:.12g}, {res.message}")
    if res.status == 0:
        return SolveResult(w, n_iter, True, "")
    return SolveResult(w, n_iter, False, f"L-BFGS stopped: {res.message}")
