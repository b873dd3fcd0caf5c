"""A calibrated model's probabilities as ONNX nodes: each class's score through its curve.

The arithmetic of ``polyclass.families``' calibrated predictor (scikit-learn's): Platt's
``expit(-(a s + b))`` or isotonic interpolation clipped to the fitted range, the second
class alone with two classes, otherwise each class then rows renormalised (a zero row
becomes uniform), and values a hair above one rounded to one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from polyclass.export._errors import ExportError
from polyclass.export._graph import Graph

if TYPE_CHECKING:
    from polyclass.export._estimators import Outputs


def calibrated_nodes(
    g: Graph, meta: Mapping[str, Any], arrays: dict[str, NDArray[Any]], base: Outputs
) -> Outputs:
    """The calibrated probabilities and their argmax, from the base estimator's outputs."""
    from polyclass.export._estimators import Outputs

    n_classes = len(arrays["classes"])
    scores = _response(g, str(meta["response"]), base, n_classes)
    n_calibrators = int(meta["n_calibrators"])
    method = meta["method"]
    columns = []
    for k in range(n_calibrators):
        s = g.columns(scores, [k])
        if method == "sigmoid":
            a, b = float(arrays["calibration.a"][k]), float(arrays["calibration.b"][k])
            columns.append(_sigmoid(g, s, a, b))
        else:
            x, y = arrays[f"calibration.x.{k}"], arrays[f"calibration.y.{k}"]
            columns.append(_isotonic(g, s, np.asarray(x, np.float64), np.asarray(y, np.float64)))
    if n_classes == 2:
        proba = g.op("Concat", g.op("Sub", g.const(1.0), columns[0]), columns[0], axis=1)
    else:
        proba = g.op("Concat", *columns, axis=1)
        total = g.op("ReduceSum", proba, g.const([1], dtype=np.int64), keepdims=1)
        zero = g.op("Equal", total, g.const(0.0))
        divided = g.op("Div", proba, g.op("Where", zero, g.const(1.0), total))
        proba = g.op("Where", zero, g.const(1.0 / n_classes), divided)
    above = g.op(
        "And",
        g.op("Greater", proba, g.const(1.0)),
        g.op("LessOrEqual", proba, g.const(1.0 + 1e-5)),
    )
    proba = g.op("Where", above, g.const(1.0), proba, hint="proba")
    return Outputs(proba, g.argmax(proba))


def _response(g: Graph, response: str, base: Outputs, n_classes: int) -> str:
    """The base estimator's scores the calibrators read, (N, n_calibrators)."""
    if response == "decision_function" and base.scores is not None:
        return base.scores
    if response == "predict_proba" and base.proba is not None:
        # with two classes scikit-learn calibrates the second class's probability
        return g.columns(base.proba, [1]) if n_classes == 2 else base.proba
    raise ExportError(f"The stored calibration reads the estimator's {response}, which it lacks.")


def _sigmoid(g: Graph, s: str, a: float, b: float) -> str:
    z = g.op("Neg", g.op("Add", g.op("Mul", g.const(a), s), g.const(b)))
    one = g.const(1.0)
    return g.op("Div", one, g.op("Add", one, g.op("Exp", g.op("Neg", z))), hint="platt")


def _isotonic(g: Graph, s: str, x: NDArray[np.float64], y: NDArray[np.float64]) -> str:
    """``np.interp(clip(s, x[0], x[-1]), x, y)`` for one (N, 1) column."""
    if len(x) == 1:
        return g.op("Add", g.op("Mul", s, g.const(0.0)), g.const(float(y[0])))
    s = g.op("Clip", s, g.const(float(x[0])), g.const(float(x[-1])))
    # the segment of each value: how many inner knots lie at or below it
    inner = g.const(x[None, 1:-1]) if len(x) > 2 else None
    if inner is None:
        segment = g.op("Cast", g.op("Mul", s, g.const(0.0)), to=g.onnx.TensorProto.INT64)
    else:
        at_or_below = g.op("Cast", g.op("GreaterOrEqual", s, inner), to=g.onnx.TensorProto.INT64)
        segment = g.op("ReduceSum", at_or_below, g.const([1], dtype=np.int64), keepdims=1)
    x0 = g.op("Gather", g.const(x[:-1]), segment, axis=0)
    y0 = g.op("Gather", g.const(y[:-1]), segment, axis=0)
    slope = g.op("Gather", g.const((y[1:] - y[:-1]) / _nonzero(x[1:] - x[:-1])), segment, axis=0)
    return g.op("Add", g.op("Mul", slope, g.op("Sub", s, x0)), y0, hint="isotonic")


def _nonzero(d: NDArray[np.float64]) -> NDArray[np.float64]:
    """Widths of the segments, a repeated knot's zero width made one (its slope is unused)."""
    return np.where(d == 0, 1.0, d)
