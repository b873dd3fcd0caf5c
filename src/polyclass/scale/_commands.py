"""What ``polyclass predict|evaluate ... --dask`` run: connect, work, disconnect."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from polyclass.scale._cluster import connect
from polyclass.scale._errors import ScaleError
from polyclass.scale._evaluate import evaluate_parts
from polyclass.scale._predict import predict_parts


def predict_on_dask(
    model: Any, data: str, output: str, keep: list[str], address: str, overwrite: bool
) -> int:
    """``predict --dask``: every part of DATA scored in parallel into OUTPUT's parts."""
    with connect(address) as client:
        return predict_parts(client, model, data, output, keep_columns=keep, overwrite=overwrite)


def evaluate_on_dask(
    model: Any, data: str, out: str | Path, target: str | None, address: str, overwrite: bool
) -> tuple[dict[str, Any], Path]:
    """``evaluate --dask``: the metrics from merged per-part states, written to
    ``OUT/metrics.json`` (temp name, then rename); returns them and the path."""
    label = target or model.info.get("target")
    if not label:
        raise ScaleError("evaluate --dask needs --target (the model does not record it).")
    folder = Path(out)
    path = folder / "metrics.json"
    if path.exists() and not overwrite:
        raise ScaleError(f"{path} exists; pass --overwrite to replace it or choose another --out.")
    with connect(address) as client:
        metrics = evaluate_parts(client, model, data, str(label))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".metrics.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"data": data, "metrics": metrics}, indent=2))
    os.replace(tmp, path)
    return metrics, path
