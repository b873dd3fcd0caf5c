"""What runs on the workers: read a Parquet part, encode it into a block, and evaluate a
block's share of the loss, gradient and Hessian-vector products.

A block is a Dask future (its lineage is the read and the encoding), so a block lost
with its worker is rebuilt elsewhere from the same file. What one solver step leaves on
a worker (the linear predictor and curvature at a point) sits in a per-process cache
keyed by the fit's token; every task carries the point ``w`` it needs, so a cache miss
(a rebuilt block on another worker) recomputes that state instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from polyclass.linear import CurvatureState, LogisticLoss
from polyclass.preprocess import Preprocessor
from polyclass.scale._errors import ScaleError


def read_part(url: str, columns: list[str], storage_options: dict[str, Any]) -> Any:
    """One Parquet file's ``columns`` as a DataFrame (the single-node loader's reading:
    Arrow types converted by pandas)."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(url, **storage_options)
    if _is_local(fs):  # Arrow's own file reader: no Python file object in the loop
        table = pq.ParquetFile(root).read(columns=columns, use_threads=False)
    else:
        with fs.open(root, "rb") as handle:
            table = pq.ParquetFile(handle).read(columns=columns, use_threads=False)
    # pandas' arrays from the system allocator, which returns them when the part is
    # dropped (Arrow's own keeps freed pages: about the table's size again per worker);
    # each Arrow column is freed as it is converted, and the decoding buffers released
    frame = table.to_pandas(self_destruct=True, memory_pool=pa.system_memory_pool())
    del table
    pa.default_memory_pool().release_unused()
    return frame


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


@dataclass
class Block:
    """One encoded part: features, class codes (-1 for a label unseen in training) and
    row weights (None: all one)."""

    X: Any
    codes: NDArray[np.intp]
    weights: NDArray[np.float64] | None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


def encode_block(
    frame: Any,
    pre: Preprocessor | list[str],
    target: str,
    classes: list[Any],
    weight_column: str | None,
    dtype: str,
) -> Block:
    """A DataFrame part → a Block (runs on a worker); ``pre`` is a fitted Preprocessor,
    or the names of columns that are numeric features already."""
    X: Any
    if isinstance(pre, Preprocessor):
        X = pre.transform(frame)
    else:
        X = frame[pre].to_numpy(dtype=dtype)
    # rows contiguous: the products with X run about twice as fast as on pandas'
    # column-major block
    X = X.astype(dtype).tocsr() if sp.issparse(X) else np.ascontiguousarray(X, dtype=dtype)
    labels = frame[target].to_numpy()
    order = np.asarray(classes)
    pos = np.searchsorted(order, labels) if order.dtype != object else None
    if pos is None:
        lookup = {c: i for i, c in enumerate(classes)}
        codes = np.array([lookup.get(v, -1) for v in labels.tolist()], dtype=np.intp)
    else:
        pos = np.clip(pos, 0, len(order) - 1)
        codes = np.where(order[pos] == labels, pos, -1).astype(np.intp)
    weights = None
    if weight_column is not None:
        weights = frame[weight_column].to_numpy(dtype=np.float64)
    return Block(X, codes, weights)


@dataclass(frozen=True)
class Problem:
    """The problems one fit solves on every block, and how each row is weighted.

    ``kind``: 'multinomial' (or binary with two classes), 'ovr' or 'ovo'. ``class_weight``
    holds one weight per class (multinomial) or a (m, 2) array of (negative, positive)
    weights per binary problem; ``totals`` the whole table's weight sum per problem.
    """

    token: str
    kind: str
    n_classes: int
    fit_intercept: bool
    pairs: tuple[tuple[int, int], ...]
    class_weight: NDArray[np.float64]
    totals: NDArray[np.float64]

    @property
    def binary(self) -> bool:
        return self.n_classes == 2 or self.kind != "multinomial"


