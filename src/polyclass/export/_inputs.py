"""The preprocessing as ONNX nodes: one graph input per column, out the design matrix.

The steps are the ``Preprocessor``'s, in its output order: numeric columns imputed with
the training median where not finite, centred and scaled; missing indicators; then each
categorical column's one-hot block, where a missing value takes the training mode and an
unseen category gives all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.export._errors import ExportError
from polyclass.export._graph import Graph

#: How a string column's missing value travels in ONNX, which has no null strings.
MISSING_STRING = ""


@dataclass(frozen=True)
class InputColumn:
    """One graph input: a model column, its ONNX element type name and its missing value."""

    name: str
    onnx_type: str  # "double", "string" or "bool"
    missing: str  # how a client sends a missing value


def input_columns(preprocessor: Any) -> list[InputColumn]:
    """The graph's inputs, in the schema's column order, or an ExportError naming the fix."""
    _check_expressible(preprocessor)
    out = []
    for feature in preprocessor.schema.features:
        if feature.kind == "numeric" or feature.value_type in ("int", "float"):
            out.append(InputColumn(feature.name, "double", "NaN"))
        elif feature.value_type == "str":
            out.append(InputColumn(feature.name, "string", "the empty string"))
        else:
            out.append(InputColumn(feature.name, "bool", "not expressible (send the value)"))
    return out


def _check_expressible(pre: Any) -> None:
    """Refuse preprocessing whose result ONNX cannot reproduce exactly."""
    schema = pre.schema
    dates = [f.name for f in schema.features if f.kind == "datetime"]
    if dates:
        raise ExportError(
            f"Column(s) {dates} are dates; ONNX has no operator that parses date text, so the "
            "export would not match polyclass. Turn them into numbers (say, year and day of "
            "year) in the table, retrain, then export."
        )
    text = [f.name for f in schema.features if f.kind == "numeric" and f.text_numbers]
    if text:
        raise ExportError(
            f"Numeric column(s) {text} are read from text, where a value that is not a number "
            "counts as missing; ONNX cannot parse text that way. Clean the column to numbers, "
            "retrain, then export."
        )
    if pre.handle_unknown != "ignore" or pre.missing != "impute":
        raise ExportError(
            "The preprocessor refuses unseen categories or missing values "
            f"(handle_unknown={pre.handle_unknown!r}, missing={pre.missing!r}); an ONNX graph "
            "cannot raise per row, so it would answer where polyclass refuses. Retrain with "
            "handle_unknown='ignore' and missing='impute', then export."
        )
    for oh in pre.onehots_:
        if oh.value_type == "str" and MISSING_STRING in oh.categories:
            raise ExportError(
                f"Column {oh.name!r} has the empty string as a category, which the ONNX graph "
                "reads as a missing value. Replace it in the table (say, with 'none'), retrain, "
                "then export."
            )


def design_matrix(g: Graph, pre: Any, columns: list[InputColumn]) -> str:
    """Add the inputs and the preprocessing; returns the (N, n_features_out) float64 tensor."""
    from onnx import TensorProto

    types = {"double": TensorProto.DOUBLE, "string": TensorProto.STRING, "bool": TensorProto.BOOL}
    inputs = {c.name: g.input(c.name, types[c.onnx_type]) for c in columns}
    blocks = _numeric_blocks(g, pre, inputs)
    blocks += [_onehot(g, oh, inputs[oh.name]) for oh in pre.onehots_]
    x = blocks[0] if len(blocks) == 1 else g.op("Concat", *blocks, axis=1, hint="design")
    if pre.dtype == "float32":  # the preprocessor rounds its output to float32
        x = g.double(g.op("Cast", x, to=TensorProto.FLOAT))
    return x


def _numeric_blocks(g: Graph, pre: Any, inputs: dict[str, str]) -> list[str]:
    """Scaled numeric columns, then the missing indicators."""
    names = pre.numeric_columns
    if not names:
        return []
    raw = [inputs[n] for n in names]
    x = raw[0] if len(raw) == 1 else g.op("Concat", *raw, axis=1, hint="numeric")
    missing = g.op("Or", g.op("IsNaN", x), g.op("IsInf", x), hint="missing")
    imputed = g.op("Where", missing, g.const(pre.medians_[None, :], "median"), x)
    centred = g.op("Sub", imputed, g.const(pre.means_[None, :], "mean"))
    blocks = [g.op("Div", centred, g.const(pre.scales_[None, :], "scale"), hint="scaled")]
    if pre.indicator_columns_:
        where = [names.index(n) for n in pre.indicator_columns_]
        blocks.append(g.double(g.columns(missing, where)))
    return blocks


def _onehot(g: Graph, oh: Any, x: str) -> str:
    """One categorical column's one-hot block (rare categories share the last column)."""
    categories = _category_array(oh.value_type, oh.categories)
    fill = _category_array(oh.value_type, [oh.fill])
    if oh.value_type == "str":
        missing = g.op("Equal", x, g.const(np.array([[MISSING_STRING]], dtype=object)))
        x = g.op("Where", missing, g.const(fill[None, :]), x)
    elif oh.value_type in ("int", "float"):
        x = g.op("Where", g.op("IsNaN", x), g.const(fill[None, :]), x)
    hits = g.double(g.op("Equal", x, g.const(categories[None, :], "categories")))
    # category i -> output column lookup[i]: a 0/1 matrix, so the product is exact
    lookup = oh.lookup()
    to_block = np.zeros((len(categories), oh.width))
    to_block[np.arange(len(categories)), lookup] = 1.0
    return g.op("MatMul", hits, g.const(to_block, "onehot"), hint=f"onehot_{oh.name}")


def _category_array(value_type: str, values: Any) -> NDArray[Any]:
    """Categories as the element type of their graph input."""
    if value_type == "str":
        return np.asarray(list(values), dtype=object)
    if value_type == "bool":
        return np.asarray(list(values), dtype=bool)
    return np.asarray(list(values), dtype=np.float64)


def onnx_feeds(model: Any, data: Any) -> dict[str, NDArray[Any]]:
    """The graph inputs for a table: one (N, 1) array per column, missing values encoded.

    Parameters
    ----------
    model : polyclass.model.Model
        The exported model.
    data : DataFrame or dict of column -> sequence
        Rows with the model's columns (extra columns are ignored).

    Returns
    -------
    dict of str to ndarray
        What ``onnxruntime.InferenceSession.run(None, feeds)`` takes.

    Raises
    ------
    ExportError
        A column is absent, or a boolean column holds a missing value.
    """
    feeds = {}
    for column in input_columns(model.preprocessor):
        if column.name not in data:
            raise ExportError(f"The input has no column {column.name!r}; the graph needs it.")
        values = list(data[column.name])
        missing = [v is None or (isinstance(v, float) and v != v) for v in values]
        if column.onnx_type == "string":
            cells = [MISSING_STRING if m else str(v) for v, m in zip(values, missing, strict=True)]
            array = np.asarray(cells, dtype=object)
        elif column.onnx_type == "double":
            array = np.asarray(
                [np.nan if m else v for v, m in zip(values, missing, strict=True)], dtype=np.float64
            )
        else:
            if any(missing):
                raise ExportError(
                    f"Column {column.name!r} is boolean and has a missing value; the graph's "
                    "bool input cannot hold one. Send True or False."
                )
            array = np.asarray(values, dtype=bool)
        feeds[column.name] = array.reshape(-1, 1)
    return feeds
