"""A trained model: preprocessing, classifier and decision rule, stored without pickle."""

from __future__ import annotations

from polyclass.model._model import Decision, Model, load

__all__ = ["Decision", "Model", "load"]
