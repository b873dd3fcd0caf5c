"""Feature and prediction drift against stored reference statistics.

Current values are counted into the reference's own bins (:class:`BinCounts`, per time
window in one ``bincount``; counts of windows, segments or workers add exactly), then
every statistic of :mod:`polyclass.monitor._stats` is computed from the two count
vectors. Each column's verdict uses one method:

- ``'auto'`` (default): with at most ``small_sample`` current values, a test at level
  ``alpha`` — Kolmogorov-Smirnov for numeric columns, chi-square for categorical ones;
  above that, a distance (tests flag negligible shifts on big samples): Wasserstein
  distance divided by the reference standard deviation >= 0.1 for numeric columns,
  Jensen-Shannon distance >= 0.1 for categorical ones (Evidently's defaults);
- or the column's configured method and threshold (``ks`` / ``chisquare``: drift when
  p < threshold; ``psi``, ``jensenshannon``, ``wasserstein``: drift when >= threshold).

PSI and the Jensen-Shannon distance of a numeric column are computed on its reference
deciles (groups of the fine bins holding about 10% of the reference each: fine bins
would make them measure sampling noise on small windows); KS and Wasserstein use the
fine bins (at most 100). The KS p-value is computed only for columns judged by
``ks`` (SciPy's exact ``kstwo`` is slow on large samples; ``stats['ks']`` always
holds the statistic). The dataset drifts when the share of
drifted columns reaches ``drift_share``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.monitor._config import TESTS, MonitorConfig
from polyclass.monitor._reference import (
    OTHER,
    CategoricalReference,
    FeatureReference,
    NumericReference,
)
from polyclass.monitor._stats import (
    chisquare_from_counts,
    jensenshannon_from_counts,
    ks_from_counts,
    ks_statistic,
    psi,
    wasserstein_from_bins,
)

#: Number of reference-quantile groups PSI is computed on (deciles).
PSI_GROUPS = 10
#: Values binned per block (about 256 KB of float64: the lookup's passes stay in cache).
_VALUES = 1 << 15


@dataclass
class BinCounts:
    """Current counts of one column over its reference bins, one row per group (window).

    ``counts`` has shape (groups, bins), ``missing`` (groups,), ``sums`` (groups, bins)
    holds the sum of the values in each bin (numeric columns; None otherwise).
    """

    counts: NDArray[np.int64]
    missing: NDArray[np.int64]
    sums: NDArray[np.float64] | None = None

    def total(self) -> BinCounts:
        """All groups added up (one group)."""
        return BinCounts(
            self.counts.sum(axis=0, keepdims=True),
            self.missing.sum(keepdims=True),
            None if self.sums is None else self.sums.sum(axis=0, keepdims=True),
        )

    def group(self, g: int) -> BinCounts:
        """Group ``g`` alone."""
        return BinCounts(
            self.counts[g : g + 1],
            self.missing[g : g + 1],
            None if self.sums is None else self.sums[g : g + 1],
        )

    def __add__(self, other: BinCounts) -> BinCounts:
        sums = None
        if self.sums is not None and other.sums is not None:
            sums = self.sums + other.sums
        return BinCounts(self.counts + other.counts, self.missing + other.missing, sums)


def _to_numpy_float(values: Any) -> NDArray[np.float64]:
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        import pyarrow as pa

        if isinstance(values, pa.ChunkedArray | pa.Array):
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
                # a segment logged this input as text (a version that read it as a
                # category): numbers written as text count, other values as missing
                from polyclass.data import parse_numbers

                return parse_numbers(values.to_numpy(zero_copy_only=False))[0]
            if values.null_count:
                values = values.fill_null(float("nan"))
            return np.asarray(values.to_numpy(), dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


def _grouped_bincount(
    codes: NDArray[np.intp],
    width: int,
    groups: NDArray[np.intp] | None,
    n_groups: int,
    weights: NDArray[np.float64] | None = None,
) -> NDArray[Any]:
    if groups is not None:
        codes = groups * width + codes
    out = np.bincount(codes, weights=weights, minlength=n_groups * width)
    return out.reshape(n_groups, width)


def count_numeric(
    ref: NumericReference,
    values: Any,
    groups: NDArray[np.intp] | None = None,
    n_groups: int = 1,
) -> BinCounts:
    """Count numeric ``values`` (NaN / ±inf / null = missing) into ``ref``'s bins."""
    x = _to_numpy_float(values)
    k = ref.counts.size
    binner = ref.binner
    counts = np.zeros((n_groups, k + 1), dtype=np.int64)
    sums = np.zeros((n_groups, k + 1), dtype=np.float64)
    # block by block: the bin lookup's temporaries stay in cache
    for lo in range(0, x.size, _VALUES):
        xb = x[lo : lo + _VALUES]
        finite = np.isfinite(xb)
        if finite.all():
            b = binner(xb)
        else:
            xb = np.where(finite, xb, 0.0)
            b = binner(xb)
            b[~finite] = k
        g = None if groups is None else groups[lo : lo + _VALUES]
        counts += _grouped_bincount(b, k + 1, g, n_groups)
        sums += _grouped_bincount(b, k + 1, g, n_groups, weights=xb)
    return BinCounts(counts[:, :k], counts[:, k], sums[:, :k])