def problem_arrays(
    codes: NDArray[np.intp], weights: NDArray[np.float64] | None, problem: Problem
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Labels (codes, or one bool column per binary problem) and row weights of rows
    with these class codes, as the single-node fit builds them (class weights folded in;
    a row outside a problem, or of a label unseen in training, weighs 0)."""
    base = np.ones(codes.shape[0]) if weights is None else weights
    known = codes >= 0
    safe = np.where(known, codes, 0)
    if not problem.binary:
        return safe, base * problem.class_weight[safe] * known
    if problem.n_classes == 2:
        Y = (safe == 1)[:, None]
        member = known[:, None]
    elif problem.kind == "ovr":
        Y = safe[:, None] == np.arange(problem.n_classes)[None, :]
        member = known[:, None]
    else:
        first = np.array([i for i, _ in problem.pairs])
        second = np.array([j for _, j in problem.pairs])
        Y = safe[:, None] == second[None, :]
        member = known[:, None] & ((safe[:, None] == first[None, :]) | Y)
    cw = problem.class_weight  # (m, 2): negative, positive
    return Y, base[:, None] * np.where(Y, cw[:, 1], cw[:, 0]) * member


def block_loss(block: Block, problem: Problem) -> LogisticLoss:
    """The block's share of the data term (no penalty: the driver adds it once)."""
    y, sw = problem_arrays(block.codes, block.weights, problem)
    n_classes = 2 if problem.binary else problem.n_classes
    return LogisticLoss(block.X, y, sw, n_classes, problem.fit_intercept, 0.0, problem.totals)


def _compact(state: CurvatureState, X: Any) -> CurvatureState:
    """The state Hessian products need, kept between round trips: for a float32 X only
    its float32 copy (the products run in float32 anyway), half the float64 one."""
    if X.dtype != np.float32:
        return state
    low = state.low()
    # the float32 array stands for h or P too: the products promote it where they need
    same = cast(NDArray[np.float64], low)
    if state.h is not None:
        return CurvatureState(h=same, P=None, _low=low)
    return CurvatureState(h=None, P=same, _low=low)


class _Solver:
    """A block's loss and its curvature at the driver's current point (one state: the
    line search recomputes its linear predictors instead of keeping them)."""

    def __init__(self, loss: LogisticLoss) -> None:
        self.loss = loss
        self.pid = -1
        self.w: NDArray[np.float64] | None = None
        self.state: CurvatureState | None = None

    def keep(self, pid: int, w: NDArray[np.float64], state: CurvatureState) -> None:
        self.pid, self.w, self.state = pid, w.copy(), _compact(state, self.loss.X)

    def drop(self) -> None:
        self.pid, self.w, self.state = -1, None, None

    def state_at(self, pid: int, w: NDArray[np.float64]) -> CurvatureState:
        if self.w is None or self.pid != pid or not np.array_equal(self.w, w):
            self.drop()  # a rebuilt block on another worker, or a point since replaced
            _, _, state = self.loss.value_grad(self.loss.linear(w), w)
            self.keep(pid, w, state)
        assert self.state is not None
        return self.state


# per worker process: (token, block index) -> _Solver
_SOLVERS: dict[tuple[str, int], _Solver] = {}


def _solver(block: Block, problem: Problem, index: int) -> _Solver:
    key = (problem.token, index)
    solver = _SOLVERS.get(key)
    if solver is None:
        solver = _Solver(block_loss(block, problem))
        _SOLVERS[key] = solver
    return solver


def value_grad_task(
    block: Block,
    problem: Problem,
    index: int,
    pid: int,
    w: NDArray[np.float64],
) -> tuple[float, NDArray[np.float64]]:
    """The block's data term and its gradient at ``w``; keeps its curvature as point
    ``pid`` (replacing the previous point's)."""
    solver = _solver(block, problem, index)
    solver.drop()  # the old state is freed before the new one is built
    f, g, state = solver.loss.value_grad(solver.loss.linear(w), w)
    solver.keep(pid, w, state)
    return f, g


def hessp_task(
    block: Block,
    problem: Problem,
    index: int,
    pid: int,
    w: NDArray[np.float64],
    v: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The block's Hessian (data term) at point ``pid`` times ``v``."""
    solver = _solver(block, problem, index)
    out, _ = solver.loss.hessp_u(solver.state_at(pid, w), v)
    return out


def line_task(
    block: Block,
    problem: Problem,
    index: int,
    w0: NDArray[np.float64],
    w1: NDArray[np.float64],
    steps: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The block's data term at ``w0 + t (w1 - w0)`` for each ``t`` in ``steps`` (two
    passes over X, then none per step)."""
    loss = _solver(block, problem, index).loss
    Z0 = loss.linear(w0)
    U = loss.linear(w1 - w0)  # linear in w: the intercepts' difference included
    # the block loss has no penalty (the driver adds it), so any w gives the data term
    return np.array([loss.value(Z0 + t * U, w0) for t in steps])


def sample_task(block: Block, fraction: float, seed: int) -> tuple[Any, NDArray[np.intp], Any]:
    """A uniform random ``fraction`` of the block's rows (X, codes, weights)."""
    rng = np.random.default_rng(seed)
    take = np.flatnonzero(rng.random(block.n) < fraction)
    weights = None if block.weights is None else block.weights[take]
    return block.X[take], block.codes[take], weights


def release_task(token: str) -> int:
    """Drop a finished fit's cached states on this worker."""
    stale = [k for k in _SOLVERS if k[0] == token]
    for key in stale:
        del _SOLVERS[key]
    return len(stale)


def check_block(block: Block, url: str) -> int:
    """Rows of the block (a task the driver can wait on; names the file on failure)."""
    if block.X.shape[0] != block.codes.shape[0]:
        raise ScaleError(f"{url!r}: features and labels disagree in length.")
    return block.n
