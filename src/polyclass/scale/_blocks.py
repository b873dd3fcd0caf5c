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
from typing import Any

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
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(url, **storage_options)
    if _is_local(fs):  # Arrow's own file reader: no Python file object in the loop
        table = pq.ParquetFile(root).read(columns=columns, use_threads=False)
    else:
        with fs.open(root, "rb") as handle:
            table = pq.ParquetFile(handle).read(columns=columns, use_threads=False)
    return table.to_pandas()


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
    X = X.astype(dtype).tocsr() if sp.issparse(X) else X.astype(dtype, copy=False)
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


class _Solver:
    """A block's loss and the states at the points the driver still needs."""

    def __init__(self, loss: LogisticLoss) -> None:
        self.loss = loss
        self.points: dict[int, tuple[NDArray[np.float64], Any, CurvatureState | None]] = {}

    def point(self, pid: int, w: NDArray[np.float64]) -> tuple[Any, CurvatureState | None]:
        hit = self.points.get(pid)
        if hit is not None and np.array_equal(hit[0], w):
            return hit[1], hit[2]
        Z = self.loss.linear(w)
        self.points[pid] = (w.copy(), Z, None)
        return Z, None

    def state(self, pid: int, w: NDArray[np.float64]) -> CurvatureState:
        Z, state = self.point(pid, w)
        if state is None:
            _, _, state = self.loss.value_grad(Z, w)
            self.points[pid] = (w.copy(), Z, state)
        return state


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
    keep: tuple[int, ...],
) -> tuple[float, NDArray[np.float64]]:
    """The block's data term and its gradient at ``w``; keeps point ``pid``'s state."""
    solver = _solver(block, problem, index)
    for old in [p for p in solver.points if p not in keep and p != pid]:
        del solver.points[old]
    Z, _ = solver.point(pid, w)
    f, g, state = solver.loss.value_grad(Z, w)
    solver.points[pid] = (w.copy(), Z, state)
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
    out, _ = solver.loss.hessp_u(solver.state(pid, w), v)
    return out


def line_task(
    block: Block,
    problem: Problem,
    index: int,
    base: tuple[int, NDArray[np.float64]],
    trial: tuple[int, NDArray[np.float64]],
    steps: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The block's data term at ``w + t (w_trial - w)`` for each ``t`` in ``steps``, from
    the two points' linear predictors (no pass over X)."""
    solver = _solver(block, problem, index)
    Z0, _ = solver.point(*base)
    Z1, _ = solver.point(*trial)
    # the block loss has no penalty (the driver adds it), so any w gives the data term
    return np.array([solver.loss.value(Z0 + t * (Z1 - Z0), base[1]) for t in steps])


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
