"""The logistic objective (binary and multinomial) with its gradient and Hessian.

The objective is scikit-learn's divided by ``C * sum(sample_weight)``::

    f(w) = sum_i s_i * loss_i(w) + l2 / 2 * ||W||^2        (s sums to one)

with ``l2 = (1 - l1_ratio) / (C * sum(sample_weight))``; the L1 part is handled by
the proximal solver. The coefficients ``w`` are one flat vector, the rows of a
``(K, n_features + fit_intercept)`` matrix whose last column is the intercept
(``K = 1`` for the binary problem, the number of classes for the multinomial one).

A batch of independent binary problems on the same X (one-vs-rest, one-vs-one) is the
binary loss with a 2-D ``y`` of shape (n, K): one column of labels, of weights and one
L2 strength per problem. Its objective is the sum of theirs and its Hessian is block
diagonal, so one pass over X serves all K problems.

Everything on the n-row side is computed from the linear predictor ``Z = X @ W.T + b``
so that a solver can move along a direction with ``Z + t * U`` without touching X
again. The loss never copies X (a solver may attach float32 copies as ``copies``, see
``polyclass.linear._design``); float32 X is multiplied in float32 and the small
results are promoted to float64.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

if TYPE_CHECKING:
    from polyclass.linear._design import DesignCopies

Array = NDArray[np.float64]

# Rows of a dense X per block in Hessian-vector products (under 2 MB at p = 50, float32:
# the block stays in the core's cache between the two products; 8192 rows measured 5%
# faster than 2048, fewer NumPy calls).
_CHUNK_ROWS = 8192


@dataclass
class CurvatureState:
    """What the Hessian needs at one point: row weights (binary) or probabilities."""

    h: Array | None  # binary: s_i * p_i * (1 - p_i), shape (n, K)
    P: Array | None  # multinomial: softmax probabilities, shape (n, K)
    _low: NDArray[np.float32] | None = field(default=None, repr=False)

    def low(self) -> NDArray[np.float32]:
        """float32 copy of ``h`` (binary) or ``P`` (multinomial), made once, for Hessian
        products on a float32 X."""
        if self._low is None:
            source = self.h if self.h is not None else self.P
            assert source is not None
            self._low = source.astype(np.float32)
        return self._low


class LogisticLoss:
    """Binary (``n_classes == 2``) or multinomial logistic loss on fixed data."""

    def __init__(
        self,
        X: NDArray[np.floating] | sp.csr_matrix,
        y: NDArray[np.integer] | NDArray[np.bool_],
        sample_weight: NDArray[np.floating] | None,
        n_classes: int,
        fit_intercept: bool,
        l2: float | Array,
        weight_total: float | Array | None = None,
    ) -> None:
        """``weight_total``: divide the weights by this (per problem) instead of their own
        sum, for one block of a larger table whose blocks' losses are summed."""
        self.X = X
        self.n, self.p = X.shape
        self.binary = n_classes == 2
        y = np.asarray(y)
        if self.binary:
            self.K = 1 if y.ndim == 1 else y.shape[1]
        else:
            self.K = n_classes
        self.fit_intercept = fit_intercept
        self.q = self.p + int(fit_intercept)
        self.n_coef = self.K * self.q
        # one L2 strength per row of W (they differ between binary problems of a batch)
        self.l2v = np.broadcast_to(np.asarray(l2, dtype=np.float64), (self.K,)).copy()
        self.l2 = float(self.l2v.max())
        self.l2_all_zero = not np.any(self.l2v)
        sw: NDArray[np.float64]
        if sample_weight is None:
            sw = np.full(self.n, 1.0 / (self.n if weight_total is None else weight_total))
        else:
            sw = np.array(sample_weight, dtype=np.float64)
            total = sw.sum(axis=0) if weight_total is None else np.asarray(weight_total)
            sw /= np.where(total > 0, total, 1.0)
        # the unused one of the two stays empty
        self.y01: Array = np.zeros((0, 1))
        self.y_codes: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        if self.binary:
            self.y01 = y.astype(np.float64).reshape(self.n, -1)
            # per problem, shape (n, K); a shared weight vector broadcasts as (n, 1)
            sw = sw.reshape(self.n, -1)
        else:
            self.y_codes = y.astype(np.intp)
        self.sw = sw
        self._rows = np.arange(self.n)
        # flat positions of each row's true class in an (n, K) C-ordered array: a 1-D
        # take/put is about twice as fast as the 2-D fancy index
        self._flat = self._rows * self.K + self.y_codes if not self.binary else self._rows
        # optional float32 copies of X for Hessian-vector products (see _design.attach)
        self.copies: DesignCopies | None = None
        # whether gradients may read the copy too (a solver's choice, see gradient_X)
        self.gradient_from_copy = False
        self._ones_k = np.ones(self.K)
        self._ones_n: Array | None = None  # made by the first column_sums
        self._ones_k32 = self._ones_k.astype(np.float32)
        self._sw32: NDArray[np.float32] | None = None  # made by the first float32 product

    # --- linear algebra on X --------------------------------------------------------
    def split(self, w: Array) -> tuple[Array, Array | None]:
        """``(W, b)`` views of the flat coefficients."""
        w2 = w.reshape(self.K, self.q)
        return w2[:, : self.p], (w2[:, self.p] if self.fit_intercept else None)

    def linear(self, w: Array) -> Array:
        """``Z = X @ W.T + b``, shape (n, K), float64 (X as gradients read it)."""
        W, b = self.split(w)
        if not W.any():  # e.g. the intercept-only start: no pass over X
            Z = np.zeros((self.n, self.K))
            if b is not None:
                Z += b
            return Z
        X = self.gradient_X()
        Wt = np.ascontiguousarray(W.T, dtype=X.dtype)
        Z = np.asarray(X @ Wt, dtype=np.float64)
        if b is not None:
            Z += b
        return Z

    def back(self, R: Array, X: Any = None) -> Array:
        """Flat ``[R.T @ X, R.sum(0)]`` (the adjoint of :meth:`linear`); ``X`` may be
        the float32 Hessian copy instead of the loss's own."""
        if X is None:
            X = self.X
        G = np.empty((self.K, self.q))
        Rx = R if X.dtype == np.float64 else R.astype(X.dtype)
        G[:, : self.p] = np.asarray(X.T @ Rx).T
        if self.fit_intercept:
            G[:, self.p] = self.column_sums(R)
        return G.ravel()

    def column_sums(self, A: Array) -> Array:
        """``A.sum(axis=0)`` of an (n, K) array, as a matrix-vector product: NumPy's
        reduction down the rows of a C-ordered array with few columns is several times
        slower."""
        if self._ones_n is None:
            self._ones_n = np.ones(self.n)
        return np.asarray(self._ones_n @ A)

    def gradient_X(self) -> Any:
        """The X that gradients and linear predictors read: X, or its filled float32
        copy when the solver allowed it (``gradient_from_copy``)."""
        copies = self.copies
        if self.gradient_from_copy and copies is not None and copies.filled:
            return copies.X
        return self.X

    def penalty(self, w: Array) -> float:
        W, _ = self.split(w)
        return 0.5 * float(self.l2v @ np.einsum("kj,kj->k", W, W))

    # --- objective from the linear predictor -----------------------------------------
    def value(self, Z: Array, w: Array) -> float:
        """Objective at ``w`` whose linear predictor is ``Z``."""
        if self.binary:
            # log(1 + exp(z)) - y z, stably
            loss = np.logaddexp(0.0, Z)
            loss -= self.y01 * Z
            loss *= self.sw
            data = float(loss.sum())
        else:
            _, s, m = self._exp_rows(Z)
            lse = np.log(s)
            if m is not None:
                lse += m
            lse -= np.take(Z.reshape(-1), self._flat)
            data = float(self.sw @ lse)
        return data + self.penalty(w)

    def _exp_rows(self, Z: Array) -> tuple[Array, Array, Array | None]:
        """``E = exp(Z - m)``, its row sums and the row shift m (None when not needed).

        Row reductions of an (n, K) array with small K are slow in NumPy; the shift
        is skipped when no entry can overflow or make a row sum underflow, and row
        sums are a matrix-vector product.
        """
        if Z.max() < 300.0 and Z.min() > -300.0:
            m = None
            E = np.exp(Z)
        else:
            m = Z[:, 0].copy()
            for k in range(1, self.K):
                np.maximum(m, Z[:, k], out=m)
            E = Z - m[:, None]
            np.exp(E, out=E)
        return E, E @ self._ones_k, m

    def value_grad(self, Z: Array, w: Array) -> tuple[float, Array, CurvatureState]:
        """Objective, gradient and curvature state at ``w`` (linear predictor ``Z``)."""
        if self.binary:
            e = np.exp(-np.abs(Z))
            loss = np.log1p(e)
            loss += np.maximum(Z, 0.0)
            loss -= self.y01 * Z
            loss *= self.sw
            data = float(loss.sum())
            # sigmoid(z) = 1/(1+e) for z >= 0, e/(1+e) for z < 0
            prob = np.where(Z >= 0, 1.0, e)
            prob /= 1.0 + e
            R = prob - self.y01
            R *= self.sw
            h = prob * (1.0 - prob)
            h *= self.sw
            state = CurvatureState(h=h, P=None)
        else:
            P, s, m = self._exp_rows(Z)
            lse = np.log(s)
            if m is not None:
                lse += m
            lse -= np.take(Z.reshape(-1), self._flat)
            data = float(self.sw @ lse)
            inv = np.reciprocal(s, out=s)
            P *= inv[:, None]
            R = np.empty(P.shape)  # C-ordered, so its reshape below is a view
            np.multiply(P, self.sw[:, None], out=R)
            R.reshape(-1)[self._flat] -= self.sw
            state = CurvatureState(h=None, P=P)
        g = self.back(R, self.gradient_X())
        f = data
        if self.l2 > 0:
            W, _ = self.split(w)
            g.reshape(self.K, self.q)[:, : self.p] += self.l2v[:, None] * W
            f += self.penalty(w)
        return f, g, state

    def grad(self, w: Array) -> tuple[float, Array]:
        f, g, _ = self.value_grad(self.linear(w), w)
        return f, g

    # --- second order ------------------------------------------------------------------
    def _curvature(self, state: CurvatureState, U: Array, rows: slice) -> Array:
        """Rows ``rows`` of the Hessian of the data term applied to ``U = X @ V.T + vb``."""
        if self.binary:
            assert state.h is not None
            return U * state.h[rows]
        assert state.P is not None
        P = state.P[rows]
        R = U * P
        t = R @ self._ones_k
        R -= P * t[:, None]
        R *= self.sw[rows, None]
        return R

    def _curvature_low(self, state: CurvatureState, R: NDArray[np.float32], rows: slice) -> None:
        """:meth:`_curvature` in float32, in place on ``R`` (``U`` of those rows): for a
        float32 X, whose products are float32 anyway."""
        low = state.low()[rows]
        R *= low
        if not self.binary:
            t = R @ self._ones_k32
            R -= low * t[:, None]
            if self._sw32 is None:
                self._sw32 = self.sw.astype(np.float32)
            R *= self._sw32[rows, None]

    def problems(
        self, state: CurvatureState, idx: NDArray[np.intp]
    ) -> tuple[LogisticLoss, CurvatureState]:
        """Problems ``idx`` of a binary batch and their curvature, for Hessian products
        only (labels and weights are left whole). Shares X and its copies."""
        if not self.binary or state.h is None:
            raise ValueError("problems() restricts a batch of binary problems.")
        sub = copy.copy(self)
        sub.K = int(idx.size)
        sub.n_coef = sub.K * sub.q
        sub.l2v = self.l2v[idx]
        return sub, CurvatureState(h=np.ascontiguousarray(state.h[:, idx]), P=None)

    def hessp_u(self, state: CurvatureState, v: Array) -> tuple[Array, Array]:
        """Hessian-vector product and ``U = X @ V.T + vb`` (which it computes anyway).

        A dense X is walked in row blocks small enough to stay in cache between the
        two products, so each Hessian-vector product reads X from memory once.
        """
        V, vb = self.split(v)
        copies = self.copies
        # the first product fills the float32 copy block by block as it reads X
        fill: Any = copies.X if copies is not None and not copies.filled else None
        X = self.X if copies is None or fill is not None else copies.X
        forward = None if copies is None or fill is not None else copies.forward
        Vt = np.ascontiguousarray(V.T, dtype=X.dtype)
        if not isinstance(X, np.ndarray) or self.n <= 2 * _CHUNK_ROWS:  # sparse, row blocks
            if fill is not None:
                fill[...] = X
            U = np.asarray((X if forward is None else forward) @ Vt, dtype=np.float64)
            if vb is not None:
                U += vb
            out = self.back(self._curvature(state, U, slice(None)), X)
        else:
            U = np.empty((self.n, self.K))
            G = np.zeros((self.K, self.q))
            GW = G[:, : self.p]
            ones = np.ones(_CHUNK_ROWS, dtype=X.dtype)
            vb32 = None if vb is None else vb.astype(np.float32)
            for start in range(0, self.n, _CHUNK_ROWS):
                rows = slice(start, min(start + _CHUNK_ROWS, self.n))
                Xc = X[rows]
                if fill is not None:
                    fill[rows] = Xc
                Uc = U[rows]
                Rc: Any
                if X.dtype == np.float64:
                    np.matmul(Xc, Vt, out=Uc)
                    if vb is not None:
                        Uc += vb
                    Rc = self._curvature(state, Uc, rows)
                else:  # float32 products: the curvature in float32 too, in place
                    Rc = Xc @ Vt
                    Uc[...] = Rc
                    if vb is not None:
                        Uc += vb
                        Rc += vb32
                    self._curvature_low(state, Rc, rows)
                GW += (Xc.T @ Rc).T
                if self.fit_intercept:
                    G[:, self.p] += ones[: Rc.shape[0]] @ Rc
            out = G.ravel()
        if copies is not None:
            copies.filled = True
        if self.l2 > 0:
            V, _ = self.split(v)
            out.reshape(self.K, self.q)[:, : self.p] += self.l2v[:, None] * V
        return out, U

    def hessian_diag(self, state: CurvatureState, X2: NDArray[np.floating] | sp.spmatrix) -> Array:
        """Diagonal of the Hessian; ``X2`` is X squared elementwise (same layout)."""
        if self.binary:
            assert state.h is not None
            Hr = state.h
        else:
            assert state.P is not None
            Hr = state.P * (1.0 - state.P)
            Hr *= self.sw[:, None]
        d = np.empty((self.K, self.q))
        Hx = Hr if X2.dtype == np.float64 else Hr.astype(X2.dtype)
        d[:, : self.p] = np.asarray(X2.T @ Hx).T + self.l2v[:, None]
        if self.fit_intercept:
            d[:, self.p] = self.column_sums(Hr)
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
        if self.l2_all_zero:
            v2[:, : self.p] -= v2[:, : self.p].mean(axis=0)
        return v


