"""Serve registered models over HTTP: Open Inference Protocol v2 and MLflow's formats.

``polyclass serve MODEL`` runs :func:`create_app` under uvicorn. The request path
needs NumPy only (no scikit-learn, pandas or SciPy for logistic-regression models);
every prediction is logged to Parquet off the request path; the served version
follows a registry alias and switches without downtime.

Names load on first use, so ``polyclass --help`` does not pay for Starlette.

Examples
--------
>>> from polyclass.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig("penguins@production"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyclass.serve._app import CONFIG_ENV, ServeConfig, create_app, create_app_from_env
    from polyclass.serve._errors import RequestError
    from polyclass.serve._manager import ModelManager, ReloadResult
    from polyclass.serve._security import MAX_BODY_BYTES, read_tokens
    from polyclass.serve._served import ServedModel, load_served

__all__ = [
    "CONFIG_ENV",
    "MAX_BODY_BYTES",
    "ModelManager",
    "ReloadResult",
    "RequestError",
    "ServeConfig",
    "ServedModel",
    "create_app",
    "create_app_from_env",
    "load_served",
    "read_tokens",
]

_WHERE = {
    "CONFIG_ENV": "_app",
    "ServeConfig": "_app",
    "create_app": "_app",
    "create_app_from_env": "_app",
    "RequestError": "_errors",
    "ModelManager": "_manager",
    "ReloadResult": "_manager",
    "MAX_BODY_BYTES": "_security",
    "read_tokens": "_security",
    "ServedModel": "_served",
    "load_served": "_served",
}


def __getattr__(name: str) -> Any:
    try:
        module = importlib.import_module(f"polyclass.serve.{_WHERE[name]}")
    except KeyError:
        raise AttributeError(f"module 'polyclass.serve' has no attribute {name!r}") from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
