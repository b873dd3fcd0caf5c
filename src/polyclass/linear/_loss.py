"""The logistic objective (binary and multinomial) with its gradient and Hessian.

The objective is scikit-learn's divided by ``C * sum(sample_weight)``::

    f(w) = sum_i s_i * loss_i(w) + l2 / 2 * ||W||^2        (s sums to one)

with ``l2 = (1 - l1_ratio) / (C * sum(sample_weight))``; the L1 part is handled by
the proximal solver. The coefficients ``w`` are one flat vector, the rows of a
``(K, n_features + fit_intercept)`` matrix whose last column is the intercept
(``K = 1`` for the binary problem, the number of classes for the multinomial one).

Everything on the n-row side is computed from the linear predictor ``Z = X @ W.T + b``
so that a solver can move along a direction with ``Z + t * U`` without touching X
again. X is never copied; float32 X is multiplied in float32 and the small results are
promoted to float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass
class CurvatureState:
    """What the Hessian needs at one point: row weights (binary) or probabilities."""

    h: Array | None  # binary: s_i * p_i * (1 - p_i), shape (n,)
    P: Array | None  # multinomial: softmax probabilities, shape (n, K)


class LogisticLoss:
    """Binary (``n_classes == 2``) or multinomial logistic loss on fixed data."""

    def __init__(
        self,
        X: NDArray[np.floating] | sp.csr_matrix,
        y: NDArray[np.integer] | NDArray[np.bool_],
        sample_weight: NDArray[np.floating] | None,
        n_classes: int,
        fit_intercept: bool,
        l2: float,
    ) -> None:
        self.X = X
        self.n, self.p = X.shape
        self.binary = n_classes == 2
        self.K = 1 if self.binary else n_classes
        self.fit_intercept = fit_intercept
        self.q = self.p + int(fit_intercept)
        self.n_coef = self.K * self.q
        self.l2 = float(l2)
        if sample_weight is None:
            sw = np.full(self.n, 1.0 / self.n)
        else:
            sw = np.asarray(sample_weight, dtype=np.float64)
            sw = sw / sw.sum()
        self.sw = sw
        # the unused one of the two stays empty
        self.y01: Array = np.zeros(0)
        self.y_codes: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        if self.binary:
            self.y01 = np.asarray(y, dtype=np.float64)
        else:
            self.y_codes = np.asarray(y, dtype=np.intp)
        self._rows = np.arange(self.n)

    # --- linear algebra on X --------------------------------------------------------
    def split(self, w: Array) -> tuple[Array, Array | None]:
        """``(W, b)`` views of the flat coefficients."""
        w2 = w.reshape(self.K, self.q)
        return w2[:, : self.p], (w2[:, self.p] if self.fit_intercept else None)

    def linear(self, w: Array) -> Array:
        """``Z = X @ W.T + b``, shape (n, K), float64."""
        W, b = self.split(w)
        Wt = np.ascontiguousarray(W.T, dtype=self.X.dtype)
        Z = np.asarray(self.X @ Wt, dtype=np.float64)
        if b is not None:
            Z += b
        return Z

    def back(self, R: Array) -> Array:
        """Flat ``[R.T @ X, R.sum(0)]`` (the adjoint of :meth:`linear`)."""
        G = np.empty((self.K, self.q))
        Rx = R if self.X.dtype == np.float64 else R.astype(self.X.dtype)
        G[:, : self.p] = np.asarray(self.X.T @ Rx).T
        if self.fit_intercept:
            G[:, self.p] = R.sum(axis=0)
        return G.ravel()

    def penalty(self, w: Array) -> float:
        W, _ = self.split(w)
        return 0.5 * self.l2 * float(np.vdot(W, W))

    # --- objective from the linear predictor -----------------------------------------
    def value(self, Z: Array, w: Array) -> float:
        """Objective at ``w`` whose linear predictor is ``Z``."""
        if self.binary:
            z = Z[:, 0]
            # log(1 + exp(z)) - y z, stably
            loss = np.logaddexp(0.0, z)
            loss -= self.y01 * z
            data = float(self.sw @ loss)
        else:
            m = Z.max(axis=1)
            E = np.exp(Z - m[:, None])
            lse = np.log(E.sum(axis=1))
            lse += m
            lse -= Z[self._rows, self.y_codes]
            data = float(self.sw @ lse)
        return data + self.penalty(w)

    def value_grad(self, Z: Array, w: Array) -> tuple[float, Array, CurvatureState]:
        """Objective, gradient and curvature state at ``w`` (linear predictor ``Z``)."""
        if self.binary:
            z = Z[:, 0]
            e = np.exp(-np.abs(z))
            loss = np.log1p(e)
            loss += np.maximum(z, 0.0)
            loss -= self.y01 * z
            data = float(self.sw @ loss)
            # sigmoid(z) = 1/(1+e) for z >= 0, e/(1+e) for z < 0
            prob = np.where(z >= 0, 1.0, e)
            prob /= 1.0 + e
            r = prob - self.y01
            r *= self.sw
            h = prob * (1.0 - prob)
            h *= self.sw
            state = CurvatureState(h=h, P=None)
            R = r[:, None]
        else:
            m = Z.max(axis=1)
            P = Z - m[:, None]
            zy = P[self._rows, self.y_codes]
            np.exp(P, out=P)
            s = P.sum(axis=1)
            lse = np.log(s)
            lse -= zy
            data = float(self.sw @ lse)
            P /= s[:, None]
            R = P * self.sw[:, None]
            R[self._rows, self.y_codes] -= self.sw
            state = CurvatureState(h=None, P=P)
        g = self.back(R)
        f = data
        if self.l2 > 0:
            W, _ = self.split(w)
            g.reshape(self.K, self.q)[:, : self.p] += self.l2 * W
            f += self.penalty(w)
        return f, g, state

    def grad(self, w: Array) -> tuple[float, Array]:
        f, g, _ = self.value_grad(self.linear(w), w)
        return f, g

    # --- second order ------------------------------------------------------------------
    def hessp(self, state: CurvatureState, v: Array) -> Array:
        """Hessian-vector product (two passes over X)."""
        U = self.linear(v)
        if self.binary:
            assert state.h is not None
            R = U * state.h[:, None]
        else:
            assert state.P is not None
            P = state.P
            U *= P
            t = U.sum(axis=1)
            U -= P * t[:, None]
            U *= self.sw[:, None]
            R = U
        out = self.back(R)
        if self.l2 > 0:
            V, _ = self.split(v)
            out.reshape(self.K, self.q)[:, : self.p] += self.l2 * V
        return out

    def hessian_diag(self, state: CurvatureState, X2: NDArray[np.floating] | sp.spmatrix) -> Array:
        """Diagonal of the Hessian; ``X2`` is X squared elementwise (same layout)."""
        if self.binary:
            assert state.h is not None
            Hr = state.h[:, None]
        else:
            assert state.P is not None
            Hr = state.P * (1.0 - state.P)
            Hr *= self.sw[:, None]
        d = np.empty((self.K, self.q))
        Hx = Hr if X2.dtype == np.float64 else Hr.astype(X2.dtype)
        d[:, : self.p] = np.asarray(X2.T @ Hx).T + self.l2
        if self.fit_intercept:
            d[:, self.p] = Hr.sum(axis=0)
        return d.ravel()

    def project(self, v: Array) -> Array:
        """Remove directions the multinomial objective is flat along (in place).

        Shifting every class's intercept by the same amount never changes the
        objective; without a penalty neither does shifting every class's coefficients.
        """
        if self.binary:
            return v
        v2 = v.reshape(self.K, self.q)
        if self.fit_intercept:
            v2[:, self.p] -= v2[:, self.p].mean()
        if self.l2 == 0:
            v2[:, : self.p] -= v2[:, : self.p].mean(axis=0)
        return v


def dense_hessian(loss: LogisticLoss, state: CurvatureState) -> Array:
    """Full Hessian of a dense-X loss, shape (n_coef, n_coef); for small problems."""
    raw: Any = loss.X
    X = np.asarray(raw.toarray() if sp.issparse(raw) else raw, dtype=np.float64)
    if loss.fit_intercept:
        X = np.hstack([X, np.ones((loss.n, 1))])
    q = loss.q
    if loss.binary:
        assert state.h is not None
        H = X.T @ (X * state.h[:, None])
    else:
        assert state.P is not None
        P, K = state.P, loss.K
        B = (X[:, None, :] * P[:, :, None]).reshape(loss.n, K * q)
        H = -(B.T @ (B * loss.sw[:, None]))
        Pw = P * loss.sw[:, None]
        for k in range(K):
            H[k * q : (k + 1) * q, k * q : (k + 1) * q] += X.T @ (X * Pw[:, k : k + 1])
    if loss.l2 > 0:
        idx = np.arange(loss.n_coef).reshape(loss.K, q)[:, : loss.p].ravel()
        H[idx, idx] += loss.l2
    return np.asarray(H)
