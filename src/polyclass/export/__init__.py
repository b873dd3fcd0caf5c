"""Export a model to formats other runtimes serve: one ONNX graph of the whole model.

``to_onnx(model)`` builds the graph (preprocessing, estimator, decision rule) and
``export_onnx(model, path)`` writes it; ``polyclass export MODEL --format onnx -o FILE``
is the command. Importing this package is cheap; the ``onnx`` library loads on export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach

if TYPE_CHECKING:  # the names load on first use: `polyclass --help` and serve skip NumPy here
    from polyclass.export._errors import ExportError
    from polyclass.export._inputs import onnx_feeds
    from polyclass.export._onnx import export_onnx, to_onnx

__all__ = ["ExportError", "export_onnx", "onnx_feeds", "to_onnx"]

__getattr__, __dir__ = attach(
    __name__,
    {
        "ExportError": "polyclass.export._errors",
        "onnx_feeds": "polyclass.export._inputs",
        "export_onnx": "polyclass.export._onnx",
        "to_onnx": "polyclass.export._onnx",
    },
    __all__,
)
