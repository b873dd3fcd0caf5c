"""One loaded model version, predicting with NumPy only.

The artifact is read with every checksum verified (``polyclass.artifact``); the
preprocessing becomes an :class:`~polyclass.preprocess.InputPlan`; the estimator is
kept as its coefficient arrays and scored with one matrix product. Binary and
multinomial logistic regression need nothing but NumPy; one-vs-rest and one-vs-one
models use the NumPy predictor of ``polyclass.linear`` (which loads scikit-learn once,
at model load, for those two kinds only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from polyclass.artifact import ArtifactError, sha256_file
from polyclass.decision import decide
from polyclass.families import FAMILIES, get_family
from polyclass.model import Decision, read_model_artifact
from polyclass.preprocess import Encoded, InputError, InputPlan, Preprocessor, Table
from polyclass.serve._errors import unprocessable

if TYPE_CHECKING:
    from polyclass.predlog import PredictionLog

_log = logging.getLogger("polyclass.serve")

__all__ = ["Prediction", "ServedModel", "load_served", "log_rows"]


class _Scorer:
    """Class probabilities and the estimator's own choice, from stored coefficients."""

    def __init__(self, kind: str, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
        self.kind = kind
        self.stored = (meta, arrays)
        classes = np.asarray(arrays["classes"])
        if kind == "LogisticRegression":
            self.coef_t = np.ascontiguousarray(np.asarray(arrays["coef"], dtype=np.float64).T)
            self.intercept = np.asarray(arrays["intercept"], dtype=np.float64)
            n_out = 1 if len(classes) == 2 else len(classes)
            n_features = int(meta["n_features_in"])
            if self.coef_t.shape != (n_features, n_out) or self.intercept.shape != (n_out,):
                raise ArtifactError(
                    f"The stored LogisticRegression has coef of shape {self.coef_t.T.shape} "
                    f"and intercept {self.intercept.shape}; {len(classes)} classes and "
                    f"{n_features} features need ({n_out}, {n_features}) and ({n_out},). "
                    "The artifact is corrupt; register the model again."
                )
            self.coef = np.ascontiguousarray(self.coef_t.T)  # (n_out, n_features)
            self.intercept_col = self.intercept[:, None]
            self.predictor: Any = None
        elif kind in ("OneVsRestClassifier", "OneVsOneClassifier"):
            from polyclass.linear import LinearMulticlassPredictor

            strategy = "ovr" if kind == "OneVsRestClassifier" else "ovo"
            self.predictor = LinearMulticlassPredictor(
                strategy,
                np.asarray(arrays["coef"], dtype=np.float64),
                np.asarray(arrays["intercept"], dtype=np.float64),
                classes,
            )
        elif kind in FAMILIES:  # another family's NumPy predictor
            self.predictor = get_family(kind).predictor(meta, arrays)
        else:
            raise ArtifactError(
                f"model.json names estimator type {kind!r}; this server knows "
                "LogisticRegression, OneVsRestClassifier and OneVsOneClassifier. Upgrade "
                "polyclass to serve it."
            )
        self.classes = classes

    def contributions(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """Exact contributions (n, n_scores, n_features + 1), from the family's predictor."""
        if self.kind in FAMILIES:
            predictor = self.predictor
        else:  # a linear model: its family's predictor has the coefficient x value parts
            meta, arrays = self.stored
            predictor = get_family("linear").predictor({"type": self.kind, "state": meta}, arrays)
        if not hasattr(predictor, "contributions"):
            raise unprocessable(
                "This model gives no exact contributions (linear and uncalibrated boosting "
                "models do); ask without 'contributions'.",
                "body",
                "parameters",
                "contributions",
            )
        return np.asarray(predictor.contributions(X), dtype=np.float64)

    def score(self, X: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Probabilities (n, k) and the index of the class the estimator would predict."""
        if self.kind in FAMILIES:
            proba = np.asarray(self.predictor.predict_proba(X), dtype=np.float64)
            return proba, np.asarray(proba.argmax(axis=1), dtype=np.intp)
        if self.predictor is not None:
            proba = np.asarray(self.predictor.predict_proba(X), dtype=np.float64)
            decision = self.predictor.decision_function(X)
            if decision.ndim == 1:
                return proba, (decision > 0).astype(np.intp)
            return proba, np.asarray(decision.argmax(axis=1), dtype=np.intp)
        if self.coef_t.shape[1] == 1:
            s = X @ self.coef_t[:, 0]
            s += self.intercept[0]
            e = np.exp(-np.abs(s))
            pos = np.where(s >= 0, 1.0, e) / (1.0 + e)
            proba = np.empty((s.shape[0], 2), dtype=np.float64)
            proba[:, 1] = pos
            proba[:, 0] = 1.0 - pos
            return proba, (s > 0).astype(np.intp)
        # classes along axis 0: each reduction over classes is k - 1 vectorised passes
        # over n values, not n reductions of k values
        scores = self.coef @ X.T
        scores += self.intercept_col
        best = scores.argmax(axis=0)
        scores -= scores.max(axis=0)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=0)
        return np.ascontiguousarray(scores.T, dtype=np.float64), best


@dataclass
class Prediction:
    """What one request's rows became."""

    index: NDArray[np.intp]  # predicted class index per row
    proba: NDArray[np.float64]  # (n, k) in the order of ``ServedModel.classes``
    encoded: Encoded


@dataclass
class ServedModel:
    """A model version ready to answer requests.

    Attributes
    ----------
    name : str
        The registry name (the directory name when served from a path).
    version : int or None
        The registry version; None when served from a path.
    version_label : str
        What responses name: ``"3"``, or ``"sha256-<12 hex>"`` for a path.
    classes : list
        Class labels as plain Python values, in probability column order.
    """

    name: str
    version: int | None
    version_label: str
    path: Path
    sha256: str
    plan: InputPlan
    scorer: _Scorer
    decision: Decision
    classes: list[Any]
    class_strs: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    #: what the protocols derive from the model once (encoded labels...), by name
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: The preprocessed features, as contributions name them.
    feature_names_out: list[str] = field(default_factory=list)
    _cost: NDArray[np.float64] | None = None
    _positive: int = 1

    @cached_property
    def log_key(
        self,
    ) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]:
        """What the prediction log groups rows by (see ``PredictionLog.record``)."""
        plan = self.plan
        categorical = tuple(
            (f, plan.kinds[f]) for f in plan.feature_names if plan.kinds[f] != "numeric"
        )
        return (
            self.name,
            tuple(self.class_strs),
            tuple(plan.numeric_names),
            categorical,
            tuple(plan.feature_names),
        )

    @cached_property
    def class_array(self) -> NDArray[np.object_]:
        """``classes`` as an object array: ``class_array[index].tolist()`` labels rows."""
        out = np.empty(len(self.classes), dtype=object)
        out[:] = self.classes
        return out

    @property
    def feature_names(self) -> list[str]:
        """The input columns, in order."""
        return self.plan.feature_names

    def contributions(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """Each preprocessed feature's exact share of each raw score (see
        ``Model.contributions``); a 422 for a model whose family has none."""
        return self.scorer.contributions(X)

    def decide(self, proba: NDArray[np.float64], best: NDArray[np.intp]) -> NDArray[np.intp]:
        """The predicted class index under the model's decision rule."""
        d = self.decision
        return decide(
            proba,
            d.kind,
            threshold=d.threshold,
            positive=self._positive,
            cost_matrix=self._cost,
            default=best,
        )

    def predict(self, table: Table) -> Prediction:
        """Encode ``table`` (raising RequestError on bad values) and predict."""
        try:
            encoded = self.plan.encode(table)
        except InputError as exc:
            raise unprocessable(exc.message, *exc.loc) from None
        for message in encoded.warnings:
            _log.warning("%s (model %s)", message, self.name)
        proba, best = self.scorer.score(encoded.X)
        return Prediction(index=self.decide(proba, best), proba=proba, encoded=encoded)


def load_served(
    path: str | Path, *, name: str | None = None, version: int | None = None
) -> ServedModel:
    """Read a model artifact (every checksum verified) into a :class:`ServedModel`.

    Parameters
    ----------
    path : str or Path
        The artifact directory.
    name : str, optional
        The registry name; default the directory name.
    version : int, optional
        The registry version; None for an unregistered directory.

    Raises
    ------
    ArtifactError
        A file is missing, altered or of an unknown kind.
    """
    artifact = read_model_artifact(path)  # the one validation polyclass.load uses too
    meta = artifact.metadata
    pre_arrays = {k[4:]: v for k, v in artifact.arrays.items() if k.startswith("pre.")}
    est_arrays = {k[4:]: v for k, v in artifact.arrays.items() if k.startswith("est.")}
    pre = Preprocessor.from_state(meta["preprocessor"], pre_arrays)
    est = meta["estimator"]
    family = est.get("family", "linear")
    kind = str(est["type"]) if family == "linear" else family
    scorer = _Scorer(kind, dict(est["state"]), est_arrays)
    decision = Decision.from_dict(meta["decision"])
    classes = scorer.classes.tolist()  # .npy arrays are never object arrays: plain values
    sha = sha256_file(Path(artifact.path) / "model.json")
    label = str(version) if version is not None else f"sha256-{sha[:12]}"
    served = ServedModel(
        name=name or Path(artifact.path).name,
        version=version,
        version_label=label,
        path=Path(artifact.path),
        sha256=sha,
        plan=InputPlan(pre),
        scorer=scorer,
        decision=decision,
        classes=classes,
        class_strs=[str(c) for c in classes],
        info=dict(meta.get("info", {})),
        feature_names_out=[str(f) for f in pre.get_feature_names_out()],
    )
    if decision.kind == "cost" and decision.cost_matrix is not None:
        served._cost = np.asarray(decision.cost_matrix, dtype=np.float64)
    if decision.kind == "threshold":
        matches = [i for i, c in enumerate(classes) if c == decision.positive_class]
        served._positive = matches[0] if matches else 1
    return served


def log_rows(
    log: PredictionLog, request_id: str, model: ServedModel, prediction: Prediction
) -> None:
    """Record ``prediction``'s rows in ``log`` under ``model``'s version."""
    if len(prediction.index):
        enc = prediction.encoded
        log.record(
            request_id,
            -1 if model.version is None else model.version,
            model.log_key,
            prediction.index,
            prediction.proba,
            enc.numeric,
            enc.categorical,
        )
