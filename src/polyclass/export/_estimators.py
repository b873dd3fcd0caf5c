"""Each model family's predictor as ONNX nodes: probabilities and the estimator's own label.

Every family is written from what :meth:`polyclass.families.Family.export` stores, step
for step as its NumPy predictor computes, in float64. The "own label" is the class the
estimator itself predicts (the largest score, a positive binary score, or one-vs-one's
vote), which the ``argmax`` decision rule returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.export._calibration import calibrated_nodes
from polyclass.export._coupling import pairwise_coupling
from polyclass.export._errors import ExportError
from polyclass.export._graph import Graph
from polyclass.export._trees import tree_ensemble

Arrays = dict[str, NDArray[Any]]
#: The stored form of a calibrated model (``polyclass.families.calibrated``'s format).
CALIBRATED = "polyclass.families.calibrated"


@dataclass(frozen=True)
class Outputs:
    """What an estimator's nodes give: probabilities (N, K), its own class index (N,), and
    its ``decision_function`` (N, 1 or K) where it has one (a calibration reads it)."""

    proba: str | None
    own: str | None
    scores: str | None = None


def estimator_nodes(
    g: Graph, family: str, meta: Mapping[str, Any], arrays: Arrays, x: str
) -> tuple[str, str]:
    """The family's probabilities and own label index from the design matrix ``x``."""
    if isinstance(meta, Mapping) and meta.get("format") == CALIBRATED:
        base = _writer(family)(g, meta["estimator"], _inner(arrays), x)
        out = calibrated_nodes(g, meta, arrays, base)
    else:
        out = _writer(family)(g, meta, arrays, x)
    if out.proba is None or out.own is None:
        raise ExportError(
            f"This {family!r} model has margins but no probabilities (it was stored without "
            "its calibration); polyclass cannot predict probabilities from it either. "
            "Retrain it with calibration, then export."
        )
    return out.proba, out.own


def _writer(family: str) -> Callable[[Graph, Mapping[str, Any], Arrays, str], Outputs]:
    writer = _WRITERS.get(family)
    if writer is None:
        raise ExportError(
            f"The {family!r} model family has no ONNX export in this polyclass (it exports "
            f"{', '.join(sorted(_WRITERS))}). Train a model of one of those families to export "
            "it, or serve this one with polyclass serve."
        )
    return writer


def _inner(arrays: Arrays) -> Arrays:
    """A calibrated model's base-estimator arrays (stored under ``estimator.``)."""
    prefix = "estimator."
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


# --- shared steps ---------------------------------------------------------------------
def _expit(g: Graph, z: str) -> str:
    """``1 / (1 + exp(-z))`` as the families compute it."""
    one = g.const(1.0)
    return g.op("Div", one, g.op("Add", one, g.op("Exp", g.op("Neg", z))), hint="expit")


def _stable_expit(g: Graph, z: str) -> str:
    """The linear models' sigmoid: ``where(z >= 0, 1, e) / (1 + e)`` with ``e = exp(-|z|)``."""
    one = g.const(1.0)
    e = g.op("Exp", g.op("Neg", g.op("Abs", z)))
    top = g.op("Where", g.op("GreaterOrEqual", z, g.const(0.0)), one, e)
    return g.op("Div", top, g.op("Add", one, e), hint="expit")


def _two_columns(g: Graph, positive: str) -> str:
    """``[1 - p, p]`` from a (N, 1) column ``p``."""
    return g.op("Concat", g.op("Sub", g.const(1.0), positive), positive, axis=1, hint="proba")


def _softmax(g: Graph, z: str) -> str:
    """Row-wise softmax after subtracting the row maximum, as scikit-learn does."""
    shifted = g.op("Sub", z, g.op("ReduceMax", z, g.const([1], dtype=np.int64), keepdims=1))
    e = g.op("Exp", shifted)
    return g.op(
        "Div", e, g.op("ReduceSum", e, g.const([1], dtype=np.int64), keepdims=1), hint="proba"
    )


def _positive(g: Graph, z: str) -> str:
    """Index 1 where the (N, 1) score is above zero, else 0; shape (N,)."""
    above = g.op("Greater", g.op("Squeeze", z, g.const([1], dtype=np.int64)), g.const(0.0))
    return g.op("Cast", above, to=g.onnx.TensorProto.INT64)


def _affine(g: Graph, x: str, weights: NDArray[Any], bias: NDArray[Any], hint: str) -> str:
    """``x @ weights + bias``."""
    product = g.op("MatMul", x, g.const(np.asarray(weights, np.float64), f"{hint}_w"))
    return g.op("Add", product, g.const(np.asarray(bias, np.float64).reshape(1, -1), f"{hint}_b"))


# --- families -------------------------------------------------------------------------
def _linear(g: Graph, meta: Mapping[str, Any], arrays: Arrays, x: str) -> Outputs:
    kind = meta.get("type")
    coef, intercept = arrays["coef"], arrays["intercept"]
    n_classes = len(arrays["classes"])
    if kind == "LogisticRegression":
        scores = _affine(g, x, np.asarray(coef).T, intercept, "linear")
        if n_classes == 2:
            return Outputs(_two_columns(g, _stable_expit(g, scores)), _positive(g, scores))
        return Outputs(_softmax(g, scores), g.argmax(scores))
    scores = _affine(g, x, coef, intercept, "linear")
    if kind == "OneVsRestClassifier":
        own = _positive(g, scores) if n_classes == 2 else g.argmax(scores)
        return Outputs(_ovr_proba(g, scores, n_classes), own)
    if kind == "OneVsOneClassifier":
        proba = pairwise_coupling(g, _stable_expit(g, scores), n_classes)
        own = _positive(g, scores) if n_classes == 2 else _ovo_vote(g, scores, n_classes)
        return Outputs(proba, own)
    raise ExportError(f"The linear estimator {kind!r} has no ONNX export in this polyclass.")