def _as_arrow(values: Any) -> Any:
    """A pandas column or NumPy object array as one Arrow array, when Arrow can take it.

    Object columns of text, pandas ``category`` columns and pandas' own (Arrow-backed or
    Python) strings are converted once, so they are counted by Arrow's hash lookup
    rather than value by value; mixed-type values stay as they are (the exact path).
    """
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if not hasattr(values, "dtype") or (isinstance(values, np.ndarray) and values.dtype != object):
        return values
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return values


def _texts(values: Any) -> Any:
    """``values`` as a pyarrow string array of logged texts (nulls where missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _as_arrow(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not isinstance(values, pa.Array):
        arr = np.asarray(values, dtype=object)
        from polyclass.monitor._reference import _text

        return pa.array([_text(v) for v in arr.tolist()], type=pa.string())
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "True", "False")
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values
    if pa.types.is_dictionary(values.type):
        return _texts(values.cast(values.type.value_type))
    from polyclass.monitor._reference import _text

    return pa.array([_text(v) for v in values.to_pylist()], type=pa.string())


def _category_codes(ref: CategoricalReference, values: Any) -> NDArray[np.intp]:
    """Code of each value: its category, ``k`` (other) or ``k + 1`` (missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _texts(values)
    k = len(ref.categories)
    value_set = pa.array(list(ref.categories), type=arr.type)
    idx = pc.index_in(arr, value_set=value_set)
    codes = np.asarray(idx.fill_null(k).to_numpy(zero_copy_only=False), dtype=np.intp)
    if arr.null_count:
        missing = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        codes[missing] = k + 1
    return codes


def count_categorical(
    ref: CategoricalReference,
    values: Any,
    groups: NDArray[np.intp] | None = None,
    n_groups: int = 1,
) -> BinCounts:
    """Count categorical ``values`` (logged texts; null = missing) into ``ref``'s categories.

    Values outside the reference categories go to the trailing :data:`OTHER` bucket.
    """
    import pyarrow as pa

    k = len(ref.categories)
    values = _as_arrow(values)
    if isinstance(values, pa.ChunkedArray | pa.DictionaryArray) and pa.types.is_dictionary(
        values.type
    ):  # as the log reader returns text inputs: code each dictionary
        parts = []
        for ch in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
            ind = ch.indices
            pos = (ind if ind.null_count == 0 else ind.fill_null(0)).to_numpy()
            dcodes = _category_codes(ref, ch.dictionary)
            c = dcodes[pos] if dcodes.size else np.full(pos.size, k + 1, dtype=np.intp)
            if ind.null_count:
                c[np.asarray(ind.is_null().to_numpy(zero_copy_only=False), bool)] = k + 1
            parts.append(c)
        codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
    else:
        codes = _category_codes(ref, values)
    counts = _grouped_bincount(codes, k + 2, groups, n_groups).astype(np.int64)
    return BinCounts(counts[:, : k + 1], counts[:, k + 1])


def count_values(
    ref: FeatureReference,
    values: Any,
    groups: NDArray[np.intp] | None = None,
    n_groups: int = 1,
) -> BinCounts:
    """Count ``values`` into the bins of ``ref`` (numeric or categorical)."""
    if isinstance(ref, NumericReference):
        return count_numeric(ref, values, groups, n_groups)
    return count_categorical(ref, values, groups, n_groups)


def psi_groups(ref_counts: NDArray[np.int64], n_groups: int = PSI_GROUPS) -> NDArray[np.intp]:
    """Group of each fine bin: contiguous runs of about ``1 / n_groups`` reference mass."""
    total = ref_counts.sum()
    if total == 0:
        return np.zeros(ref_counts.size, dtype=np.intp)
    before = (np.cumsum(ref_counts) - ref_counts) / total
    raw = np.minimum((before * n_groups + 1e-9).astype(np.intp), n_groups - 1)
    return np.unique(raw, return_inverse=True)[1].astype(np.intp)  # numbered 0, 1, 2, ...


@dataclass
class FeatureDrift:
    """The drift of one column (or of one prediction output) against its reference.

    ``statistic`` is the statistic of ``method`` (KS ``D``, chi-square, PSI,
    Jensen-Shannon distance, Wasserstein distance / reference std); ``p_value`` is the
    test's p-value for ``ks`` / ``chisquare`` (None for the distances). A test drifts
    when ``p_value < threshold``, a distance when ``statistic >= threshold``.
    ``stats`` holds every statistic that applies. ``labels``, ``reference`` and
    ``current`` describe the two distributions for display: categories, or the
    reference-decile intervals of a numeric column (``edges``), with their proportions.
    """

    name: str
    kind: str
    method: str
    threshold: float
    statistic: float
    drifted: bool
    n: int
    missing_share: float
    reference_missing_share: float
    stats: dict[str, float] = field(default_factory=dict)
    p_value: float | None = None
    labels: list[str] = field(default_factory=list)
    edges: list[float] | None = None
    reference: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)

    @property
    def score(self) -> float:
        """How far the column moved, comparable across columns (Jensen-Shannon distance)."""
        v = self.stats.get("jensenshannon", float("nan"))
        return 0.0 if not np.isfinite(v) else v

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers become None)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "method": self.method,
            "threshold": self.threshold,
            "statistic": _clean(self.statistic),
            "p_value": None if self.p_value is None else _clean(self.p_value),
            "drifted": self.drifted,
            "n": self.n,
            "missing_share": _clean(self.missing_share),
            "reference_missing_share": _clean(self.reference_missing_share),
            "stats": {k: _clean(v) for k, v in self.stats.items()},
            "labels": self.labels,
            "edges": None if self.edges is None else [_clean(e) for e in self.edges],
            "reference": [_clean(v) for v in self.reference],
            "current": [_clean(v) for v in self.current],
        }