def dense_hessian(
    loss: LogisticLoss,
    state: CurvatureState,
    block: int | None = None,
    dtype: type[np.floating[Any]] = np.float64,
) -> Array:
    """Full Hessian, shape (n_coef, n_coef); for few coefficients (X is densified).

    For a batch of binary problems, ``block=k`` gives problem k's (q, q) block alone
    (the Hessian is block diagonal). ``dtype=np.float32`` computes it in float32 (about
    twice as fast; ~5e-7 relative),
    for a preconditioner; the result is float64 either way.
    """
    raw: Any = loss.X
    X = np.asarray(raw.toarray() if sp.issparse(raw) else raw, dtype=dtype)
    if loss.fit_intercept:
        X = np.hstack([X, np.ones((loss.n, 1), dtype=dtype)])
    q = loss.q
    H: Any
    if loss.binary:
        assert state.h is not None
        ks = range(loss.K) if block is None else [block]
        H = np.zeros((len(ks) * q, len(ks) * q))
        for i, k in enumerate(ks):
            Hk = X.T @ (X * state.h[:, k : k + 1].astype(dtype))
            Hk[np.arange(loss.p), np.arange(loss.p)] += loss.l2v[k]
            H[i * q : (i + 1) * q, i * q : (i + 1) * q] = Hk
        return np.asarray(H, dtype=np.float64)
    else:
        assert state.P is not None
        P, K = state.P.astype(dtype, copy=False), loss.K
        # B.T @ B with the same buffer on both sides runs as a symmetric rank-k update
        # an explicit C-ordered output: the broadcast product alone comes out in X's
        # stride order and its reshape then copies it
        B3 = np.empty((loss.n, K, q), dtype=dtype)
        np.multiply(
            X[:, None, :], (P * np.sqrt(loss.sw).astype(dtype)[:, None])[:, :, None], out=B3
        )
        B = B3.reshape(loss.n, K * q)
        H = -(B.T @ B)
        Pw = P * loss.sw.astype(dtype)[:, None]
        for k in range(K):
            H[k * q : (k + 1) * q, k * q : (k + 1) * q] += X.T @ (X * Pw[:, k : k + 1])
        H = np.asarray(H, dtype=np.float64)
    if loss.l2 > 0:
        idx = np.arange(loss.n_coef).reshape(loss.K, q)[:, : loss.p].ravel()
        H[idx, idx] += loss.l2
    return np.asarray(H)
