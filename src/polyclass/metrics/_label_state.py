"""``ConfusionMatrixState``: a streaming, mergeable, JSON-serializable label-metric state.

The state is the sufficient statistic of every label metric: the sorted labels seen,
the confusion counts over them, and which labels occurred in y_true. Metrics are
computed by the same functions the public ``polyclass.metrics`` functions use, so
feeding the data in batches (or merging states built on shards, in any order, through
JSON) gives the whole-data result: exactly for counts and integer weights, and up to
floating-point summation order for fractional weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.metrics._accuracy import accuracy_from_cm, hamming_from_cm
from polyclass.metrics._agreement import kappa_from_cm
from polyclass.metrics._confusion import confusion_matrix_from_cm, multilabel_confusion_from_cm
from polyclass.metrics._counts import label_confusion
from polyclass.metrics._from_confusion import (
    balanced_accuracy_from_confusion,
    mcc_from_confusion,
)
from polyclass.metrics._prf import (
    PRF_WARN_FOR,
    as_result,
    fbeta_from_cm,
    jaccard_from_cm,
    prf_from_cm,
    specificity_from_cm,
)
from polyclass.metrics._report import report_from_cm
from polyclass.metrics._targets import as_label_array, check_targets
from polyclass.metrics._validation import is_empty_batch

Array = NDArray[Any]
_FORMAT = "polyclass.metrics.ConfusionMatrixState"
_VERSION = 1


def _label_kind(classes: Array) -> str:
    return "str" if classes.dtype.kind == "U" else "num"


class ConfusionMatrixState:
    """Confusion counts accumulated batch by batch; every label metric computed from them.

    Parameters
    ----------
    labels : array-like, default=None
        Fix the label set up front (updates with other labels raise). By default labels
        are discovered as batches arrive and the matrix grows.

    Examples
    --------
    >>> state = ConfusionMatrixState()
    >>> _ = state.update([0, 1, 1], [0, 1, 0]).update([2, 2], [2, 1])
    >>> state.accuracy_score()
    0.6
    >>> other = ConfusionMatrixState.from_json(state.to_json())
    >>> other.merge(state).confusion_matrix().tolist()
    [[2, 0, 0], [2, 2, 0], [0, 2, 2]]
    """

    def __init__(self, labels: Any = None) -> None:
        self.fixed_labels = labels is not None
        self.classes_: Array = np.array([], dtype=np.int64)
        self.counts_: Array = np.zeros((0, 0), dtype=np.int64)
        self.seen_: Array = np.zeros(0, dtype=bool)
        self.seen_true_: Array = np.zeros(0, dtype=bool)
        # Whether any update had sample weights: then the rate metrics are computed in
        # float64 like scikit-learn's weighted sums (confusion_matrix keeps int counts
        # for integer weights, as scikit-learn's does).
        self.weighted_ = False
        if labels is not None:
            lab = as_label_array("ConfusionMatrixState", "labels", labels)
            if lab.size == 0:
                raise ValueError("ConfusionMatrixState: labels is empty; pass at least one.")
            self._grow(np.unique(lab))

    # --- accumulation -------------------------------------------------------------

    def _grow(self, classes: Array) -> None:
        if len(self.classes_) and _label_kind(self.classes_) != _label_kind(classes):
            raise ValueError(
                "ConfusionMatrixState: mix of label input types (string and number) across "
                f"updates: the state holds {self.classes_.dtype} labels, the new data "
                f"{classes.dtype}. Convert all labels to one type."
            )
        union = np.union1d(self.classes_, classes) if len(self.classes_) else classes
        if len(union) == len(self.classes_) and np.array_equal(union, self.classes_):
            return
        if self.fixed_labels and len(self.classes_):
            new = np.setdiff1d(classes, self.classes_)
            raise ValueError(
                f"ConfusionMatrixState: label {new[0].item()!r} is not among the fixed labels "
                f"{self.classes_.tolist()!r}. Add it to `labels` or drop those samples."
            )
        pos = np.searchsorted(union, self.classes_)
        counts = np.zeros((len(union), len(union)), dtype=self.counts_.dtype)
        counts[pos[:, None], pos[None, :]] = self.counts_
        seen = np.zeros(len(union), dtype=bool)
        seen_true = np.zeros(len(union), dtype=bool)
        seen[pos] = self.seen_
        seen_true[pos] = self.seen_true_
        self.classes_, self.counts_, self.seen_, self.seen_true_ = union, counts, seen, seen_true

    def _add(self, classes: Array, cm: Array, seen: Array, seen_true: Array) -> None:
        self._grow(classes)
        if cm.dtype.kind == "f" and self.counts_.dtype.kind != "f":
            self.counts_ = self.counts_.astype(np.float64)
        pos = np.searchsorted(self.classes_, classes)
        self.counts_[pos[:, None], pos[None, :]] += cm.astype(self.counts_.dtype, copy=False)
        self.seen_[pos] |= seen
        self.seen_true_[pos] |= seen_true

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> ConfusionMatrixState:
        """Add a batch of true and predicted labels (and optional weights); return self.

        An empty batch (a window with no rows) changes nothing, as in torchmetrics.
        """
        func = "ConfusionMatrixState.update"
        if is_empty_batch(func, y_true=y_true, y_pred=y_pred, sample_weight=sample_weight):
            return self
        t = check_targets(func, y_true, y_pred, sample_weight, allow_multilabel=False)
        lc = label_confusion(func, t.y_true, t.y_pred, t.sample_weight)
        cm = lc.cm
        if t.sample_weight is not None and t.weight_is_int:
            cm = cm.astype(np.int64)
        self._add(lc.classes, cm, np.ones(len(lc.classes), dtype=bool), lc.true_present)
        self.weighted_ |= t.sample_weight is not None
        return self

    def merge(self, other: ConfusionMatrixState) -> ConfusionMatrixState:
        """Add another state's counts into this one (label sets are unioned); return self."""
        if not isinstance(other, ConfusionMatrixState):
            raise TypeError(
                f"ConfusionMatrixState.merge: expected a ConfusionMatrixState, got "
                f"{type(other).__name__}."
            )
        if len(other.classes_):
            self._add(other.classes_, other.counts_, other.seen_, other.seen_true_)
        self.weighted_ |= other.weighted_
        return self

    @property
    def n_samples(self) -> float:
        """Number (or total weight) of samples accumulated."""
        return float(self.counts_.sum())

    # --- serialization --------------------------------------------------------------

    def to_json(self) -> str:
        """Exact JSON: integer counts stay integers, float weights as ``float.hex``."""
        if self.counts_.dtype.kind == "f":
            counts: list[list[Any]] = [[float(v).hex() for v in row] for row in self.counts_]
        else:
            counts = self.counts_.tolist()
        doc = {
            "format": _FORMAT,
            "version": _VERSION,
            "label_dtype": self.classes_.dtype.str,
            "labels": self.classes_.tolist(),
            "fixed_labels": self.fixed_labels,
            "counts_dtype": "float64" if self.counts_.dtype.kind == "f" else "int64",
            "counts": counts,
            "seen": self.seen_.tolist(),
            "seen_true": self.seen_true_.tolist(),
            "weighted": self.weighted_,
        }
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> ConfusionMatrixState:
        """Rebuild a state written by ``to_json``; raise ValueError on malformed input."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"ConfusionMatrixState.from_json: not valid JSON ({exc}).") from exc
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError(
                f"ConfusionMatrixState.from_json: expected a document with format {_FORMAT!r}."
            )
        if doc.get("version") != _VERSION:
            raise ValueError(
                f"ConfusionMatrixState.from_json: unsupported version {doc.get('version')!r}; "
                f"this polyclass reads version {_VERSION}."
            )
        try:
            classes = np.array(doc["labels"], dtype=np.dtype(doc["label_dtype"]))
            if doc["counts_dtype"] == "float64":
                counts = np.array(
                    [[float.fromhex(v) for v in row] for row in doc["counts"]], dtype=np.float64
                )
            else:
                counts = np.array(doc["counts"], dtype=np.int64)
            seen = np.array(doc["seen"], dtype=bool)
            seen_true = np.array(doc["seen_true"], dtype=bool)
            fixed = bool(doc["fixed_labels"])
            weighted = bool(doc["weighted"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"ConfusionMatrixState.from_json: malformed document ({exc})."
            ) from exc
        k = len(classes)
        if counts.size == 0:
            counts = counts.reshape(k, k)
        if counts.shape != (k, k) or seen.shape != (k,) or seen_true.shape != (k,):
            raise ValueError(
                f"ConfusionMatrixState.from_json: {k} labels but counts of shape "
                f"{counts.shape}; the document is inconsistent."
            )
        state = cls()
        state.fixed_labels = fixed
        state.weighted_ = weighted
        state.classes_, state.counts_, state.seen_, state.seen_true_ = (
            classes,
            counts,
            seen,
            seen_true,
        )
        return state

    # --- metrics --------------------------------------------------------------------

    def _view(self, *, as_counts: bool = False) -> tuple[Array, Array, Array]:
        """Labels seen in the data, their counts and which occurred in y_true.

        Counts are float64 once weights were used, unless ``as_counts``.
        """
        if not self.seen_.any():
            raise ValueError(
                "ConfusionMatrixState: no samples yet; call update(y_true, y_pred) first."
            )
        counts = self.counts_
        if self.weighted_ and not as_counts:
            counts = counts.astype(np.float64, copy=False)
        idx = np.flatnonzero(self.seen_)
        if len(idx) == len(self.classes_):
            return self.classes_, counts, self.seen_true_
        return self.classes_[idx], counts[np.ix_(idx, idx)], self.seen_true_[idx]

    def accuracy_score(self, *, normalize: bool = True) -> float:
        """As ``accuracy_score`` on all the data seen."""
        return float(accuracy_from_cm(self._view()[1], normalize=normalize))

    def balanced_accuracy_score(self, *, adjusted: bool = False) -> float:
        """As ``balanced_accuracy_score`` on all the data seen."""
        return float(balanced_accuracy_from_confusion(self._view()[1], adjusted=adjusted))

    def hamming_loss(self) -> float:
        """As ``hamming_loss`` on all the data seen."""
        return float(hamming_from_cm(self._view()[1]))

    def matthews_corrcoef(self) -> float:
        """As ``matthews_corrcoef`` on all the data seen."""
        return float(mcc_from_confusion(self._view()[1]))

    def cohen_kappa_score(
        self,
        *,
        labels: Any = None,
        weights: str | None = None,
        replace_undefined_by: float = np.nan,
    ) -> float:
        """As ``cohen_kappa_score`` (y1 = y_true, y2 = y_pred) on all the data seen."""
        classes, cm, seen_true = self._view()
        return float(
            kappa_from_cm(
                cm,
                classes=classes,
                labels=labels,
                weights=weights,
                replace_undefined_by=replace_undefined_by,
                keep=None,
                true_present=seen_true,
            )
        )

    def confusion_matrix(self, *, labels: Any = None, normalize: str | None = None) -> Array:
        """As ``confusion_matrix`` on all the data seen."""
        classes, cm, seen_true = self._view(as_counts=True)
        return confusion_matrix_from_cm(
            cm, classes, labels=labels, normalize=normalize, true_present=seen_true
        )

    def multilabel_confusion_matrix(self, *, labels: Any = None) -> Array:
        """As ``multilabel_confusion_matrix`` (one-vs-rest) on all the data seen."""
        classes, cm, _ = self._view()
        return multilabel_confusion_from_cm(cm, classes, labels=labels)

    def precision_recall_fscore_support(
        self,
        *,
        beta: float = 1.0,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = None,
        warn_for: Sequence[str] = PRF_WARN_FOR,
        zero_division: Any = "warn",
    ) -> tuple[Any, Any, Any, Any]:
        """As ``precision_recall_fscore_support`` on all the data seen."""
        classes, cm, _ = self._view()
        p, r, f, s = prf_from_cm(
            cm,
            classes=classes,
            beta=beta,
            labels=labels,
            pos_label=pos_label,
            average=average,
            warn_for=warn_for,
            zero_division=zero_division,
            keep=None,
        )
        return as_result(p), as_result(r), as_result(f), s

    def _fbeta(self, which: int, func: str, beta: float, **kw: Any) -> Any:
        classes, cm, _ = self._view()
        return as_result(
            fbeta_from_cm(cm, classes=classes, beta=beta, keep=None, which=which, func=func, **kw)
        )

    def precision_score(
        self,
        *,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = "binary",
        zero_division: Any = "warn",
    ) -> Any:
        """As ``precision_score`` on all the data seen."""
        return self._fbeta(
            0,
            "precision_score",
            1.0,
            labels=labels,
            pos_label=pos_label,
            average=average,
            zero_division=zero_division,
        )

    def recall_score(
        self,
        *,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = "binary",
        zero_division: Any = "warn",
    ) -> Any:
        """As ``recall_score`` on all the data seen."""
        return self._fbeta(
            1,
            "recall_score",
            1.0,
            labels=labels,
            pos_label=pos_label,
            average=average,
            zero_division=zero_division,
        )

    def f1_score(
        self,
        *,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = "binary",
        zero_division: Any = "warn",
    ) -> Any:
        """As ``f1_score`` on all the data seen."""
        return self._fbeta(
            2,
            "f1_score",
            1.0,
            labels=labels,
            pos_label=pos_label,
            average=average,
            zero_division=zero_division,
        )

    def fbeta_score(
        self,
        *,
        beta: float,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = "binary",
        zero_division: Any = "warn",
    ) -> Any:
        """As ``fbeta_score`` on all the data seen."""
        return self._fbeta(
            2,
            "fbeta_score",
            beta,
            labels=labels,
            pos_label=pos_label,
            average=average,
            zero_division=zero_division,
        )

    def specificity_score(
        self,
        *,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = "binary",
        zero_division: Any = "warn",
    ) -> Any:
        """As ``specificity_score`` on all the data seen."""
        classes, cm, _ = self._view()
        return as_result(
            specificity_from_cm(
                cm,
                classes=classes,
                labels=labels,
                pos_label=pos_label,
                average=average,
                zero_division=zero_division,
                keep=None,
            )
        )

    def jaccard_score(
        self,
        *,
        labels: Any = None,
        pos_label: Any = 1,
        average: str | None = "binary",
        zero_division: Any = "warn",
    ) -> Any:
        """As ``jaccard_score`` on all the data seen."""
        classes, cm, _ = self._view()
        return as_result(
            jaccard_from_cm(
                cm,
                classes=classes,
                labels=labels,
                pos_label=pos_label,
                average=average,
                zero_division=zero_division,
                keep=None,
            )
        )

    def classification_report(
        self,
        *,
        labels: Any = None,
        target_names: Any = None,
        digits: int = 2,
        output_dict: bool = False,
        zero_division: Any = "warn",
    ) -> str | dict[str, Any]:
        """As ``classification_report`` on all the data seen."""
        classes, cm, _ = self._view()
        return report_from_cm(
            cm,
            classes,
            labels=labels,
            target_names=target_names,
            digits=digits,
            output_dict=output_dict,
            zero_division=zero_division,
        )

    def __repr__(self) -> str:
        return f"ConfusionMatrixState(n_labels={len(self.classes_)}, n_samples={self.n_samples:g})"
