"""The main job: ``train`` runs the whole project from a table to a registered model.

Names load on first use, so the CLI can list its commands without importing the
whole training stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyclass._lazy import attach

if TYPE_CHECKING:
    from polyclass.pipeline._config import ConfigError, OutputExistsError, TrainConfig, check_out
    from polyclass.pipeline._evaluate import Evaluation, evaluate_model
    from polyclass.pipeline._predict import predict_file, prediction_frame, prediction_schema
    from polyclass.pipeline._train import STEPS, TrainResult, train

__all__ = [
    "STEPS",
    "ConfigError",
    "Evaluation",
    "OutputExistsError",
    "TrainConfig",
    "TrainResult",
    "check_out",
    "evaluate_model",
    "predict_file",
    "prediction_frame",
    "prediction_schema",
    "train",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "ConfigError": "polyclass.pipeline._config",
        "TrainConfig": "polyclass.pipeline._config",
        "Evaluation": "polyclass.pipeline._evaluate",
        "evaluate_model": "polyclass.pipeline._evaluate",
        "predict_file": "polyclass.pipeline._predict",
        "prediction_frame": "polyclass.pipeline._predict",
        "prediction_schema": "polyclass.pipeline._predict",
        "STEPS": "polyclass.pipeline._train",
        "TrainResult": "polyclass.pipeline._train",
        "OutputExistsError": "polyclass.pipeline._config",
        "check_out": "polyclass.pipeline._config",
        "train": "polyclass.pipeline._train",
    },
    __all__,
)
