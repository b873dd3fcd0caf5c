"""Label metrics computed from confusion matrices, vectorized over leading batch dims.

Every function takes ``cm`` of shape ``(..., K, K)`` (rows = true class, columns =
predicted class) and returns ``(...)`` or ``(..., L)``. A bootstrap over B resampled
matrices ``(B, K, K)`` is one call. The public functions in ``polyclass.metrics`` are
built on these, so a batch of one equals the whole-data result by construction.

Index-space arguments: ``label_indices`` selects (and orders) classes, ``-1`` meaning a
label absent from the matrix (zero counts); ``pos_index`` is the positive class for
``average='binary'``; ``keep`` is a boolean ``(..., K)`` mask of the classes that count
in averages (used to drop classes absent from a resample, as scikit-learn does).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import UndefinedMetricWarning

Array = NDArray[Any]
ZeroDivision = str | float

_PRF_WARN_FOR = ("precision", "recall", "f-score")


def zero_division_value(zero_division: ZeroDivision) -> float:
    """The value used when a ratio is undefined: 0.0 for "warn", else the number."""
    if isinstance(zero_division, str):
        return 0.0
    return float(zero_division)


def class_counts(cm: Array) -> tuple[Array, Array, Array, Array]:
    """Per-class true positives, predicted totals, true totals, and the grand total."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    true_sum = cm.sum(axis=-1)
    pred_sum = cm.sum(axis=-2)
    return tp, pred_sum, true_sum, true_sum.sum(axis=-1)


def present_classes(cm: Array) -> Array:
    """Classes with any true or predicted count, ``(..., K)`` boolean."""
    return np.asarray((cm.sum(axis=-1) + cm.sum(axis=-2)) > 0)


def select(x: Array, label_indices: Array | None) -> Array:
    """Take ``x[..., label_indices]`` with zeros where an index is -1."""
    if label_indices is None:
        return x
    idx = np.asarray(label_indices, dtype=np.intp)
    out = np.take(x, np.maximum(idx, 0), axis=-1)
    if len(idx) and idx.min() < 0:
        out = np.where(idx < 0, np.zeros((), dtype=out.dtype), out)
    return out


def warn_prf(average: str | None, modifier: str, msg_start: str, result_size: int) -> None:
    """scikit-learn's UndefinedMetricWarning sentence for an ill-defined ratio."""
    axis0, axis1 = "sample", "label"
    if average == "samples":
        axis0, axis1 = axis1, axis0
    msg = (
        f"{msg_start} ill-defined and being set to 0.0 {{0}} no {modifier} {axis0}s. "
        "Use `zero_division` parameter to control this behavior."
    )
    msg = msg.format("due to") if result_size == 1 else msg.format(f"in {axis1}s with")
    warnings.warn(msg, UndefinedMetricWarning, stacklevel=4)


def divide(
    numerator: Array,
    denominator: Array,
    metric: str,
    modifier: str,
    average: str | None,
    warn_for: Sequence[str],
    zero_division: ZeroDivision,
    keep: Array | None = None,
) -> Array:
    """``numerator / denominator`` with ``zero_division`` where the denominator is 0."""
    mask = np.asarray(denominator == 0)
    den = np.where(mask, 1.0, denominator).astype(np.float64, copy=False)
    result = np.asarray(np.asarray(numerator, dtype=np.float64) / den)
    if not mask.any():
        return result
    result[mask] = zero_division_value(zero_division)
    if isinstance(zero_division, str) and metric in warn_for:
        counted = mask if keep is None else mask & keep
        if counted.any():
            warn_prf(average, modifier, f"{metric.capitalize()} is", result.shape[-1])
    return result


def nanaverage(values: Array, weights: Array | None = None, keep: Array | None = None) -> Array:
    """Mean over the last axis ignoring NaN (and entries not in ``keep``), as sklearn's.

    With weights whose kept sum is zero, the unweighted mean is returned.
    """
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], np.nan)
    valid = ~np.isnan(values)
    if keep is not None:
        valid &= keep
    vz = np.where(valid, values, 0.0)
    count = valid.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = vz.sum(axis=-1) / count
        if weights is None:
            return np.asarray(mean)
        wz = np.where(valid, weights, 0).astype(np.float64)
        total = wz.sum(axis=-1)
        wmean = (vz * wz).sum(axis=-1) / np.where(total == 0, 1.0, total)
    return np.asarray(np.where(total > 0, wmean, mean))


