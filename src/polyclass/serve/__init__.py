"""Serve registered models over HTTP: Open Inference Protocol v2 and MLflow's formats.

``polyclass serve MODEL`` runs :func:`create_app` under uvicorn. The request path
needs NumPy only (no scikit-learn, pandas or SciPy for logistic-regression models);
every prediction is logged to Parquet off the request path; the served version
follows a registry alias and switches without downtime.

Examples
--------
>>> from polyclass.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig("penguins@production"))  # doctest: +SKIP
"""

from __future__ import annotations

from polyclass.serve._app import CONFIG_ENV, ServeConfig, create_app, create_app_from_env
from polyclass.serve._errors import RequestError
from polyclass.serve._manager import ModelManager, ReloadResult
from polyclass.serve._plan import InputPlan, Table
from polyclass.serve._predlog import LOG_VERSION, FeedbackLog, PredictionLog, log_folder
from polyclass.serve._security import MAX_BODY_BYTES, read_tokens
from polyclass.serve._served import ServedModel, load_served

__all__ = [
    "CONFIG_ENV",
    "LOG_VERSION",
    "MAX_BODY_BYTES",
    "FeedbackLog",
    "InputPlan",
    "ModelManager",
    "PredictionLog",
    "ReloadResult",
    "RequestError",
    "ServeConfig",
    "ServedModel",
    "Table",
    "create_app",
    "create_app_from_env",
    "load_served",
    "log_folder",
    "read_tokens",
]
