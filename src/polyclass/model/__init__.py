"""A trained model: preprocessing, classifier and decision rule, stored without pickle."""

from __future__ import annotations

from polyclass.model._model import Decision, Model, load
from polyclass.model._stored import MODEL_KIND, MODEL_VERSION, read_model_artifact

__all__ = ["MODEL_KIND", "MODEL_VERSION", "Decision", "Model", "load", "read_model_artifact"]
