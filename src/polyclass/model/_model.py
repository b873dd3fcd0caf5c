"""A trained model as users hold it: preprocessing, estimator and decision rule in one.

``Model`` predicts from a DataFrame, a list of dicts or a dict of columns, applying the
same preprocessing as in training. It is saved as a pickle-free artifact (JSON + .npy)
and loaded with every checksum verified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass._json import plain
from polyclass.artifact import save_artifact
from polyclass.data import Schema
from polyclass.decision import decide
from polyclass.families import get_family
from polyclass.model._stored import MODEL_KIND, MODEL_VERSION, read_model_artifact
from polyclass.preprocess import Preprocessor


@dataclass
class Decision:
    """How probabilities become a predicted class.

    The rule itself is :func:`polyclass.decision.decide`; this is its stored form.

    Parameters
    ----------
    kind : {'argmax', 'threshold', 'cost'}, default='argmax'
        ``'argmax'``: the estimator's own rule. ``'threshold'`` (binary): predict
        ``positive_class`` when its probability is at least ``threshold``. ``'cost'``:
        the class of least expected cost under ``cost_matrix``.
    threshold : float, optional
        For ``'threshold'``: the positive-class probability at or above which it is
        predicted.
    positive_class : label, optional
        For ``'threshold'``: the positive class (one of the model's ``classes_``).
    cost_matrix : list of lists of float, optional
        For ``'cost'``: ``cost_matrix[i][j]`` is the cost of predicting class ``j`` when
        the truth is class ``i``, in the order of ``classes_``.
    """

    kind: str = "argmax"
    threshold: float | None = None
    positive_class: Any = None
    cost_matrix: list[list[float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rule as plain JSON values (how ``model.json`` stores it).

        Returns
        -------
        dict
            ``kind``, ``threshold``, ``positive_class`` and ``cost_matrix``.
        """
        return {
            "kind": self.kind,
            "threshold": self.threshold,
            "positive_class": plain(self.positive_class),
            "cost_matrix": self.cost_matrix,
        }

    def describe(self) -> str:
        """The rule in plain words.

        Returns
        -------
        str
            A sentence for reports and command output.
        """
        if self.kind == "threshold":
            return (
                f"predict {self.positive_class!r} when its probability is at least "
                f"{self.threshold:.4g} (chosen on validation to minimise expected cost)"
            )
        if self.kind == "cost":
            return "predict the class of least expected cost under the given cost matrix"
        return "predict the most likely class (the estimator's own rule)"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        """The rule from :meth:`to_dict`'s output.

        Parameters
        ----------
        d : mapping
            With ``kind`` and optionally ``threshold``, ``positive_class``,
            ``cost_matrix``.

        Returns
        -------
        Decision
        """
        return cls(d["kind"], d.get("threshold"), d.get("positive_class"), d.get("cost_matrix"))


@dataclass
class Model:
    """A fitted preprocessing + classifier + decision rule, ready to predict.

    Parameters
    ----------
    schema : Schema
        The input columns and their kinds.
    preprocessor : Preprocessor
        Fitted imputation, scaling and one-hot encoding.
    estimator : LogisticRegression, OneVsRestClassifier or OneVsOneClassifier
        The fitted classifier (from ``polyclass.linear``).
    decision : Decision, default=Decision()
        How probabilities become a class.
    info : dict, default={}
        Training metadata (metric, scores, lineage) saved with the model.
    path : Path, optional
        Where the model was loaded from or last saved.
    reference : tuple of (dict, dict of str to ndarray), optional
        Reference statistics for monitoring (see :mod:`polyclass.monitor`).
    family : str, default='linear'
        The model family of ``estimator`` (see :mod:`polyclass.families`); a loaded
        model of another family predicts with that family's NumPy predictor.

    Examples
    --------
    >>> import polyclass
    >>> model = polyclass.load("out/model")          # doctest: +SKIP
    >>> model.predict([{"bill_length_mm": 39.1, "island": "Torgersen"}])  # doctest: +SKIP
    """

    schema: Schema
    preprocessor: Preprocessor
    estimator: Any
    decision: Decision = field(default_factory=Decision)
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: Reference statistics for monitoring, as (JSON meta, arrays); see polyclass.monitor.
    reference: tuple[dict[str, Any], dict[str, NDArray[Any]]] | None = None
    family: str = "linear"

    @property
    def classes_(self) -> NDArray[Any]:
        """The class labels, in the column order of :meth:`predict_proba`."""
        return np.asarray(self.estimator.classes_)

    @property
    def feature_names(self) -> list[str]:
        """The input columns the model expects."""
        return list(self.schema.feature_names)

    def transform(self, data: Any) -> Any:
        """The preprocessed design matrix for ``data``.

        Parameters
        ----------
        data : DataFrame, list of dicts or dict of columns
            Input rows with the columns of ``feature_names`` (extra columns are ignored).

        Returns
        -------
        ndarray or scipy.sparse.csr_matrix of shape (n_rows, n_features_out)
        """
        return self.preprocessor.transform(data)

    def predict_proba(self, data: Any) -> NDArray[np.float64]:
        """Class probabilities, one row per input row, columns in ``classes_`` order.

        Parameters
        ----------
        data : DataFrame, list of dicts or dict of columns
            Input rows with the columns of ``feature_names`` (extra columns are ignored).

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
        """
        return _float64_rows(self.estimator.predict_proba(self.transform(data)))

    def predict(self, data: Any) -> NDArray[Any]:
        """Predicted class labels, using the model's decision rule.

        Parameters
        ----------
        data : DataFrame, list of dicts or dict of columns
            Input rows with the columns of ``feature_names`` (extra columns are ignored).

        Returns
        -------
        ndarray of shape (n_rows,)
            Labels from ``classes_``.
        """
        X = self.transform(data)
        return self.predict_from_matrix(X)

    def predict_with_proba(self, data: Any) -> tuple[NDArray[Any], NDArray[np.float64]]:
        """Labels (by the decision rule) and probabilities, preprocessing ``data`` once.

        Parameters
        ----------
        data : DataFrame, list of dicts or dict of columns
            Input rows with the columns of ``feature_names`` (extra columns are ignored).

        Returns
        -------
        labels : ndarray of shape (n_rows,)
        proba : ndarray of shape (n_rows, n_classes)
        """
        X = self.transform(data)
        proba = _float64_rows(self.estimator.predict_proba(X))
        if self.decision.kind == "argmax":
            return np.asarray(self.estimator.predict(X)), proba
        return self.decide(proba), proba

    def predict_from_matrix(self, X: Any) -> NDArray[Any]:
        """Predicted labels for an already preprocessed matrix.

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n_rows, n_features_out)
            The output of :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        d = self.decision
        if d.kind == "argmax":
            return np.asarray(self.estimator.predict(X))
        proba = np.asarray(self.estimator.predict_proba(X))
        return self.decide(proba)

    def contributions(self, data: Any) -> NDArray[np.float64]:
        """Each preprocessed feature's exact share of each raw score, per row.

        Linear models: score ``k`` of a row is ``intercept[k] + sum_j coef[k, j] * x[j]``
        over the preprocessed features ``x`` (the columns of
        ``preprocessor.get_feature_names_out()``); entry ``[row, k, j]`` is ``coef[k, j] *
        x[j]`` and the last entry is the intercept. The scores are the linear models' own:
        one for two classes (multinomial), one per class (one-vs-rest:
        ``decision_function``), one per pair of classes (one-vs-one, before its vote).
        Gradient boosting (``boosting``): the exact Shapley values of the raw scores (one
        for two classes, else one per class) by TreeSHAP over the stored trees, the last
        entry the expected raw score over the training rows. Either way a row's entries
        sum to its score (up to rounding).

        Parameters
        ----------
        data : DataFrame, list of dicts or dict of columns
            Input rows with the columns of ``feature_names``.

        Returns
        -------
        ndarray of shape (n_rows, n_scores, n_features_out + 1)

        Raises
        ------
        ValueError
            For a family whose contributions are not exact sums (forest, svm, mlp, or a
            calibrated model).
        """
        if self.family != "linear":
            return self._tree_contributions(data)
        _, arrays = get_family("linear").export(self.estimator)
        coef = np.asarray(arrays["coef"], dtype=np.float64)
        if type(self.estimator).__name__ != "LogisticRegression":
            coef = coef.T  # one-vs-rest / one-vs-one store (n_features, n_models)
        X = self.transform(data)
        X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
        out = np.empty((X.shape[0], coef.shape[0], coef.shape[1] + 1), dtype=np.float64)
        out[:, :, :-1] = X[:, None, :] * coef[None, :, :]
        out[:, :, -1] = np.asarray(arrays["intercept"], dtype=np.float64)
        return out

    def _tree_contributions(self, data: Any) -> NDArray[np.float64]:
        """A tree ensemble's exact contributions, from its stored NumPy predictor."""
        predictor = self.estimator
        if not hasattr(predictor, "contributions") and self.family == "boosting":
            family = get_family(self.family)  # a freshly fitted model: its stored form
            predictor = family.predictor(*family.export(self.estimator))
        if not hasattr(predictor, "contributions"):
            raise ValueError(
                "Per-prediction contributions are exact for linear and (uncalibrated) "
                f"boosting models only; this is a {self.family!r} model. Use permutation "
                "importance in the report."
            )
        return np.asarray(predictor.contributions(self.transform(data)), dtype=np.float64)

    def decide(self, proba: NDArray[np.float64]) -> NDArray[Any]:
        """Labels from probabilities under the decision rule (argmax when none).

        Parameters
        ----------
        proba : ndarray of shape (n_rows, n_classes)
            Probabilities in ``classes_`` order, e.g. from :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_rows,)
            Labels from ``classes_``; see :func:`polyclass.decision.decide` for ties.
        """
        classes = self.classes_
        d = self.decision
        positive = 1
        if d.kind == "threshold":
            positive = int(np.flatnonzero(classes == d.positive_class)[0])
        index = decide(
            proba, d.kind, threshold=d.threshold, positive=positive, cost_matrix=d.cost_matrix
        )
        return np.asarray(classes[index])

    # --- storage ---------------------------------------------------------------------
    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model as an artifact directory (model.json + .npy, no pickle).

        Parameters
        ----------
        directory : str or Path
            The artifact directory to create (written beside it, then renamed).
        overwrite : bool, default=False
            Replace an existing artifact there.

        Returns
        -------
        Path
            The artifact directory.
        """
        pre_meta, pre_arrays = self.preprocessor.to_state()
        est_meta, est_arrays = get_family(self.family).export(self.estimator)
        arrays: dict[str, NDArray[Any]] = {}
        arrays.update({f"pre.{k}": v for k, v in pre_arrays.items()})
        arrays.update({f"est.{k}": v for k, v in est_arrays.items()})
        metadata = {
            "kind": MODEL_KIND,
            "model_version": MODEL_VERSION,
            "schema": self.schema.to_dict(),
            "preprocessor": pre_meta,
            "estimator": _estimator_section(self.family, est_meta),
            "decision": self.decision.to_dict(),
            "info": self.info,
        }
        if self.reference is not None:
            arrays.update({f"ref.{k}": v for k, v in self.reference[1].items()})
            metadata["reference"] = self.reference[0]
        path = save_artifact(directory, metadata, arrays, overwrite=overwrite)
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a model artifact, verifying every checksum; never unpickles.

        Parameters
        ----------
        path : str or Path
            An artifact directory written by :meth:`save`.

        Returns
        -------
        Model

        Raises
        ------
        ArtifactError
            A file is missing, altered, unsafe or of an unknown kind.
        """
        import polyclass.linear

        artifact = read_model_artifact(path)  # the checks polyclass serve makes too
        meta = artifact.metadata
        pre = {k[4:]: v for k, v in artifact.arrays.items() if k.startswith("pre.")}
        est = {k[4:]: v for k, v in artifact.arrays.items() if k.startswith("est.")}
        ref = {k[4:]: v for k, v in artifact.arrays.items() if k.startswith("ref.")}
        family = meta["estimator"].get("family", "linear")  # artifacts before families: linear
        if family == "linear":
            estimator_cls = getattr(polyclass.linear, meta["estimator"]["type"])
            estimator = estimator_cls.from_state(meta["estimator"]["state"], est)
        else:
            estimator = get_family(family).predictor(meta["estimator"]["state"], est)
        return cls(
            schema=Schema.from_dict(meta["schema"]),
            preprocessor=Preprocessor.from_state(meta["preprocessor"], pre),
            estimator=estimator,
            decision=Decision.from_dict(meta["decision"]),
            info=dict(meta.get("info", {})),
            path=artifact.path,
            reference=(dict(meta["reference"]), ref) if "reference" in meta else None,
            family=family,
        )


def _estimator_section(family: str, meta: dict[str, Any]) -> dict[str, Any]:
    """``model.json``'s estimator: a linear model's section as it always was, plus its family."""
    if family == "linear":
        return {"family": family, **meta}
    return {"family": family, "state": meta}


def load(model: str | Path, *, registry: str | None = None, stores: Sequence[str] = ()) -> Model:
    """Load a model from a path, or from the registry by ``name``, ``name@alias`` or
    ``name:version``, or from a store.

    Parameters
    ----------
    model : str or Path
        An artifact directory, a registry reference, or a replica URL
        (``s3://bucket/prefix/models/NAME/VERSION``; see :mod:`polyclass.cloud`).
    registry : str, optional
        The registry URL (default: ``POLYCLASS_REGISTRY`` or ``./.polyclass``).
    stores : sequence of str, optional
        Store URLs to download the referenced version from, in order of preference,
        into the local cache (every sha256 verified). Without them, a registered
        version whose local artifact is missing is fetched from the replicas the
        registry records (status ``ok`` first), with a warning naming them.

    Returns
    -------
    Model
    """
    if stores or (isinstance(model, str) and "://" in model):
        from polyclass.cloud import fetch

        return Model.load(fetch(str(model), stores, registry=registry))
    path = Path(model)
    if path.exists():
        return Model.load(path)
    from polyclass.registry import Registry

    with Registry(registry) as store:
        version = store.resolve(str(model))
    if not Path(version.path).exists():  # say, a registry restored from a backup
        from polyclass.cloud import fetch_recorded

        return Model.load(fetch_recorded(version, registry))
    return Model.load(version.path)


def _float64_rows(proba: Any) -> NDArray[np.float64]:
    """Probabilities as float64 rows that sum to one: a float32 model's sum to one only
    within float32 precision, which the metrics (float64) would refuse."""
    p = np.asarray(proba)
    if p.dtype == np.float64:
        return p
    wide = p.astype(np.float64)
    return wide / wide.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
