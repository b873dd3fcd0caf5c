"""The design matrix as the solvers read it: X and the float32 copies made of it.

One place decides every copy: whether a large X is read in float32 (for Hessian products
only, or for everything), the dense float32 buffer, the sparse CSR copy and its CSC twin,
and the row blocks a thread pool multiplies. CG only needs an approximate Hessian, and
reading float32 halves the memory traffic of its products; sums stay float64.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from polyclass.linear._rowblocks import RowBlocks, csr_row_views

if TYPE_CHECKING:
    from polyclass.linear._loss import LogisticLoss

# Smallest dense X (n * p entries) or sparse X (stored entries) worth a float32 copy.
_HALF_HESSIAN_MIN_SIZE = 2_000_000
# Smallest tol at which gradients may read the float32 copy too: the float32 rounding of
# X and of the residuals moves a gradient entry of the scaled objective by about 1e-8
# (entries ``sum_i s_i r_i x_ij`` with ``s`` summing to one), far below such a ``tol``.
_GRADIENT_COPY_MIN_TOL = 1e-6


@dataclass
class DesignCopies:
    """float32 copies of X that Hessian-vector products (and maybe gradients) read.

    ``X`` serves ``X.T @ R`` (and ``X @ V`` when ``forward`` is None). ``forward`` is a
    CSC copy of a sparse X for ``X @ V`` with several columns: SciPy's CSR product runs
    its loop over the columns inside the loop over stored entries and costs about as
    much as one product per column, while its CSC product with several columns costs
    about half as much. ``X.T @ R`` of a CSR X is already a CSC product. ``filled`` is
    False for a dense buffer that the first Hessian product fills as it reads X.
    """

    X: Any
    forward: Any = None
    filled: bool = True


def _dense_large(X: Any) -> bool:
    return (
        not sp.issparse(X)
        and X.dtype == np.float64
        and X.shape[0] * X.shape[1] >= _HALF_HESSIAN_MIN_SIZE
    )


def float32_suffices(X: Any, tol: float, newton: bool) -> bool:
    """Whether binary Newton-CG fits may read a float32 copy of X for everything.

    True for a large dense float64 X at ``tol >= 1e-6``, where the gradients read such a
    copy anyway (see :func:`attach`). One-vs-one then cuts its pairs out of one float32
    copy of X and never reads float64.
    """
    return newton and _dense_large(X) and float(tol) >= _GRADIENT_COPY_MIN_TOL


def sparse_copies(X: Any, n_columns: int) -> DesignCopies | None:
    """float32 copies of a large float64 CSR X for Hessian products with ``n_columns``
    columns (None when X is not one): SciPy's float32 sparse products read 4 bytes less
    per entry. The CSR copy shares X's index arrays and costs a third of X's size; the
    CSC copy, made for several columns only, two thirds."""
    if not sp.issparse(X) or X.dtype != np.float64 or X.nnz < _HALF_HESSIAN_MIN_SIZE:
        return None
    data = X.data.astype(np.float32)
    csr = sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape, copy=False)
    return DesignCopies(csr, forward=csr.tocsc() if n_columns > 1 else None)


def shared_copies(X: Any, n_columns: int, newton: bool) -> DesignCopies | None:
    """The copies a batch of ``n_columns`` Newton-CG problems would make for its Hessian
    products (None when it would make none), made once for batches that share them."""
    if not newton:
        return None
    if sp.issparse(X):
        return sparse_copies(X, n_columns)
    if not _dense_large(X):
        return None
    return DesignCopies(np.asarray(X, dtype=np.float32))


def row_block_copies(
    X: Any, n_columns: int, pool: ThreadPoolExecutor, n_blocks: int
) -> DesignCopies | None:
    """:func:`sparse_copies` of a large CSR X in ``n_blocks`` row blocks multiplied in
    ``pool`` (None when X is not one)."""
    whole = sparse_copies(X, 1)
    if whole is None:
        return None
    blocks = csr_row_views(whole.X, n_blocks)
    forward = None
    if n_columns > 1:
        forward = RowBlocks(list(pool.map(lambda block: block.tocsc(), blocks)), pool)
    return DesignCopies(RowBlocks(blocks, pool), forward=forward)


def attach(
    loss: LogisticLoss,
    half_precision_hessian: bool,
    tol: float,
    shared: DesignCopies | None = None,
) -> None:
    """Give ``loss`` the float32 copies of X its Hessian products read, if any.

    ``shared`` is made once by the caller for several fits; otherwise a large float64
    CSR X gets :func:`sparse_copies` and a large float64 dense X an empty float32 buffer
    that the first Hessian product fills. Gradients and linear predictors read the copy
    too (it is then filled at once) when ``tol >= _GRADIENT_COPY_MIN_TOL``.
    """
    copies = shared
    if copies is None and half_precision_hessian:
        copies = sparse_copies(loss.X, loss.K)
        if copies is None and _dense_large(loss.X):
            copies = DesignCopies(np.empty(loss.X.shape, dtype=np.float32), filled=False)
    if copies is None:
        return
    loss.copies = copies
    loss.gradient_from_copy = tol >= _GRADIENT_COPY_MIN_TOL
    if loss.gradient_from_copy and not copies.filled:
        # everything reads the copy: fill it now, so that the first linear predictor
        # and gradient read float32 too
        np.copyto(copies.X, loss.X)
        copies.filled = True
