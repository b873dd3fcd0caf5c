"""Training, scoring and evaluation on a Dask cluster, for tables larger than one machine.

The data stays on the workers, one block per Parquet file. Preprocessing statistics are
merged from per-block states (exact moments and counts; exact medians from a KLL sketch
refined by a second pass). The logistic models are fitted by polyclass's own Newton-CG
(or L-BFGS), run on the driver against a loss whose value, gradient and Hessian-vector
products are summed over the blocks.

Needs the ``dask`` extra: ``pip install 'polyclass[dask]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach

if TYPE_CHECKING:
    from polyclass.scale._cluster import SCHEDULER_ENV, connect, resolve_address
    from polyclass.scale._commands import evaluate_on_dask, predict_on_dask
    from polyclass.scale._errors import ScaleError
    from polyclass.scale._evaluate import evaluate_frames, evaluate_parts
    from polyclass.scale._fit import FitInfo, fit_logistic
    from polyclass.scale._predict import predict_parts
    from polyclass.scale._rows import (
        gather_column,
        gather_rows,
        select_rows,
        split_by_part,
        table_fingerprint,
    )
    from polyclass.scale._table import (
        DaskTable,
        encode,
        fit_preprocessor,
        label_counts,
        read_table,
    )

__all__ = [
    "SCHEDULER_ENV",
    "DaskTable",
    "FitInfo",
    "ScaleError",
    "connect",
    "encode",
    "evaluate_frames",
    "evaluate_on_dask",
    "evaluate_parts",
    "fit_logistic",
    "fit_preprocessor",
    "gather_column",
    "gather_rows",
    "label_counts",
    "predict_on_dask",
    "predict_parts",
    "read_table",
    "resolve_address",
    "select_rows",
    "split_by_part",
    "table_fingerprint",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "SCHEDULER_ENV": "polyclass.scale._cluster",
        "connect": "polyclass.scale._cluster",
        "resolve_address": "polyclass.scale._cluster",
        "ScaleError": "polyclass.scale._errors",
        "evaluate_on_dask": "polyclass.scale._commands",
        "predict_on_dask": "polyclass.scale._commands",
        "evaluate_frames": "polyclass.scale._evaluate",
        "evaluate_parts": "polyclass.scale._evaluate",
        "FitInfo": "polyclass.scale._fit",
        "fit_logistic": "polyclass.scale._fit",
        "DaskTable": "polyclass.scale._table",
        "encode": "polyclass.scale._table",
        "fit_preprocessor": "polyclass.scale._table",
        "label_counts": "polyclass.scale._table",
        "predict_parts": "polyclass.scale._predict",
        "read_table": "polyclass.scale._table",
        "gather_column": "polyclass.scale._rows",
        "gather_rows": "polyclass.scale._rows",
        "select_rows": "polyclass.scale._rows",
        "split_by_part": "polyclass.scale._rows",
        "table_fingerprint": "polyclass.scale._rows",
    },
    __all__,
)
