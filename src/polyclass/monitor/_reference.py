"""Reference statistics: what the training data looked like, small enough to ship.

Computed once at training time and stored in the model artifact (array prefix ``ref.``,
metadata key ``reference``), so monitoring never needs the training data again:

- numeric feature: ``B`` quantile bins (interior edges, right-closed, at most 100 bins,
  about 10 rows a bin at least), the count and the mean of the values in each bin, the
  missing count and mean / std / min / max;
- categorical or boolean feature: the count of each category as the server logs it
  (``str(value)``; booleans ``'False'`` / ``'True'``), an "other" count, the missing count;
- the true class balance of the training rows, and the predicted class mix and the
  distribution of each class's probability on the rows scored by the final model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from polyclass._json import plain
from polyclass.monitor._binning import Binner, finite_values, quantile_edges

REFERENCE_VERSION = 1
#: Upper bound on the number of quantile bins of a numeric feature.
N_BINS = 100
#: At most this many categories are kept per categorical feature (the rest count as other).
MAX_CATEGORIES = 200
#: Name of the bucket for values outside the reference categories.
OTHER = "__other__"

State = tuple[dict[str, Any], dict[str, NDArray[Any]]]


def _n_bins(n: int, n_bins: int) -> int:
    return max(1, min(n_bins, n // 10))


@dataclass(frozen=True)
class NumericReference:
    """Quantile-binned distribution of a numeric column (or of one class's probability).

    ``edges`` are the interior bin edges (``len(counts) - 1`` of them, increasing); value
    ``x`` falls in bin ``searchsorted(edges, x, side='left')``. ``means[i]`` is the mean
    of the reference values in bin ``i`` (NaN when the bin is empty).
    """

    name: str
    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    means: NDArray[np.float64]
    missing: int
    mean: float
    std: float
    min: float
    max: float
    kind: Literal["numeric"] = "numeric"
    _binner: list[Binner] = field(default_factory=list, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Number of non-missing reference values."""
        return int(self.counts.sum())

    @property
    def binner(self) -> Binner:
        """The (cached) fast bin lookup of these edges."""
        if not self._binner:
            self._binner.append(Binner(self.edges))
        return self._binner[0]

    @classmethod
    def from_values(cls, name: str, values: Any, *, n_bins: int = N_BINS) -> NumericReference:
        """Summarise raw values (NaN and ±inf count as missing)."""
        x, missing = finite_values(values)
        if missing is not None:
            x = x[~missing]
        edges = quantile_edges(x, _n_bins(x.size, n_bins))
        b = Binner(edges)(x)
        k = edges.size + 1
        counts = np.bincount(b, minlength=k).astype(np.int64)
        sums = np.bincount(b, weights=x, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return cls(
            name=name,
            edges=edges,
            counts=counts,
            means=means,
            missing=0 if missing is None else int(missing.sum()),
            mean=float(x.mean()) if x.size else float("nan"),
            std=float(x.std()) if x.size else float("nan"),
            min=float(x.min()) if x.size else float("nan"),
            max=float(x.max()) if x.size else float("nan"),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-able scalars (no arrays)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "missing": self.missing,
            "bins": int(self.counts.size),
            "mean": _num(self.mean),
            "std": _num(self.std),
            "min": _num(self.min),
            "max": _num(self.max),
        }


@dataclass(frozen=True)
class CategoricalReference:
    """Category counts of a categorical or boolean column, keyed by the logged text.

    ``counts`` has one entry per category, then one for :data:`OTHER` (values outside
    ``categories``).
    """

    name: str
    categories: tuple[str, ...]
    counts: NDArray[np.int64]
    missing: int
    kind: Literal["categorical", "boolean"] = "categorical"

    @property
    def n(self) -> int:
        """Number of non-missing reference values."""
        return int(self.counts.sum())

    @property
    def labels(self) -> list[str]:
        """Category names including the trailing other bucket."""
        return [*self.categories, OTHER]

    @classmethod
    def from_values(
        cls,
        name: str,
        values: Any,
        *,
        kind: Literal["categorical", "boolean"] = "categorical",
        max_categories: int = MAX_CATEGORIES,
    ) -> CategoricalReference:
        """Count raw values by their logged text; None and NaN count as missing."""
        by_text: Counter[str] = Counter()
        missing = 0
        for v, c in Counter(np.asarray(values, dtype=object).tolist()).items():
            t = _text(v)
            if t is None:
                missing += c
            else:
                by_text[t] += c
        uniq = np.asarray(sorted(by_text), dtype=str)
        counts = np.asarray([by_text[u] for u in uniq.tolist()], dtype=np.int64)
        order = np.lexsort((uniq, -counts))[:max_categories]
        keep = np.sort(order)
        kept = counts[keep].astype(np.int64)
        other = int(counts.sum() - kept.sum())
        return cls(
            name=name,
            categories=tuple(str(u) for u in uniq[keep]),
            counts=np.append(kept, other).astype(np.int64),
            missing=missing,
            kind=kind,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-able description (categories and counts are small)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "missing": self.missing,
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
        }


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class Reference:
    """Everything monitoring compares live traffic with.

    Build it with :func:`compute_reference`; store it with :meth:`to_state` (JSON meta
    + arrays, as ``Model.reference``) and read it back with :meth:`from_state`.

    Examples
    --------
    >>> import numpy as np
    >>> ref = compute_reference({"x": np.arange(100.0)}, {"x": "numeric"},
    ...                         y=["a", "b"] * 50)
    >>> ref.features["x"].counts.tolist()
    [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    >>> Reference.from_state(*ref.to_state()).classes
    ('a', 'b')
    """

    features: dict[str, FeatureReference]
    classes: tuple[str, ...]
    class_counts: NDArray[np.int64]
    n_rows: int
    predicted_counts: NDArray[np.int64] | None = None
    scores: tuple[NumericReference, ...] = ()
    score_rows: str = ""
    performance: dict[str, float] = field(default_factory=dict)
    #: Sorted unique 64-bit hashes of (a sample of) the fitted rows, features and label
    #: (see ``row_hashes``), and how many fitted rows they were drawn from.
    row_hashes: NDArray[np.uint64] | None = None
    hashed_from: int = 0

    # --- storage ---------------------------------------------------------------------
    def to_state(self) -> State:
        """(JSON metadata, arrays) for the artifact; arrays hold the numeric bins."""
        arrays: dict[str, NDArray[Any]] = {}
        feats: list[dict[str, Any]] = []
        for i, ref in enumerate(self.features.values()):
            if isinstance(ref, NumericReference):
                _put_numeric(arrays, f"f{i}", ref)
            feats.append(ref.summary())
        score_meta = []
        for k, ref in enumerate(self.scores):
            _put_numeric(arrays, f"s{k}", ref)
            score_meta.append(ref.summary())
        meta = {
            "version": REFERENCE_VERSION,
            "n_rows": self.n_rows,
            "features": feats,
            "classes": list(self.classes),
            "class_counts": self.class_counts.tolist(),
            "predicted_counts": None
            if self.predicted_counts is None
            else self.predicted_counts.tolist(),
            "scores": score_meta,
            "score_rows": self.score_rows,
            "performance": dict(self.performance),
            "hashed_from": self.hashed_from,
        }
        if self.row_hashes is not None:
            arrays["rows"] = np.asarray(self.row_hashes, dtype=np.uint64)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> Reference:
        """Rebuild from :meth:`to_state` output; raises ValueError when it is malformed."""
        try:
            version = int(meta["version"])
            if version > REFERENCE_VERSION:
                raise ValueError(
                    f"reference statistics version {version} is newer than this polyclass "
                    f"reads ({REFERENCE_VERSION}); upgrade polyclass."
                )
            features: dict[str, FeatureReference] = {}
            for i, f in enumerate(meta["features"]):
                if f["kind"] == "numeric":
                    features[f["name"]] = _get_numeric(arrays, f"f{i}", f)
                else:
                    features[f["name"]] = CategoricalReference(
                        name=f["name"],
                        categories=tuple(str(c) for c in f["categories"]),
                        counts=np.asarray(f["counts"], dtype=np.int64),
                        missing=int(f["missing"]),
                        kind=f["kind"],
                    )
            scores = tuple(
                _get_numeric(arrays, f"s{k}", s) for k, s in enumerate(meta.get("scores", []))
            )
            pc = meta.get("predicted_counts")
            return cls(
                features=features,
                classes=tuple(str(c) for c in meta["classes"]),
                class_counts=np.asarray(meta["class_counts"], dtype=np.int64),
                n_rows=int(meta["n_rows"]),
                predicted_counts=None if pc is None else np.asarray(pc, dtype=np.int64),
                scores=scores,
                score_rows=str(meta.get("score_rows", "")),
                performance={k: float(v) for k, v in dict(meta.get("performance", {})).items()},
                row_hashes=None if "rows" not in arrays else np.asarray(arrays["rows"], np.uint64),
                hashed_from=int(meta.get("hashed_from", 0)),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                f"The model's reference statistics are malformed ({exc!r}); retrain the "
                "model with this polyclass to store them again."
            ) from exc


def _put_numeric(arrays: dict[str, NDArray[Any]], key: str, ref: NumericReference) -> None:
    arrays[f"{key}.edges"] = np.asarray(ref.edges, dtype=np.float64)
    arrays[f"{key}.counts"] = np.asarray(ref.counts, dtype=np.int64)
    arrays[f"{key}.means"] = np.asarray(ref.means, dtype=np.float64)


def _get_numeric(
    arrays: Mapping[str, NDArray[Any]], key: str, meta: Mapping[str, Any]
) -> NumericReference:
    edges = np.asarray(arrays[f"{key}.edges"], dtype=np.float64)
    counts = np.asarray(arrays[f"{key}.counts"], dtype=np.int64)
    means = np.asarray(arrays[f"{key}.means"], dtype=np.float64)
    if counts.shape != (edges.size + 1,) or means.shape != counts.shape:
        raise ValueError(
            f"reference bins of {meta['name']!r}: {edges.size} edges but {counts.size} "
            f"counts and {means.size} means; the artifact is inconsistent."
        )
    return NumericReference(
        name=str(meta["name"]),
        edges=edges,
        counts=counts,
        means=means,
        missing=int(meta["missing"]),
        mean=_float(meta.get("mean")),
        std=_float(meta.get("std")),
        min=_float(meta.get("min")),
        max=_float(meta.get("max")),
    )


def _num(v: float) -> float | None:
    return v if np.isfinite(v) else None


def _float(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _text(v: Any) -> str | None:
    """A value as the prediction log writes it: ``str(value)``; None when missing."""
    if v is None:
        return None
    if isinstance(v, float | np.floating) and np.isnan(v):
        return None
    return str(plain(v))


def _cbpe_baseline(
    proba: NDArray[np.float64], predicted: NDArray[Any], classes: tuple[str, ...]
) -> dict[str, float]:
    """The CBPE estimate on the scored rows (``cbpe_<metric>``): what estimates of live
    traffic are compared with, so a model's calibration bias cancels out."""
    from polyclass.monitor._estimate import estimate_performance

    index = {c: i for i, c in enumerate(classes)}
    codes = np.asarray([index.get(str(v), -1) for v in predicted.tolist()], dtype=np.intp)
    overall, _ = estimate_performance(proba, codes, list(classes))
    keys = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro")
    return {f"cbpe_{k}": float(overall[k]) for k in keys if overall.get(k) is not None}


def compute_reference(
    data: Any,
    kinds: Mapping[str, str] | Any,
    *,
    y: Sequence[Any] | NDArray[Any],
    classes: Sequence[Any] | NDArray[Any] | None = None,
    proba: NDArray[np.float64] | None = None,
    predicted: Sequence[Any] | NDArray[Any] | None = None,
    score_rows: str = "",
    performance: Mapping[str, float] | None = None,
    n_bins: int = N_BINS,
    target: str | None = None,
    fitted_rows: int | None = None,
) -> Reference:
    """Reference statistics of training rows, and of the model's scores on scored rows.

    Parameters
    ----------
    data : DataFrame or mapping of column name to values
        The rows the model was fitted on (input features; other columns are ignored).
    kinds : Schema or mapping of feature name to kind
        ``'numeric'``, ``'categorical'`` or ``'boolean'`` per feature; a
        :class:`polyclass.data.Schema` is accepted.
    y : array-like
        The true labels of those rows (class balance).
    classes : sequence, optional
        The model's classes in its probability-column order (default: sorted ``y``).
    proba : ndarray of shape (n_scored, n_classes), optional
        The model's probabilities on the scored rows (held-out rows are best).
    predicted : array-like, optional
        The model's predicted labels on the same scored rows.
    score_rows : str
        Which rows were scored, said in reports (e.g. ``'test'``).
    performance : mapping, optional
        Metric values measured on held-out rows (e.g. ``{'accuracy': 0.97}``): the
        baseline live metrics are compared with.
    n_bins : int, default=100
        Most quantile bins per numeric column.
    target : str, optional
        The label column of ``data``: when given, the rows' hashes (features and label)
        are kept, so an evaluation can tell rows the model was fitted on.
    fitted_rows : int, optional
        How many rows the model was fitted on, when ``data`` is a sample of them.

    Returns
    -------
    Reference
    """
    if hasattr(kinds, "features"):
        kinds = {f.name: f.kind for f in kinds.features}
    features: dict[str, FeatureReference] = {}
    for name, kind in kinds.items():
        column = data[name]
        values = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
        if kind == "numeric":
            features[name] = NumericReference.from_values(name, values, n_bins=n_bins)
        elif kind == "categorical":
            features[name] = CategoricalReference.from_values(name, values, kind="categorical")
        elif kind == "boolean":
            features[name] = CategoricalReference.from_values(name, values, kind="boolean")
        elif kind == "datetime":
            continue  # time moves on: a date column always "drifts", so it has no reference
        else:
            raise ValueError(
                f"compute_reference: feature {name!r} has kind {kind!r}; expected "
                "'numeric', 'categorical' or 'boolean'."
            )
    y_arr = np.asarray(y)
    cls_list = list(np.unique(y_arr)) if classes is None else list(classes)
    cls_text = tuple(str(_text(c)) for c in cls_list)
    y_text = np.asarray([str(_text(v)) for v in y_arr.tolist()], dtype=str)
    class_counts = np.asarray([int((y_text == c).sum()) for c in cls_text], dtype=np.int64)
    predicted_counts = None
    if predicted is not None:
        p_text = np.asarray([str(_text(v)) for v in np.asarray(predicted).tolist()], dtype=str)
        predicted_counts = np.asarray([int((p_text == c).sum()) for c in cls_text], np.int64)
    scores: tuple[NumericReference, ...] = ()
    if proba is not None:
        p = np.asarray(proba, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(cls_text):
            raise ValueError(
                f"compute_reference: proba has shape {p.shape}; expected (n_rows, "
                f"{len(cls_text)}) with one column per class."
            )
        scores = tuple(
            NumericReference.from_values(f"proba[{c}]", p[:, k], n_bins=n_bins)
            for k, c in enumerate(cls_text)
        )
        if predicted is not None:
            perf = dict(performance or {})
            perf.update(_cbpe_baseline(p, p_text, cls_text))
            performance = perf
    hashes = None
    if target is not None:
        from polyclass.monitor._rows import row_hashes

        hashes = np.unique(row_hashes(data, {**kinds, target: "label"}))
    return Reference(
        row_hashes=hashes,
        hashed_from=int(fitted_rows if fitted_rows is not None else len(y_arr)),
        features=features,
        classes=cls_text,
        class_counts=class_counts,
        n_rows=len(y_arr),
        predicted_counts=predicted_counts,
        scores=scores,
        score_rows=score_rows,
        performance={k: float(v) for k, v in (performance or {}).items()},
    )
