"""The one check that an artifact is a model this polyclass predicts with.

``polyclass.load`` and ``polyclass serve`` both read models through
:func:`read_model_artifact`, so an artifact one refuses the other refuses too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polyclass.artifact import Artifact, ArtifactError, read_artifact
from polyclass.data import Schema
from polyclass.decision import KINDS
from polyclass.families import FAMILIES, get_family
from polyclass.linear import check_stored_estimator  # NumPy only: serving loads no sklearn

#: The ``kind`` of a model artifact's metadata.
MODEL_KIND = "polyclass.model"
#: The model metadata version this polyclass writes and the newest it reads.
MODEL_VERSION = 1


def read_model_artifact(path: str | Path) -> Artifact:
    """Read an artifact and check that it is a polyclass model this version can use.

    Beyond :func:`~polyclass.artifact.read_artifact`'s checks (files, checksums,
    bounds), this checks the model's metadata: its kind and version, the sections
    every model has, the estimator's type and state format, the estimator's arrays
    and the decision rule.

    Parameters
    ----------
    path : str or pathlib.Path
        A directory written by ``Model.save``.

    Returns
    -------
    polyclass.artifact.Artifact
        The verified artifact.

    Raises
    ------
    polyclass.artifact.ArtifactError
        Naming the file, the field at fault and the fix.
    """
    artifact = read_artifact(path)
    manifest = artifact.path / "model.json"
    for check in _CHECKS:
        problem = check(artifact.metadata, artifact)
        if problem is not None:
            raise ArtifactError(
                f"{manifest} is not a model this polyclass can use: {problem}.", path=manifest
            )
    return artifact


def _kind_and_version(meta: dict[str, Any], artifact: Artifact) -> str | None:
    if meta.get("kind") != MODEL_KIND:
        return f"it holds a {meta.get('kind')!r} artifact, not a {MODEL_KIND!r}"
    version = meta.get("model_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"model_version is {version!r}, expected a positive integer. Save the model again"
    if version > MODEL_VERSION:
        return (
            f"it was written by a newer polyclass (model version {version}; this one reads "
            f"up to {MODEL_VERSION}). Upgrade polyclass (pip install -U polyclass) to load it"
        )
    return None


def _sections(meta: dict[str, Any], artifact: Artifact) -> str | None:
    for key in ("schema", "preprocessor", "estimator", "decision"):
        if not isinstance(meta.get(key), dict):
            return f"{key!r} is {_what(meta.get(key))}, expected an object. Save the model again"
    for key in ("info", "reference"):
        if key in meta and not isinstance(meta[key], dict):
            return f"{key!r} is {_what(meta[key])}, expected an object. Save the model again"
    return None


def _estimator(meta: dict[str, Any], artifact: Artifact) -> str | None:
    estimator = meta["estimator"]
    arrays = {k[4:]: v for k, v in artifact.arrays.items() if k.startswith("est.")}
    family = estimator.get("family", "linear")  # artifacts before families are linear
    if not isinstance(family, str) or family not in FAMILIES:
        return (
            f"its model family {family!r} is not one this polyclass reads "
            f"({', '.join(FAMILIES)}); upgrade polyclass to load it"
        )
    try:
        if family == "linear":
            check_stored_estimator(estimator.get("type"), estimator.get("state"), arrays)
        else:
            get_family(family).predictor(estimator["state"], arrays)  # NumPy only
    except ValueError as exc:
        return str(exc)
    outputs = meta["preprocessor"].get("feature_names_out")
    n_features = estimator["state"]["n_features_in"]
    if not isinstance(outputs, list) or len(outputs) != n_features:
        return (
            f"the preprocessor's feature_names_out is not a list of the {n_features} "
            "features the estimator takes. Save the model again"
        )
    return None


def _schema(meta: dict[str, Any], artifact: Artifact) -> str | None:
    try:
        Schema.from_dict(meta["schema"])
    except (ValueError, KeyError, TypeError) as exc:
        return f"its schema cannot be read ({exc})"
    return None


def _decision(meta: dict[str, Any], artifact: Artifact) -> str | None:
    decision = meta["decision"]
    kind = decision.get("kind")
    if kind not in KINDS:
        return f"decision kind {kind!r} is not one of {list(KINDS)}"
    n_classes = len(artifact.arrays["est.classes"])
    if kind == "threshold":
        threshold = decision.get("threshold")
        if not _is_number(threshold):
            return f"the decision threshold is {threshold!r}, expected a finite number"
        if decision.get("positive_class") not in artifact.arrays["est.classes"].tolist():
            return f"the decision's positive class {decision.get('positive_class')!r} is no class"
    if kind == "cost":
        matrix = decision.get("cost_matrix")
        square = isinstance(matrix, list) and len(matrix) == n_classes
        if not square or not all(
            isinstance(row, list) and len(row) == n_classes and all(map(_is_number, row))
            for row in matrix
        ):
            return f"the decision's cost_matrix is not {n_classes} x {n_classes} numbers"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _what(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


_CHECKS: tuple[Callable[[dict[str, Any], Artifact], str | None], ...] = (
    _kind_and_version,
    _sections,
    _estimator,
    _schema,
    _decision,
)
