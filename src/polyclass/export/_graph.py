"""A small builder of one ONNX graph: nodes, constants and unique tensor names.

The export modules describe the computation step by step (``g.op("Add", a, b)``) and
never spell tensor names; the builder numbers them and keeps the constants as
initializers, so the steps read like the NumPy code they mirror.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: The ONNX operator sets the graph is written for (standard and ``ai.onnx.ml``).
OPSET = 21
ML_OPSET = 5
ML_DOMAIN = "ai.onnx.ml"


class Graph:
    """Nodes and initializers of one graph, with generated tensor names."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        """A tensor name not used before, readable in a graph viewer."""
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """A constant tensor (an initializer) holding ``value``."""
        array = np.asarray(value, dtype=dtype)
        if array.dtype.kind == "U":
            array = array.astype(object)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, hint: str = "", domain: str = "", **attrs: Any) -> str:
        """Add a node with one output; returns the output's name."""
        return self.op_n(op_type, inputs, 1, hint=hint, domain=domain, **attrs)[0]

    def op_n(
        self,
        op_type: str,
        inputs: tuple[str, ...] | list[str],
        n_outputs: int,
        *,
        hint: str = "",
        domain: str = "",
        **attrs: Any,
    ) -> list[str]:
        """Add a node with ``n_outputs`` outputs; returns their names."""
        outputs = [self.name(hint or op_type.lower()) for _ in range(n_outputs)]
        node = self.onnx.helper.make_node(
            op_type, list(inputs), outputs, domain=domain or None, **attrs
        )
        self.nodes.append(node)
        return outputs

    def input(self, name: str, elem_type: int, width: int | None = 1) -> str:
        """A graph input of shape (N, width), N the number of rows."""
        shape: list[Any] = ["N"] if width is None else ["N", width]
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, tensor: str, name: str, elem_type: int, shape: list[Any]) -> None:
        """Expose ``tensor`` as the graph output ``name``."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [tensor], [name]))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, graph_name: str, doc: str, metadata: dict[str, str]) -> Any:
        """The finished ``onnx.ModelProto``, checked by ``onnx.checker``."""
        onnx = self.onnx
        graph = onnx.helper.make_graph(
            self.nodes, graph_name, self.inputs, self.outputs, self.initializers
        )
        opsets = [
            onnx.helper.make_opsetid("", OPSET),
            onnx.helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ]
        proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="polyclass")
        proto.ir_version = 10  # what onnxruntime 1.20 and later read
        proto.doc_string = doc
        onnx.helper.set_model_props(proto, metadata)
        onnx.checker.check_model(proto, full_check=True)
        return proto

    # --- shorthands for the steps every part uses ---------------------------------
    def double(self, tensor: str) -> str:
        """``tensor`` cast to float64."""
        return self.op("Cast", tensor, to=self.onnx.TensorProto.DOUBLE)

    def columns(self, tensor: str, index: NDArray[np.int64] | list[int]) -> str:
        """``tensor[:, index]``."""
        return self.op("Gather", tensor, self.const(np.asarray(index, np.int64), "idx"), axis=1)

    def argmax(self, tensor: str, *, lowest: bool = False) -> str:
        """The first column of the largest (``lowest``: smallest) value per row, shape (N,)."""
        op = "ArgMin" if lowest else "ArgMax"
        return self.op(op, tensor, axis=1, keepdims=0, select_last_index=0)
