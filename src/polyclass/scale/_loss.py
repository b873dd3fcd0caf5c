"""The logistic loss of a table spread over a cluster's blocks, seen from the driver:
value, gradient and Hessian-vector products are sums of the blocks' shares (a few KB
each way per block), the penalty added once here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.scale import _blocks
from polyclass.scale._blocks import Problem
from polyclass.scale._errors import ScaleError

Array = NDArray[np.float64]

#: Results summed per reduction task when there are many blocks (a tree of sums, so the
#: driver receives a few arrays, not one per block).
FAN_IN = 32


def _add(*parts: Any) -> Any:
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_add(*column) for column in zip(*parts, strict=True))
    total = first
    for part in parts[1:]:
        total = total + part
    return total


def tree_sum(client: Any, futures: Sequence[Any]) -> Any:
    """The sum of the futures' results, in block order (reproducible), summed on the
    workers in groups of FAN_IN when there are more than FAN_IN."""
    level = list(futures)
    while len(level) > FAN_IN:
        level = [
            client.submit(_add, *level[i : i + FAN_IN], pure=False)
            for i in range(0, len(level), FAN_IN)
        ]
    return _add(*client.gather(level))


def lost_worker_error(exc: BaseException) -> ScaleError:
    return ScaleError(
        f"The fit lost its data: {type(exc).__name__}: {exc}. Dask rebuilds a block on "
        "another worker when one dies; this failed repeatedly (workers killed or out of "
        "memory). Give the workers more memory or fewer blocks each, then run again."
    )


class DistributedLoss:
    """``value_grad`` / ``hessp`` / ``line_values`` over blocks held by the cluster.

    ``n_coef``, ``K``, ``q``, ``l2v`` mirror :class:`polyclass.linear.LogisticLoss`;
    ``round_trips`` counts the driver's waits for the workers.
    """

    def __init__(
        self,
        client: Any,
        blocks: Sequence[Any],
        problem: Problem,
        n_features: int,
        l2v: Array,
        project: Callable[[Array], Array],
    ) -> None:
        self.client = client
        self.blocks = list(blocks)
        self.problem = problem
        self.K = len(l2v)
        self.p = n_features
        self.q = n_features + int(problem.fit_intercept)
        self.n_coef = self.K * self.q
        self.l2v = np.asarray(l2v, dtype=np.float64)
        self.project = project
        self.round_trips = 0
        self._next = 0
        self.last_value = float("nan")  # the objective value_grad last computed

    def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        futures = [
            self.client.submit(function, block, self.problem, i, *args, pure=False)
            for i, block in enumerate(self.blocks)
        ]
        self.round_trips += 1
        try:
            return futures, tree_sum(self.client, futures)
        except Exception as exc:
            if type(exc).__name__ in ("KilledWorker", "FutureCancelledError", "CancelledError"):
                raise lost_worker_error(exc) from exc
            raise

    def penalty(self, w: Array) -> float:
        W = w.reshape(self.K, self.q)[:, : self.p]
        return 0.5 * float(self.l2v @ np.einsum("kj,kj->k", W, W))

    def _add_penalty_grad(self, w: Array, g: Array) -> Array:
        W = w.reshape(self.K, self.q)[:, : self.p]
        g = np.array(g, dtype=np.float64)
        g.reshape(self.K, self.q)[:, : self.p] += self.l2v[:, None] * W
        return g

    def value_grad(self, w: Array) -> tuple[int, float, Array]:
        """Objective and gradient at ``w``; the workers keep its curvature as point
        ``pid`` for :meth:`hessp` (replacing the previous point's)."""
        pid = self._next
        self._next += 1
        _, (f, g) = self._run(_blocks.value_grad_task, pid, w)
        self.last_value = float(f) + self.penalty(w)
        return pid, self.last_value, self._add_penalty_grad(w, g)

    def grad(self, w: Array) -> tuple[float, Array]:
        """``(objective, gradient)``: what :func:`polyclass.linear.lbfgs` calls."""
        _, f, g = self.value_grad(w)
        return f, g

    def hessp(self, point: tuple[int, Array], v: Array) -> Array:
        """Hessian at ``point`` (pid, w) times ``v``."""
        _, Hv = self._run(_blocks.hessp_task, point[0], point[1], v)
        out = np.array(Hv, dtype=np.float64)
        V = v.reshape(self.K, self.q)[:, : self.p]
        out.reshape(self.K, self.q)[:, : self.p] += self.l2v[:, None] * V
        return out

    def line_values(self, w0: Array, w1: Array, steps: Array) -> Array:
        """Objective at ``w0 + t * (w1 - w0)`` for each step ``t``, in one round trip."""
        _, data = self._run(_blocks.line_task, w0, w1, steps)
        penalties = np.array([self.penalty(w0 + t * (w1 - w0)) for t in steps])
        values: Array = np.asarray(data, dtype=np.float64) + penalties
        return values

    def release(self) -> None:
        """Free the workers' cached states of this fit."""
        try:
            self.client.run(_blocks.release_task, self.problem.token)
        except Exception:  # a worker gone is already released
            pass