def _ovr_proba(g: Graph, scores: str, n_classes: int) -> str:
    """Each class's sigmoid, rows scaled to sum to one (a zero row stays zero)."""
    p = _stable_expit(g, scores)
    if n_classes == 2:
        p = _two_columns(g, p)
    total = g.op("ReduceSum", p, g.const([1], dtype=np.int64), keepdims=1)
    zero = g.op("Equal", total, g.const(0.0))
    return g.op("Div", p, g.op("Where", zero, g.const(1.0), total), hint="proba")


def _ovo_vote(g: Graph, scores: str, n_classes: int) -> str:
    """One-vs-one's label: votes plus the summed confidences squashed into (-1/3, 1/3)."""
    first, second = np.triu_indices(n_classes, k=1)
    pairs = np.arange(len(first))
    to_first = np.zeros((len(first), n_classes))
    to_first[pairs, first] = 1.0
    to_second = np.zeros((len(first), n_classes))
    to_second[pairs, second] = 1.0
    won = g.double(g.op("Greater", scores, g.const(0.0)))  # 1: the pair's second class wins
    lost = g.op("Sub", g.const(1.0), won)
    votes = g.op(
        "Add", g.op("MatMul", lost, g.const(to_first)), g.op("MatMul", won, g.const(to_second))
    )
    sums = g.op("MatMul", scores, g.const(to_second - to_first))
    squashed = g.op(
        "Div", sums, g.op("Mul", g.const(3.0), g.op("Add", g.op("Abs", sums), g.const(1.0)))
    )
    return g.argmax(g.op("Add", votes, squashed, hint="ovo_decision"))


def _boosting(g: Graph, meta: Mapping[str, Any], arrays: Arrays, x: str) -> Outputs:
    k = int(meta["n_trees_per_iteration"])
    n_trees = len(arrays["roots"])
    values = np.asarray(arrays["value"], np.float64)[:, None]
    raw = tree_ensemble(g, x, arrays, values, [[j % k] for j in range(n_trees)])
    raw = g.op("Add", raw, g.const(np.asarray(arrays["baseline"], np.float64)[None, :]), hint="raw")
    if k == 1:
        return Outputs(_two_columns(g, _expit(g, raw)), _positive(g, raw), raw)
    return Outputs(_softmax(g, raw), g.argmax(raw), raw)


def _forest(g: Graph, meta: Mapping[str, Any], arrays: Arrays, x: str) -> Outputs:
    value = np.asarray(arrays["value"], np.float64)
    normalizer = value.sum(axis=1)[:, None]
    normalizer[normalizer == 0.0] = 1.0
    fractions = value / normalizer  # each tree's probabilities at its leaves
    n_classes = value.shape[1]
    n_trees = len(arrays["roots"])
    x32 = g.double(g.op("Cast", x, to=g.onnx.TensorProto.FLOAT))  # what the trees read
    total = tree_ensemble(g, x32, arrays, fractions, [list(range(n_classes))] * n_trees)
    proba = g.op("Div", total, g.const(float(n_trees)), hint="proba")
    return Outputs(proba, g.argmax(proba))


def _mlp(g: Graph, meta: Mapping[str, Any], arrays: Arrays, x: str) -> Outputs:
    n_layers = int(meta["n_layers"])
    activation = str(meta["activation"])
    a = x
    for i in range(n_layers):
        a = _affine(g, a, arrays[f"coef.{i}"], arrays[f"intercept.{i}"], f"layer{i}")
        if i < n_layers - 1:
            a = _hidden(g, a, activation)
    proba = _softmax(g, a) if len(arrays["classes"]) > 2 else _two_columns(g, _expit(g, a))
    return Outputs(proba, g.argmax(proba))


def _hidden(g: Graph, a: str, activation: str) -> str:
    if activation == "relu":
        return g.op("Relu", a)
    if activation == "tanh":
        return g.op("Tanh", a)
    if activation == "logistic":
        return _expit(g, a)
    return a


def _svm(g: Graph, meta: Mapping[str, Any], arrays: Arrays, x: str) -> Outputs:
    """The margins only: an SVM's probabilities come from its calibration."""
    if meta.get("kernel") == "rbf":
        x = _nystroem(g, x, arrays["components"], arrays["normalization"], float(meta["gamma"]))
    scores = _affine(g, x, np.asarray(arrays["coef"]).T, arrays["intercept"], "svm")
    return Outputs(None, None, scores)


def _nystroem(
    g: Graph, x: str, components: NDArray[Any], normalization: NDArray[Any], gamma: float
) -> str:
    """RBF kernel values against the sampled rows, times the normalization (Nystroem)."""
    c = np.asarray(components, np.float64)
    axis = g.const([1], dtype=np.int64)
    d = g.op("Mul", g.const(-2.0), g.op("MatMul", x, g.const(c.T, "components")))
    d = g.op("Add", d, g.op("ReduceSumSquare", x, axis, keepdims=1))
    d = g.op("Add", d, g.const(np.einsum("ij,ij->i", c, c)[None, :], "component_norms"))
    d = g.op("Exp", g.op("Mul", g.op("Max", d, g.const(0.0)), g.const(-gamma)))
    return g.op("MatMul", d, g.const(np.asarray(normalization, np.float64).T, "normalization"))


_WRITERS: dict[str, Callable[[Graph, Mapping[str, Any], Arrays, str], Outputs]] = {
    "svm": _svm,
    "linear": _linear,
    "boosting": _boosting,
    "forest": _forest,
    "mlp": _mlp,
}