def _clean(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


#: Fewer current rows than this and a column's drift is not judged: KS, chi-square and
#: PSI on a handful of rows flag or clear anything (one row gave PSI 8.6 and "no drift").
MIN_ROWS = 30


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def _resolve(ref: FeatureReference, n: int, config: MonitorConfig) -> tuple[str, float]:
    method, threshold = config.rule(ref.name)
    numeric = isinstance(ref, NumericReference)
    if method == "auto":
        if n <= config.small_sample:
            method = "ks" if numeric else "chisquare"
        else:
            method = "wasserstein" if numeric else "jensenshannon"
    elif not numeric and method in ("ks", "wasserstein"):
        raise ValueError(
            f"Column {ref.name!r} is {ref.kind}; drift method {method!r} needs numbers. "
            "Use 'chisquare', 'psi' or 'jensenshannon' for it."
        )
    return method, config.threshold(method) if threshold is None else threshold


def feature_drift(
    ref: FeatureReference, current: BinCounts, config: MonitorConfig | None = None
) -> FeatureDrift:
    """Every drift statistic of one column and the verdict of its method.

    Parameters
    ----------
    ref : NumericReference or CategoricalReference
    current : BinCounts
        The current counts (summed over groups when there are several).
    config : MonitorConfig, optional
        Methods and thresholds (defaults when omitted).

    Returns
    -------
    FeatureDrift

    Examples
    --------
    >>> import numpy as np
    >>> from polyclass.monitor import NumericReference
    >>> rng = np.random.default_rng(0)
    >>> ref = NumericReference.from_values("x", rng.normal(size=5000))
    >>> drift = feature_drift(ref, count_numeric(ref, rng.normal(1.0, size=500)))
    >>> drift.method, drift.drifted
    ('ks', True)
    """
    cfg = config if config is not None else MonitorConfig()
    cur = current.total() if current.counts.shape[0] != 1 else current
    c = cur.counts[0]
    n = int(c.sum())
    n_missing = int(cur.missing[0])
    r = ref.counts
    method, threshold = _resolve(ref, n, cfg)
    stats: dict[str, float] = {}
    if n > 0 and ref.n > 0:
        if isinstance(ref, NumericReference):
            grp = psi_groups(r)
            r10 = np.bincount(grp, weights=r, minlength=grp.max() + 1)
            c10 = np.bincount(grp, weights=c, minlength=grp.max() + 1)
            stats["jensenshannon"] = jensenshannon_from_counts(r10, c10)
            stats["psi"] = psi(r10, c10)
            if method == "ks":
                stats["ks"], stats["ks_pvalue"] = ks_from_counts(r, c)
            else:  # the exact p-value is slow at large n (scipy's smirnov): on demand
                stats["ks"] = ks_statistic(r, c)
            sums = cur.sums[0] if cur.sums is not None else np.zeros(c.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                cur_means = np.where(c > 0, sums / np.maximum(c, 1), np.nan)
            w = wasserstein_from_bins(ref.means, r, cur_means, c)
            stats["wasserstein"] = w
            scale = ref.std if np.isfinite(ref.std) and ref.std > 0 else 1.0
            stats["wasserstein_norm"] = w / scale
            if method == "chisquare":
                stats["chisquare"], stats["chisquare_pvalue"] = chisquare_from_counts(r, c)
        else:
            stats["jensenshannon"] = jensenshannon_from_counts(r, c)
            stats["psi"] = psi(r, c)
            stats["chisquare"], stats["chisquare_pvalue"] = chisquare_from_counts(r, c)
    statistic = stats.get("wasserstein_norm" if method == "wasserstein" else method, np.nan)
    p_value = stats.get(f"{method}_pvalue", np.nan) if method in TESTS else None
    judged = statistic if p_value is None else p_value
    if not np.isfinite(judged) or n < MIN_ROWS:
        drifted = False
    elif p_value is not None:
        drifted = p_value < threshold
    else:
        drifted = statistic >= threshold
    labels, edges, ref_p, cur_p = _display(ref, c)
    return FeatureDrift(
        name=ref.name,
        kind=ref.kind,
        method=method,
        threshold=float(threshold),
        statistic=statistic,
        drifted=bool(drifted),
        n=n,
        missing_share=_share(n_missing, n + n_missing),
        reference_missing_share=_share(ref.missing, ref.n + ref.missing),
        stats=stats,
        p_value=p_value,
        labels=labels,
        edges=edges,
        reference=ref_p,
        current=cur_p,
    )


def _display(
    ref: FeatureReference, c: NDArray[np.int64]
) -> tuple[list[str], list[float] | None, list[float], list[float]]:
    if isinstance(ref, CategoricalReference):
        r, cc = ref.counts.astype(np.float64), c.astype(np.float64)
        labels = list(ref.labels)
        if r[-1] == 0 and cc[-1] == 0:  # no "other" on either side: leave it out
            r, cc, labels = r[:-1], cc[:-1], labels[:-1]
        return labels, None, _props(r), _props(cc)
    grp = psi_groups(ref.counts)
    n_grp = int(grp.max()) + 1
    r10 = np.asarray(np.bincount(grp, weights=ref.counts, minlength=n_grp), dtype=np.float64)
    c10 = np.asarray(np.bincount(grp, weights=c, minlength=n_grp), dtype=np.float64)
    starts = np.flatnonzero(np.diff(grp)) + 1  # first fine bin of each later group
    inner = ref.edges[starts - 1].tolist()
    edges = [ref.min, *inner, ref.max]
    labels = [f"group {i + 1}" for i in range(n_grp)]
    return labels, edges, _props(r10), _props(c10)


def _props(x: NDArray[np.float64]) -> list[float]:
    total = float(x.sum())
    return [float(v) / total if total > 0 else 0.0 for v in x]


@dataclass
class DriftSummary:
    """Per-column drift and the dataset-level verdict."""

    features: list[FeatureDrift]
    drift_share: float
    threshold: float
    too_few_rows: str | None = None

    @property
    def n_drifted(self) -> int:
        """Columns whose method flagged drift."""
        return sum(f.drifted for f in self.features)

    @property
    def dataset_drift(self) -> bool:
        """Whether the share of drifted columns reached the threshold."""
        return bool(self.features) and self.drift_share >= self.threshold

    def top(self, k: int = 5) -> list[FeatureDrift]:
        """The ``k`` columns that moved most (largest Jensen-Shannon distance)."""
        return sorted(self.features, key=lambda f: -f.score)[:k]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": _clean(self.drift_share),
            "threshold": self.threshold,
            "n_features": len(self.features),
            "n_drifted": self.n_drifted,
            "top": [f.name for f in self.top()],
            "features": [f.to_dict() for f in self.features],
            "too_few_rows": self.too_few_rows,
        }


def summarize_drift(
    features: list[FeatureDrift], config: MonitorConfig | None = None
) -> DriftSummary:
    """Dataset-level verdict: share of judged columns (``MIN_ROWS`` current rows) that drifted.

    When no column has enough rows, ``too_few_rows`` says so (the verdict is no verdict).
    """
    cfg = config if config is not None else MonitorConfig()
    evaluated = [f for f in features if f.n >= MIN_ROWS]
    share = _share(sum(f.drifted for f in evaluated), len(evaluated))
    seen = max((f.n for f in features), default=0)
    few = None
    if not evaluated and seen > 0:
        few = (
            f"too few rows to judge drift: {seen} current row(s), at least {MIN_ROWS} "
            "needed per column"
        )
    summary = DriftSummary(features, 0.0 if not np.isfinite(share) else share, cfg.drift_share)
    summary.too_few_rows = few
    return summary


def class_mix_reference(
    classes: tuple[str, ...], counts: NDArray[np.int64], name: str = "predicted class"
) -> CategoricalReference:
    """A categorical reference over the model's classes (for the predicted class mix)."""
    return CategoricalReference(name, tuple(classes), np.append(counts, 0).astype(np.int64), 0)


__all__ = [
    "MIN_ROWS",
    "OTHER",
    "BinCounts",
    "DriftSummary",
    "FeatureDrift",
    "class_mix_reference",
    "count_categorical",
    "count_numeric",
    "count_values",
    "feature_drift",
    "psi_groups",
    "summarize_drift",
]