def prf_from_counts(
    tp: Array,
    pred_sum: Array,
    true_sum: Array,
    *,
    beta: float = 1.0,
    average: str | None = None,
    zero_division: ZeroDivision = "warn",
    warn_for: Sequence[str] = _PRF_WARN_FOR,
    keep: Array | None = None,
    sample_weight: Array | None = None,
) -> tuple[Array, Array, Array, Array | None]:
    """Precision, recall, F-beta and support from per-label counts ``(..., L)``."""
    if average == "micro":
        tp = tp.sum(axis=-1, keepdims=True)
        pred_sum = pred_sum.sum(axis=-1, keepdims=True)
        true_sum = true_sum.sum(axis=-1, keepdims=True)
        keep = None
    args = (average, warn_for, zero_division, keep)
    precision = divide(tp, pred_sum, "precision", "predicted", *args)
    recall = divide(tp, true_sum, "recall", "true", *args)
    if np.isposinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        beta2 = beta**2
        denom = beta2 * np.asarray(true_sum, dtype=np.float64) + np.asarray(
            pred_sum, dtype=np.float64
        )
        numer = (1 + beta2) * np.asarray(tp, dtype=np.float64)
        f_score = divide(numer, denom, "f-score", "true nor predicted", *args)
    if average is None:
        if keep is not None and not keep.all():
            precision, recall, f_score = (
                np.where(keep, x, np.nan) for x in (precision, recall, f_score)
            )
        return precision, recall, f_score, true_sum
    weights = true_sum if average == "weighted" else None
    if average == "samples":
        weights = sample_weight
    return (
        nanaverage(precision, weights, keep),
        nanaverage(recall, weights, keep),
        nanaverage(f_score, weights, keep),
        None,
    )


def specificity_from_counts(
    tn: Array,
    neg_sum: Array,
    true_sum: Array,
    *,
    average: str | None,
    zero_division: ZeroDivision,
    keep: Array | None = None,
    sample_weight: Array | None = None,
) -> Array:
    """Specificity tn / (tn + fp) from per-label counts; 'weighted' weighs by support."""
    return _ratio_from_counts(
        tn,
        neg_sum,
        true_sum,
        "specificity",
        "negative",
        average=average,
        zero_division=zero_division,
        keep=keep,
        sample_weight=sample_weight,
    )


def _ratio_from_counts(
    num: Array,
    den: Array,
    true_sum: Array,
    metric: str,
    den_name: str,
    *,
    average: str | None,
    zero_division: ZeroDivision,
    keep: Array | None,
    sample_weight: Array | None,
) -> Array:
    """Per-label ``num / den`` averaged like scikit-learn: 'micro' pools the counts,
    'weighted' weighs labels by support, 'samples' by ``sample_weight``; a 0/0 warns
    (naming ``den_name``) and takes ``zero_division``."""
    if average == "micro":
        num = num.sum(axis=-1, keepdims=True)
        den = den.sum(axis=-1, keepdims=True)
        keep = None
    ratio = divide(num, den, metric, den_name, average, (metric,), zero_division, keep)
    if average is None:
        if keep is not None and not keep.all():
            ratio = np.where(keep, ratio, np.nan)
        return ratio
    weights = true_sum if average == "weighted" else None
    if average == "samples":
        weights = sample_weight
    return nanaverage(ratio, weights, keep)


def jaccard_from_counts(
    tp: Array,
    pred_sum: Array,
    true_sum: Array,
    *,
    average: str | None,
    zero_division: ZeroDivision,
    keep: Array | None = None,
    sample_weight: Array | None = None,
) -> Array:
    """Jaccard index tp / (tp + fp + fn) from per-label counts, averaged like sklearn."""
    return _ratio_from_counts(
        tp,
        pred_sum + true_sum - tp,
        true_sum,
        "jaccard",
        "true or predicted",
        average=average,
        zero_division=zero_division,
        keep=keep,
        sample_weight=sample_weight,
    )


def accuracy_from_confusion(cm: Array, *, normalize: bool = True) -> Array:
    """Fraction (or count, ``normalize=False``) of samples on the diagonal."""
    correct = np.trace(cm, axis1=-2, axis2=-1)
    if not normalize:
        return np.asarray(correct, dtype=np.float64)
    return np.asarray(correct / cm.sum(axis=(-2, -1)))


def hamming_from_confusion(cm: Array) -> Array:
    """Fraction of samples off the diagonal."""
    total = cm.sum(axis=(-2, -1))
    return np.asarray((total - np.trace(cm, axis1=-2, axis2=-1)) / total)


def warn_single_label(cm: Array) -> None:
    """scikit-learn's confusion_matrix UserWarning for a (1, 1) matrix."""
    if cm.shape[-1] == 1:
        warnings.warn(
            "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix "
            "to have the correct shape, use the 'labels' parameter to pass all known labels.",
            UserWarning,
            stacklevel=3,
        )


