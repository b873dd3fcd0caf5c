"""``classification_report``: scikit-learn's text and dict, from one confusion matrix.

scikit-learn recomputes the statistics four times (per class, micro, macro,
weighted); here the counts are made once and every row is computed from them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from polyclass.metrics._counts import label_confusion
from polyclass.metrics._from_confusion import prf_from_counts
from polyclass.metrics._setcounts import (
    SetCounts,
    setcounts_from_confusion,
    setcounts_from_multilabel,
)
from polyclass.metrics._setwise import as_labels, check_zero_division
from polyclass.metrics._targets import check_targets

Array = NDArray[Any]
_HEADERS = ["precision", "recall", "f1-score", "support"]
_FUNC = "classification_report"


def _check_digits(digits: Any) -> int:
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(
            f"The 'digits' parameter of {_FUNC} must be an int in the range [0, inf). "
            f"Got {digits!r} instead."
        )
    return int(digits)


def build_report(
    counts_for: Callable[[str | None], SetCounts],
    report_labels: Array,
    *,
    multilabel: bool,
    micro_is_accuracy: bool,
    labels_given: bool,
    target_names: Any,
    digits: int,
    output_dict: bool,
    zero_division: Any,
) -> str | dict[str, Any]:
    """Format the report from a source of per-label counts for each averaging mode."""
    if target_names is not None and len(report_labels) != len(target_names):
        if labels_given:
            warnings.warn(
                f"labels size, {len(report_labels)}, does not match size of target_names, "
                f"{len(target_names)}",
                UserWarning,
                stacklevel=3,
            )
        else:
            raise ValueError(
                f"Number of classes, {len(report_labels)}, does not match size of "
                f"target_names, {len(target_names)}. Try specifying the labels parameter"
            )
    if target_names is None:
        target_names = [f"{label}" for label in report_labels.tolist()]

    def prf(average: str | None) -> tuple[Any, Any, Any, Any]:
        c = counts_for(average)
        return prf_from_counts(
            c.tp,
            c.pred_sum,
            c.true_sum,
            average=average,
            zero_division=zero_division,
            keep=c.keep,
            sample_weight=c.sample_weight,
        )

    p, r, f1, s = prf(None)
    rows = list(zip(target_names, p, r, f1, s, strict=False))
    averages = ["micro", "macro", "weighted"] + (["samples"] if multilabel else [])
    report_dict: dict[str, Any] = {}
    report = ""
    if output_dict:
        for row in rows:
            report_dict[row[0]] = dict(zip(_HEADERS, [float(i) for i in row[1:]], strict=True))
    else:
        width = max(max(len(cn) for cn in target_names), len("weighted avg"), digits)
        head_fmt = "{:>{width}s} " + " {:>9}" * len(_HEADERS)
        report = head_fmt.format("", *_HEADERS, width=width) + "\n\n"
        row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
        for row in rows:
            report += row_fmt.format(*row, width=width, digits=digits)
        report += "\n"
    support_total = np.sum(s)
    for average in averages:
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        avg_p, avg_r, avg_f1, _ = prf(average)
        avg = [float(avg_p), float(avg_r), float(avg_f1), support_total]
        if output_dict:
            report_dict[heading] = dict(zip(_HEADERS, [float(i) for i in avg], strict=True))
        elif heading == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            report += fmt.format(heading, "", "", *avg[2:], width=width, digits=digits)
        else:
            report += row_fmt.format(heading, *avg, width=width, digits=digits)
    if output_dict:
        if "accuracy" in report_dict:
            report_dict["accuracy"] = report_dict["accuracy"]["precision"]
        return report_dict
    return report


def report_from_cm(
    cm: Array,
    classes: Array,
    *,
    labels: ArrayLike | None = None,
    target_names: ArrayLike | None = None,
    digits: int = 2,
    output_dict: bool = False,
    zero_division: Any = "warn",
    margins: tuple[Array, Array, Array] | None = None,
) -> str | dict[str, Any]:
    """classification_report from a (K, K) matrix over sorted ``classes``."""
    check_zero_division(_FUNC, zero_division)
    digits = _check_digits(digits)
    lab = as_labels(_FUNC, labels)
    report_labels = classes if lab is None else lab
    micro_is_accuracy = lab is None or set(lab.tolist()) >= set(classes.tolist())

    def counts_for(average: str | None) -> SetCounts:
        return setcounts_from_confusion(
            _FUNC,
            cm,
            classes,
            average=average,
            labels=lab,
            pos_label=None,
            keep=None,
            margins=margins,
        )

    return build_report(
        counts_for,
        report_labels,
        multilabel=False,
        micro_is_accuracy=micro_is_accuracy,
        labels_given=lab is not None,
        target_names=target_names,
        digits=digits,
        output_dict=output_dict,
        zero_division=zero_division,
    )


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    target_names: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    digits: int = 2,
    output_dict: bool = False,
    zero_division: str | float = "warn",
) -> str | dict[str, Any]:
    """Text (or dict) report of precision, recall, F1 and support per class.

    The text is character for character scikit-learn's; ``output_dict=True`` gives
    the same nested dict.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        True labels, or a binary indicator matrix for multilabel data.
    y_pred : array-like of the same shape as ``y_true``
        Predicted labels.
    labels : array-like, default=None
        The classes to report, in order (default: every label seen, sorted).
    target_names : list of str, default=None
        Display names of ``labels``.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    digits : int, default=2
        Decimals in the text (the dict keeps full precision).
    output_dict : bool, default=False
        Return a dict ``{class: {'precision': ..., 'recall': ..., 'f1-score': ...,
        'support': ...}}`` with 'accuracy' and the averages, instead of text.
    zero_division : {'warn', 0.0, 1.0} or nan, default='warn'
        The value of a ratio with a zero denominator.

    Returns
    -------
    report : str or dict
        The table as text, or as a dict.

    Examples
    --------
    >>> print(classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1],
    ...                             target_names=["class 0", "class 1", "class 2"]))
    ... # doctest: +NORMALIZE_WHITESPACE
                  precision    recall  f1-score   support
    <BLANKLINE>
         class 0       0.50      1.00      0.67         1
         class 1       0.00      0.00      0.00         1
         class 2       1.00      0.67      0.80         3
    <BLANKLINE>
        accuracy                           0.60         5
       macro avg       0.50      0.56      0.49         5
    weighted avg       0.70      0.60      0.61         5
    <BLANKLINE>
    """
    check_zero_division(_FUNC, zero_division)
    digits = _check_digits(digits)
    t = check_targets(_FUNC, y_true, y_pred, sample_weight)
    if t.kind != "multilabel-indicator":
        lc = label_confusion(_FUNC, t.y_true, t.y_pred, t.sample_weight, margins=True)
        return report_from_cm(
            lc.cm,
            lc.classes,
            labels=labels,
            target_names=target_names,
            digits=digits,
            output_dict=output_dict,
            zero_division=zero_division,
            margins=lc.margins,
        )
    lab = as_labels(_FUNC, labels)
    n_labels = t.y_true.shape[1]

    def counts_for(average: str | None) -> SetCounts:
        return setcounts_from_multilabel(_FUNC, t, average=average, labels=lab, pos_label=None)

    return build_report(
        counts_for,
        np.arange(n_labels) if lab is None else lab,
        multilabel=True,
        micro_is_accuracy=False,
        labels_given=lab is not None,
        target_names=target_names,
        digits=digits,
        output_dict=output_dict,
        zero_division=zero_division,
    )
