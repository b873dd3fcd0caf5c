"""Drift statistics computed from binned counts, each equal to SciPy's on the same bins.

Every function takes the reference and current *counts over the same bins* (quantile
bins of a numeric column, categories of a categorical one), which is all a model
artifact keeps of its training data:

- :func:`psi` — population stability index, ``sum((c - r) * ln(c / r))`` over bin
  proportions, with empty bins floored at ``eps`` (1e-4) so the logarithm stays finite.
- :func:`ks_from_counts` — the two-sample Kolmogorov-Smirnov statistic
  ``D = max |F_ref - F_cur|`` over the bin edges and its p-value; equal to
  ``scipy.stats.ks_2samp(method='asymp')`` on the binned samples. Because the edges
  are a subset of the points where the raw ECDFs could differ, ``D`` never exceeds the
  raw-data statistic: the binned test is conservative (it never raises false alarms
  above its level) and with 100 reference quantile bins ``D`` is within 0.01 of it.
- :func:`chisquare_from_counts` — Pearson's chi-square test of homogeneity of the
  2 x K table (reference, current) x categories: ``scipy.stats.chisquare`` of the table
  against its independence expectation with K - 1 degrees of freedom, the same as
  ``scipy.stats.chi2_contingency(correction=False)``. Unlike a goodness-of-fit test
  against the reference proportions it accounts for the reference being a sample too.
- :func:`jensenshannon_from_counts` — ``scipy.spatial.distance.jensenshannon`` of the
  two proportion vectors (natural logarithm: values in ``[0, sqrt(ln 2)]``).
- :func:`wasserstein_from_bins` — ``scipy.stats.wasserstein_distance`` between the two
  samples with each value replaced by the mean of its side's values in its bin (so a
  shift inside or beyond the outer bins still counts in full); divided by the
  reference standard deviation for a unit-free threshold.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

Counts = NDArray[np.int64] | NDArray[np.float64]

PSI_EPS = 1e-4


def _proportions(counts: Counts) -> NDArray[np.float64]:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, c / np.where(total > 0, total, 1.0), 0.0)


def psi(ref_counts: Counts, cur_counts: Counts, *, eps: float = PSI_EPS) -> float:
    """Population stability index of the current bin mix against the reference's.

    Examples
    --------
    >>> round(psi([50, 50], [60, 40]), 4)
    0.0405
    """
    r = np.maximum(_proportions(ref_counts), eps)
    c = np.maximum(_proportions(cur_counts), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_statistic(ref_counts: Counts, cur_counts: Counts) -> float:
    """The KS statistic ``D = max |F_ref - F_cur|`` over the bin edges alone (NaN if empty).

    The same ``D`` as :func:`ks_from_counts`, without its p-value (which SciPy computes
    exactly, slowly on large samples).

    Examples
    --------
    >>> ks_statistic([10, 10, 10, 10], [0, 10, 10, 20])
    0.25
    """
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    m, n = r.sum(), c.sum()
    if m == 0 or n == 0:
        return float("nan")
    return float(np.max(np.abs(np.cumsum(r) / m - np.cumsum(c) / n)))


def ks_from_counts(ref_counts: Counts, cur_counts: Counts) -> tuple[float, float]:
    """Two-sample KS statistic over bin edges and its asymptotic two-sided p-value.

    The p-value is ``kstwo.sf(D, round(m n / (m + n)))``, SciPy's ``method='asymp'``.

    Examples
    --------
    >>> d, p = ks_from_counts([10, 10, 10, 10], [0, 10, 10, 20])
    >>> round(d, 3), round(p, 3)
    (0.25, 0.138)
    """
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    m, n = r.sum(), c.sum()
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    d = ks_statistic(r, c)
    from scipy import stats  # only for the p-value: importing scipy.stats is slow

    big, small = max(m, n), min(m, n)
    en = big * small / (big + small)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p


def chisquare_from_counts(ref_counts: Counts, cur_counts: Counts) -> tuple[float, float]:
    """Chi-square test of homogeneity of reference and current category counts.

    Categories empty on both sides are left out (they carry no information).

    Examples
    --------
    >>> stat, p = chisquare_from_counts([30, 70], [50, 50])
    >>> round(stat, 3), round(p, 4)
    (8.333, 0.0039)
    """
    table = np.vstack([np.asarray(ref_counts, np.float64), np.asarray(cur_counts, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or (rows == 0).any():
        return 0.0 if table.shape[1] == 1 and (rows > 0).all() else float("nan"), 1.0
    expected = np.outer(rows, table.sum(axis=0)) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return stat, float(special.chdtrc(dof, stat))


def jensenshannon_from_counts(ref_counts: Counts, cur_counts: Counts) -> float:
    """Jensen-Shannon distance (natural log) between the two proportion vectors.

    Examples
    --------
    >>> round(jensenshannon_from_counts([1, 0], [0, 1]), 4)
    0.8326
    """
    p = _proportions(ref_counts)
    q = _proportions(cur_counts)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    m = (p + q) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)), 0)
        right = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0) / np.where(m > 0, m, 1.0)), 0)
    js = (left.sum() + right.sum()) / 2.0
    return float(np.sqrt(max(js, 0.0)))


def wasserstein_from_bins(
    ref_means: NDArray[np.float64],
    ref_counts: Counts,
    cur_means: NDArray[np.float64],
    cur_counts: Counts,
) -> float:
    """First Wasserstein distance between two weighted point sets (bin means, counts).

    Equal to ``scipy.stats.wasserstein_distance(ref_means, cur_means, ref_counts,
    cur_counts)`` with empty bins left out.

    Examples
    --------
    >>> wasserstein_from_bins(np.array([0.0, 1.0]), [1, 1], np.array([1.0, 2.0]), [1, 1])
    1.0
    """
    rm, rc = np.asarray(ref_means, np.float64), np.asarray(ref_counts, np.float64)
    cm, cc = np.asarray(cur_means, np.float64), np.asarray(cur_counts, np.float64)
    rk, ck = rc > 0, cc > 0
    rm, rc, cm, cc = rm[rk], rc[rk], cm[ck], cc[ck]
    if rc.size == 0 or cc.size == 0:
        return float("nan")
    values = np.concatenate([rm, cm])
    weights = np.concatenate([rc / rc.sum(), -cc / cc.sum()])
    order = np.argsort(values, kind="mergesort")
    values, weights = values[order], weights[order]
    cdf_diff = np.cumsum(weights)[:-1]
    return float(np.sum(np.abs(cdf_diff) * np.diff(values)))
