"""Fit polyclass's logistic models (multinomial, one-vs-rest, one-vs-one) on blocks
held by a Dask cluster: the single-node objective, solved by the single-node method with
every pass over the data replaced by a sum over blocks."""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight

from polyclass.linear import (
    LogisticLoss,
    LogisticRegression,
    OneVsOneClassifier,
    OneVsRestClassifier,
    fitted_from_coefficients,
    lbfgs,
    newton_cg,
)
from polyclass.scale._blocks import Problem, problem_arrays, sample_task
from polyclass.scale._errors import ScaleError
from polyclass.scale._loss import Array, DistributedLoss
from polyclass.scale._newton import distributed_newton

# The single-node solver's sample sizes: the preconditioner's subsample has at least
# this many rows and this many per coupled coefficient; the warm start solves 1/32 of
# the rows (at least four preconditioner subsamples) to this tolerance.
_MIN_SUBSAMPLE = 2000
_ROWS_PER_COEF = 8
_WARM_FRACTION = 32
_WARM_TOL = 1e-3


@dataclass
class FitInfo:
    """How a distributed fit went: solver iterations, round trips to the workers (the
    sample gather included), the final objective (single-node scale: divided by
    ``C * sum(weights)``) and whether it converged."""

    n_iter: int
    round_trips: int
    objective: float
    converged: bool


def _inner(template: Any) -> tuple[LogisticRegression, str]:
    if isinstance(template, LogisticRegression):
        return template, "multinomial"
    if isinstance(template, OneVsRestClassifier | OneVsOneClassifier):
        inner = template.estimator
        if isinstance(inner, LogisticRegression):
            return inner, "ovr" if isinstance(template, OneVsRestClassifier) else "ovo"
    raise ScaleError(
        "A distributed fit takes polyclass's LogisticRegression, or OneVsRestClassifier / "
        f"OneVsOneClassifier wrapping it; got {type(template).__name__}."
    )


def _binary_weights(class_weight: Any, negative: float, positive: float) -> Array:
    if class_weight is None:
        return np.ones(2)
    return np.asarray(
        compute_class_weight(
            class_weight,
            classes=np.array([0, 1]),
            y=np.array([0, 1]),
            sample_weight=np.array([negative, positive]),
        ),
        dtype=np.float64,
    )


def build_problem(template: Any, classes: list[Any], mass: Array) -> tuple[Problem, Array]:
    """The problems ``template`` solves given the weight of each class, and their L2
    strengths (``1 / (C * weight sum)`` per problem, as the single-node fit sets them)."""
    est, kind = _inner(template)
    if est.l1_ratio > 0 and np.isfinite(est.C):
        raise ScaleError(
            "A distributed fit supports the L2 penalty only (Newton-CG / L-BFGS); got "
            f"l1_ratio={est.l1_ratio}. Set l1_ratio=0."
        )
    k = len(classes)
    pairs: tuple[tuple[int, int], ...] = ()
    if k == 2 or kind == "multinomial":
        if est.class_weight is None:
            cw = np.ones(k)
        else:
            cw = np.asarray(
                compute_class_weight(
                    est.class_weight,
                    classes=np.asarray(classes),
                    y=np.asarray(classes),
                    sample_weight=mass,
                ),
                dtype=np.float64,
            )
        totals = np.array([float(mass @ cw)])
        class_weight = cw if k > 2 else cw[None, :]
        kind = "multinomial" if k > 2 else kind
    else:
        if kind == "ovr":
            sides = [(float(mass.sum() - mass[j]), float(mass[j])) for j in range(k)]
        else:
            first, second = np.triu_indices(k, k=1)
            pairs = tuple(zip(first.tolist(), second.tolist(), strict=True))
            sides = [(float(mass[i]), float(mass[j])) for i, j in pairs]
        class_weight = np.array([_binary_weights(est.class_weight, a, b) for a, b in sides])
        totals = np.array(
            [a * c[0] + b * c[1] for (a, b), c in zip(sides, class_weight, strict=True)]
        )
    problem = Problem(
        token=uuid.uuid4().hex,
        kind=kind,
        n_classes=k,
        fit_intercept=bool(est.fit_intercept),
        pairs=pairs,
        class_weight=class_weight,
        totals=totals,
    )
    m = 1 if k == 2 else (k if kind in ("multinomial", "ovr") else len(pairs))
    C = float(est.C)
    if kind == "multinomial" and k > 2:
        l2v = np.full(m, 1.0 / (C * totals[0]) if np.isfinite(C) else 0.0)
    else:
        l2v = 1.0 / (C * totals) if np.isfinite(C) else np.zeros(m)
    return problem, np.broadcast_to(l2v, (m,)).copy()