def balanced_accuracy_from_confusion(
    cm: Array, *, adjusted: bool = False, keep: Array | None = None
) -> Array:
    """Mean per-class recall over classes with true samples; chance-adjusted optionally.

    Warns (UserWarning, as scikit-learn) when a class is predicted but never true.
    """
    warn_single_label(cm)
    tp, _, true_sum, _ = class_counts(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = tp / true_sum
    undefined = np.isnan(per_class)
    if keep is not None:
        undefined &= keep
    if undefined.any():
        warnings.warn("y_pred contains classes not in y_true", UserWarning, stacklevel=2)
    valid = ~np.isnan(per_class) if keep is None else (~np.isnan(per_class) & keep)
    n_valid = valid.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(valid, per_class, 0.0).sum(axis=-1) / n_valid
        if adjusted:
            chance = 1 / n_valid
            score = (score - chance) / (1 - chance)
    if adjusted and cm.ndim == 2 and n_valid == 1:
        # scikit-learn divides NumPy scalars by 1 - 1/1 = 0 and NumPy warns
        what = "invalid value" if np.isnan(score) else "divide by zero"
        warnings.warn(f"{what} encountered in scalar divide", RuntimeWarning, stacklevel=2)
    return np.asarray(score)


def mcc_from_confusion(cm: Array) -> Array:
    """Matthews correlation coefficient (K-category, Gorodkin 2004); 0 when undefined."""
    warn_single_label(cm)
    c = np.asarray(cm, dtype=np.float64)
    t_sum = c.sum(axis=-1)
    p_sum = c.sum(axis=-2)
    n_correct = np.trace(c, axis1=-2, axis2=-1)
    n = p_sum.sum(axis=-1)
    cov_ytyp = n_correct * n - np.einsum("...k,...k->...", t_sum, p_sum)
    cov_ypyp = n**2 - np.einsum("...k,...k->...", p_sum, p_sum)
    cov_ytyt = n**2 - np.einsum("...k,...k->...", t_sum, t_sum)
    prod = cov_ypyp * cov_ytyt
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = cov_ytyp / np.sqrt(np.where(prod == 0, 1.0, prod))
    return np.asarray(np.where(prod == 0, 0.0, mcc))


def _ranks(keep: Array | None, k: int) -> Array:
    if keep is None:
        return np.arange(k, dtype=np.float64)
    return np.cumsum(keep, axis=-1, dtype=np.float64) - 1


def kappa_from_confusion(
    cm: Array,
    *,
    weights: str | None = None,
    replace_undefined_by: float = np.nan,
    keep: Array | None = None,
) -> Array:
    """Cohen's kappa (optionally linear/quadratic weighted) of a ``(..., K, K)`` matrix.

    ``keep`` marks the classes that exist (their positions define the weights'
    distances); absent classes, with zero counts, are skipped.
    """
    warn_single_label(cm)
    c = np.asarray(cm, dtype=np.float64)
    k = c.shape[-1]
    sum0 = c.sum(axis=-2)
    sum1 = c.sum(axis=-1)
    total = sum0.sum(axis=-1)
    undefined_total = total == 0
    if undefined_total.any():
        warnings.warn(
            "`y2` contains no labels that are present in both `y1` and `labels`."
            "`cohen_kappa_score` is undefined and set to the value defined by the "
            f"`replace_undefined_by` param, which is set to {replace_undefined_by}.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    safe_total = np.where(undefined_total, 1.0, total)
    expected = sum0[..., :, None] * sum1[..., None, :] / safe_total[..., None, None]
    if weights is None:
        w_mat: Array = np.ones((k, k)) - np.eye(k)
    else:
        r = _ranks(keep, k)
        diff = r[..., None, :] - r[..., :, None]
        w_mat = np.abs(diff) if weights == "linear" else diff**2
    numerator = (w_mat * c).sum(axis=(-2, -1))
    denominator = (w_mat * expected).sum(axis=(-2, -1))
    undefined = (denominator == 0) & ~undefined_total
    if undefined.any():
        warnings.warn(
            "`y1`, `y2` and `labels` have only one label in common. "
            "`cohen_kappa_score` is undefined and set to the value defined by the "
            f"the `replace_undefined_by` param, which is set to {replace_undefined_by}.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = 1 - numerator / np.where(denominator == 0, 1.0, denominator)
    return np.asarray(np.where(undefined_total | (denominator == 0), replace_undefined_by, kappa))
