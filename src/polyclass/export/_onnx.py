"""A whole polyclass model as one ONNX graph: preprocessing, estimator and decision rule.

Inputs are the model's columns by name, each of shape (N, 1): numbers as float64 (NaN
for missing), text as strings (the empty string for missing), booleans as bool.
Outputs are ``label`` (N,) in the classes' type and ``probabilities`` (N, K) float64 in
the order of ``model.classes_``. Everything is computed in float64, step for step as
polyclass's NumPy predictors compute it.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from polyclass._version import __version__
from polyclass.export._errors import ExportError
from polyclass.export._estimators import estimator_nodes
from polyclass.export._graph import Graph
from polyclass.export._inputs import design_matrix, input_columns
from polyclass.families import get_family


def to_onnx(model: Any) -> Any:
    """The model as an ``onnx.ModelProto``, checked with ``onnx.checker``.

    Parameters
    ----------
    model : polyclass.model.Model
        A trained or loaded model.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ExportError
        The model holds a part ONNX cannot compute exactly (dates, numbers read from
        text, a refusing preprocessor, a family without an export); the message names
        the fix.
    ImportError
        The ``onnx`` package is missing (``pip install 'polyclass[onnx]'``).
    """
    _require_onnx()
    from onnx import TensorProto

    columns = input_columns(model.preprocessor)
    family_meta, arrays = get_family(model.family).export(model.estimator)
    classes = _label_array(np.asarray(model.classes_))
    g = Graph()
    x = design_matrix(g, model.preprocessor, columns)
    proba, own = estimator_nodes(g, model.family, family_meta, dict(arrays), x)
    index = _decision(g, model, proba, own)
    label = g.op("Gather", g.const(classes, "classes"), index, axis=0, hint="label")
    label_type = {"O": TensorProto.STRING, "b": TensorProto.BOOL, "f": TensorProto.DOUBLE}
    g.output(label, "label", label_type.get(classes.dtype.kind, TensorProto.INT64), ["N"])
    g.output(proba, "probabilities", TensorProto.DOUBLE, ["N", len(classes)])
    metadata = {
        "polyclass_version": __version__,
        "family": model.family,
        "classes": json.dumps(classes.tolist()),
        "decision": json.dumps(model.decision.to_dict()),
        "inputs": json.dumps({c.name: c.onnx_type for c in columns}),
    }
    doc = (
        f"polyclass {model.family} model: {model.decision.describe()}. Inputs: one (N, 1) "
        "tensor per column (float64 with NaN for missing, string with '' for missing, or "
        "bool). Outputs: label (N,) and probabilities (N, K) in the order of 'classes'."
    )
    return g.model("polyclass", doc, metadata)


def export_onnx(model: Any, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the model as one ONNX file (a temporary name, then renamed into place).

    Parameters
    ----------
    model : polyclass.model.Model
        A trained or loaded model.
    path : str or Path
        The ``.onnx`` file to write.
    overwrite : bool, default=False
        Replace an existing file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        See :func:`to_onnx`; or ``path`` is a directory, or exists and ``overwrite`` is
        false.

    Examples
    --------
    >>> import polyclass
    >>> from polyclass.export import export_onnx
    >>> export_onnx(polyclass.load("out/model"), "model.onnx")  # doctest: +SKIP
    PosixPath('model.onnx')
    """
    path = Path(path)
    if path.is_dir():
        raise ExportError(
            f"{path} is a directory; give the file to write, such as {path / 'model.onnx'}."
        )
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists. Choose another path, or pass overwrite=True.")
    data = to_onnx(model).SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open with 0o666 (not mkstemp's 0600): the file gets the umask's mode like other outputs
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _decision(g: Graph, model: Any, proba: str, own: str) -> str:
    """The class index under the model's decision rule, shape (N,) int64."""
    d = model.decision
    if d.kind == "argmax":
        return own
    if d.kind == "threshold":
        positive = int(np.flatnonzero(np.asarray(model.classes_) == d.positive_class)[0])
        column = g.op("Squeeze", g.columns(proba, [positive]), g.const([1], dtype=np.int64))
        chosen = g.op("GreaterOrEqual", column, g.const(float(d.threshold)))
        picks = (g.const(np.int64(positive)), g.const(np.int64(1 - positive)))
        return g.op("Where", chosen, *picks, hint="decision")
    if d.kind == "cost":
        cost = g.const(np.asarray(d.cost_matrix, dtype=np.float64), "cost_matrix")
        return g.argmax(g.op("MatMul", proba, cost, hint="expected_cost"), lowest=True)
    raise ExportError(f"The decision rule {d.kind!r} has no ONNX export in this polyclass.")


def _label_array(classes: Any) -> Any:
    """Class labels as a constant the graph can hold (text as Python strings)."""
    if classes.dtype.kind in "US":
        return classes.astype(str).astype(object)
    if classes.dtype.kind in "iu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "O":
        if all(isinstance(c, str) for c in classes):
            return classes
        raise ExportError("The model's classes mix types; ONNX needs one label type.")
    return classes


def _require_onnx() -> None:
    import importlib.util

    missing = [m for m in ("onnx",) if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            "Exporting to ONNX needs the 'onnx' package, which is not installed. Install it "
            "with: pip install 'polyclass[onnx]'"
        )