def _sample(client: Any, blocks: list[Any], fraction: float, seed: int) -> tuple[Any, Any, Any]:
    parts = client.gather(
        [
            client.submit(sample_task, b, fraction, seed + i, pure=False)
            for i, b in enumerate(blocks)
        ]
    )
    Xs = [p[0] for p in parts]
    X = sp.vstack(Xs, format="csr") if sp.issparse(Xs[0]) else np.concatenate(Xs)
    codes = np.concatenate([p[1] for p in parts])
    weights = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    return X, codes, weights


def fit_logistic(
    client: Any,
    blocks: list[Any],
    template: Any,
    classes: list[Any],
    mass: Array,
    n_rows: int,
    n_features: int,
    *,
    solver: str = "newton-cg",
) -> tuple[Any, FitInfo]:
    """Fit ``template`` (unfitted) on the encoded ``blocks``.

    Parameters
    ----------
    client : distributed.Client
    blocks : list of futures of Block
    template : LogisticRegression, OneVsRestClassifier or OneVsOneClassifier
        Its parameters (C, class_weight, tol, max_iter, random_state, fit_intercept).
    classes : list
        Sorted labels of the whole table (from merged counts).
    mass : ndarray
        Rows (or summed sample weights) of each class.
    n_rows, n_features : int
    solver : {'newton-cg', 'lbfgs'}

    Returns
    -------
    estimator, FitInfo
        The fitted estimator, exactly as its own ``fit`` leaves it, and how the fit went.
    """
    if len(classes) < 2:
        raise ScaleError(f"A classifier needs at least 2 classes; the data holds only {classes!r}.")
    if solver not in ("newton-cg", "lbfgs"):
        raise ScaleError(f"solver must be 'newton-cg' or 'lbfgs'; got {solver!r}.")
    est, _ = _inner(template)
    problem, l2v = build_problem(template, classes, np.asarray(mass, dtype=np.float64))
    K, q = len(l2v), n_features + int(problem.fit_intercept)
    coupled = q if problem.binary else K * q
    sub_rows = max(_MIN_SUBSAMPLE, _ROWS_PER_COEF * coupled)
    warm_rows = max(4 * sub_rows, n_rows // _WARM_FRACTION)
    seed = check_random_state(est.random_state).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    X, codes, weights = _sample(client, blocks, min(1.0, warm_rows / n_rows), seed)
    y, sw = problem_arrays(codes, weights, problem)
    n_cls = 2 if problem.binary else problem.n_classes
    warm = LogisticLoss(X, y, sw, n_cls, problem.fit_intercept, l2v)
    tol, max_iter = float(est.tol), int(est.max_iter)
    start = newton_cg(warm, np.zeros(K * q), max(tol, _WARM_TOL), max_iter, rng)
    w0 = start.w if np.all(np.isfinite(start.w)) else np.zeros(K * q)
    rows = np.sort(rng.choice(X.shape[0], size=min(sub_rows, X.shape[0]), replace=False))
    sub = LogisticLoss(X[rows], y[rows], sw[rows], n_cls, problem.fit_intercept, l2v)
    loss = DistributedLoss(client, blocks, problem, n_features, l2v, sub.project)
    loss.round_trips = 1  # the sample
    try:
        if solver == "newton-cg":
            result = distributed_newton(loss, w0, sub, tol, max_iter, int(est.verbose))
        else:
            result = lbfgs(loss, w0, tol, max_iter, int(est.verbose))  # type: ignore[arg-type]
    finally:
        loss.release()
    if not result.converged:
        warnings.warn(
            f"Distributed LogisticRegression (solver={solver!r}) did not converge: "
            f"{result.message}. Increase max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    W = result.w.reshape(K, q)
    fitted = fitted_from_coefficients(template, np.asarray(classes), W, result.n_iter)
    info = FitInfo(result.n_iter, loss.round_trips, loss.last_value, result.converged)
    return fitted, info
