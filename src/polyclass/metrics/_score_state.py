"""Streaming, mergeable state of a binary score curve (ROC and precision-recall).

The sufficient statistic of every binary score metric is, per distinct score value,
the weight of positives and of negatives there. :class:`ScoreCurveState` keeps exactly
that (exact mode) or the same per fixed threshold bin (binned mode); curves and areas
are then computed by the same code as :func:`~polyclass.metrics.roc_curve` and friends.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import UndefinedMetricWarning

from polyclass._json import plain
from polyclass.metrics._curves import pr_from_counts, roc_from_counts
from polyclass.metrics._ranking import auc_from_counts, average_precision_from_counts
from polyclass.metrics._score_inputs import binary_inputs, positives
from polyclass.metrics._validation import check_choice, is_empty_batch

F64 = NDArray[np.float64]
_FORMAT = "polyclass.ScoreCurveState"
_VERSION = 1


def _merge_runs(values: F64, pos: F64, neg: F64) -> tuple[F64, F64, F64]:
    """Sort by value (a stable sort: linear on a few sorted runs) and sum equal values."""
    order = np.argsort(values, kind="stable")
    values, pos, neg = values[order], pos[order], neg[order]
    if values.shape[0] == 0:
        return values, pos, neg
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    if starts.shape[0] == values.shape[0]:
        return values, pos, neg
    return values[starts], np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)


class ScoreCurveState:
    """Mergeable accumulator of binary scores for ROC/PR curves and their areas.

    Parameters
    ----------
    pos_label : int, float, bool or str, default=1
        The label of the positive class in the ``y_true`` passed to :meth:`update`.
    thresholds : array-like of float, optional
        Binned mode: fixed increasing thresholds. Each sample is counted in the bin of
        the largest threshold not above its score (scores below the first threshold in
        an extra lowest bin). Memory is constant; curve points sit exactly at the given
        thresholds, so curves and areas are *approximate* (ties within a bin), closer
        the finer the bins.
    n_bins : int, optional
        Binned mode with ``n_bins`` equal-width bins on [0, 1] (for probabilities).

    Notes
    -----
    Without ``thresholds`` and ``n_bins`` the state is exact: it keeps the positive and
    negative weight of every distinct score value, merged as sorted runs. Feeding the data
    in any batches, merging states (also through :meth:`to_json`) gives exactly the
    curves and areas of the functions on the whole data when the weights are integers
    (or absent); float weights are summed in another order, so they agree to rounding.

    Examples
    --------
    >>> from polyclass.metrics import ScoreCurveState, roc_auc_score
    >>> a, b = ScoreCurveState(), ScoreCurveState()
    >>> a.update([0, 0, 1], [0.1, 0.4, 0.35])
    >>> b.update([1], [0.8])
    >>> merged = ScoreCurveState.from_json(a.to_json()).merge(b)
    >>> merged.roc_auc_score() == roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    True
    """

    def __init__(
        self,
        *,
        pos_label: Any = 1,
        thresholds: Any = None,
        n_bins: int | None = None,
    ) -> None:
        name = "ScoreCurveState"
        if thresholds is not None and n_bins is not None:
            raise ValueError(
                f"{name}: pass either thresholds or n_bins, not both (binned mode needs "
                "one set of bins)."
            )
        edges: F64 | None = None
        if n_bins is not None:
            if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
                raise ValueError(f"{name}: n_bins must be a positive integer, got {n_bins!r}.")
            edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
        elif thresholds is not None:
            edges = np.asarray(thresholds, dtype=np.float64).ravel()
            if edges.shape[0] == 0 or not np.isfinite(edges).all():
                raise ValueError(f"{name}: thresholds must be a non-empty list of finite floats.")
            if (np.diff(edges) <= 0).any():
                raise ValueError(
                    f"{name}: thresholds must be strictly increasing; sort them and drop "
                    "duplicates (np.unique(thresholds))."
                )
        self.pos_label = plain(pos_label)
        self.thresholds_: F64 | None = edges
        if edges is None:
            self._values: F64 = np.empty(0)
            self._pos: F64 = np.empty(0)
            self._neg: F64 = np.empty(0)
        else:
            self._values = np.concatenate(([-np.inf], edges))
            self._pos = np.zeros(edges.shape[0] + 1)
            self._neg = np.zeros(edges.shape[0] + 1)

    @property
    def mode(self) -> str:
        """'exact' or 'binned'."""
        return "exact" if self.thresholds_ is None else "binned"

    # --- update and merge ---------------------------------------------------------------

    def update(self, y_true: Any, y_score: Any, sample_weight: Any = None) -> None:
        """Add a batch of labels, scores and optional weights; an empty batch changes nothing."""
        func = "ScoreCurveState.update"
        if is_empty_batch(func, y_true=y_true, y_score=y_score, sample_weight=sample_weight):
            return
        yt, ys, w = binary_inputs(
            "ScoreCurveState.update", y_true, y_score, sample_weight, require_weight=False
        )
        is_pos = positives(yt, self.pos_label)
        weight = np.ones(ys.shape[0]) if w is None else w
        pos_w = np.where(is_pos, weight, 0.0)
        neg_w = np.where(is_pos, 0.0, weight)
        if self.thresholds_ is not None:
            bins = np.searchsorted(self.thresholds_, ys, side="right")
            size = self._pos.shape[0]
            self._pos += np.bincount(bins, weights=pos_w, minlength=size)
            self._neg += np.bincount(bins, weights=neg_w, minlength=size)
            return
        if w is not None:
            keep = w != 0
            ys, pos_w, neg_w = ys[keep], pos_w[keep], neg_w[keep]
        batch = _merge_runs(ys, pos_w, neg_w)
        self._values, self._pos, self._neg = _merge_runs(
            np.concatenate((self._values, batch[0])),
            np.concatenate((self._pos, batch[1])),
            np.concatenate((self._neg, batch[2])),
        )

    def merge(self, other: ScoreCurveState) -> ScoreCurveState:
        """Add another state's data into this one (in place); return ``self``."""
        if not isinstance(other, ScoreCurveState):
            raise TypeError(
                f"ScoreCurveState.merge expects a ScoreCurveState, got {type(other).__name__}."
            )
        if self.mode != other.mode:
            raise ValueError(
                f"Cannot merge a {other.mode} ScoreCurveState into a {self.mode} one: "
                "build both with the same thresholds (or both exact)."
            )
        if self.pos_label != other.pos_label:
            raise ValueError(
                f"Cannot merge states with different pos_label ({self.pos_label!r} and "
                f"{other.pos_label!r}); build both with the same pos_label."
            )
        if self.thresholds_ is not None:
            if other.thresholds_ is None or not np.array_equal(self.thresholds_, other.thresholds_):
                raise ValueError(
                    "Cannot merge binned ScoreCurveStates with different thresholds; build "
                    "both with the same thresholds or n_bins."
                )
            self._pos = self._pos + other._pos
            self._neg = self._neg + other._neg
            return self
        self._values, self._pos, self._neg = _merge_runs(
            np.concatenate((self._values, other._values)),
            np.concatenate((self._pos, other._pos)),
            np.concatenate((self._neg, other._neg)),
        )
        return self

    # --- serialization ------------------------------------------------------------------

    def to_json(self) -> str:
        """Serialize to JSON; floats round-trip bit-exactly through :meth:`from_json`."""
        doc: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "mode": self.mode,
            "pos_label": self.pos_label,
            "pos": self._pos.tolist(),
            "neg": self._neg.tolist(),
        }
        if self.thresholds_ is None:
            doc["values"] = self._values.tolist()
        else:
            doc["thresholds"] = self.thresholds_.tolist()
        return json.dumps(doc, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> ScoreCurveState:
        """Rebuild a state written by :meth:`to_json`; refuse malformed documents."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"ScoreCurveState.from_json: not valid JSON ({exc}).") from None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError(
                f"ScoreCurveState.from_json: expected a document with format {_FORMAT!r}; "
                "pass the output of ScoreCurveState.to_json()."
            )
        if doc.get("version") != _VERSION:
            raise ValueError(
                f"ScoreCurveState.from_json: unsupported version {doc.get('version')!r}; "
                f"this polyclass reads version {_VERSION}."
            )
        check_choice("ScoreCurveState.from_json", "mode", doc.get("mode"), ["exact", "binned"])
        try:
            pos = np.asarray(doc["pos"], dtype=np.float64)
            neg = np.asarray(doc["neg"], dtype=np.float64)
            if doc["mode"] == "binned":
                state = cls(pos_label=doc["pos_label"], thresholds=doc["thresholds"])
                expected = state._pos.shape
            else:
                state = cls(pos_label=doc["pos_label"])
                values = np.asarray(doc["values"], dtype=np.float64)
                expected = values.shape
                if (np.diff(values) <= 0).any() or not np.isfinite(values).all():
                    raise ValueError("values must be finite and strictly increasing")
                state._values = values
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"ScoreCurveState.from_json: malformed state ({exc}).") from None
        if pos.shape != expected or neg.shape != expected:
            raise ValueError(
                "ScoreCurveState.from_json: malformed state (pos/neg lengths do not match)."
            )
        if (pos < 0).any() or (neg < 0).any():
            raise ValueError("ScoreCurveState.from_json: malformed state (negative weights).")
        state._pos, state._neg = pos, neg
        return state

    # --- compute ------------------------------------------------------------------------

    def _counts(self) -> tuple[F64, F64, F64]:
        """``(tps, fps, thresholds)`` at decreasing thresholds, non-empty bins only."""
        filled = (self._pos + self._neg) > 0
        if not filled.any():
            raise ValueError(
                "ScoreCurveState holds no samples of positive weight; call update() first."
            )
        values = self._values[filled][::-1]
        tps = np.cumsum(self._pos[filled][::-1])
        fps = np.cumsum(self._neg[filled][::-1])
        return tps, fps, values

    def roc_curve(self, *, drop_intermediate: bool = True) -> tuple[F64, F64, F64]:
        """``(fpr, tpr, thresholds)`` as :func:`~polyclass.metrics.roc_curve`."""
        tps, fps, thresholds = self._counts()
        return roc_from_counts(fps, tps, thresholds, drop_intermediate)

    def precision_recall_curve(self, *, drop_intermediate: bool = False) -> tuple[F64, F64, F64]:
        """``(precision, recall, thresholds)`` as the function of the same name."""
        tps, fps, thresholds = self._counts()
        return pr_from_counts(fps, tps, thresholds, drop_intermediate)

    def roc_auc_score(self, *, max_fpr: float | None = None) -> float:
        """ROC AUC (binary, optional McClish partial AUC); NaN with one class only."""
        tps, fps, _ = self._counts()
        if tps[-1] <= 0 or fps[-1] <= 0:
            warnings.warn(
                "Only one class is present in y_true. ROC AUC score is not defined in that case.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
            return float("nan")
        if max_fpr is not None and not 0 < max_fpr <= 1:
            raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}.")
        return float(auc_from_counts(fps, tps, max_fpr))

    def average_precision_score(self) -> float:
        """Average precision; 0 with a warning when there is no positive sample."""
        tps, fps, _ = self._counts()
        if tps[-1] <= 0:
            warnings.warn(
                "No positive class found in y_true, recall is set to one for all thresholds.",
                UserWarning,
                stacklevel=2,
            )
            return 0.0
        return float(average_precision_from_counts(fps, tps))

    def __repr__(self) -> str:
        size = int(((self._pos + self._neg) > 0).sum())
        return f"ScoreCurveState(mode={self.mode!r}, pos_label={self.pos_label!r}, points={size})"
