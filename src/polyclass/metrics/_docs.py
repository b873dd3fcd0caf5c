"""Shared numpydoc blocks of the label metrics, filled into their docstrings.

The set-wise metrics (precision, recall, F-beta, Jaccard, specificity) take the same
arguments; writing their description once keeps the pages consistent. A docstring
names a block as ``{block_name}`` on a line of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

BLOCKS = {
    "labels_in": """\
y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
    True labels, or a binary indicator matrix for multilabel data.
y_pred : array-like of the same shape as ``y_true``
    Predicted labels.""",
    "setwise_params": """\
labels : array-like, default=None
    The labels to include and their order when ``average`` is None or not
    'binary'. Default: every label present in ``y_true`` or ``y_pred``, sorted.
pos_label : int, float, bool or str, default=1
    The class to report when ``average='binary'`` and the data are binary;
    ignored otherwise.
average : {'binary', 'micro', 'macro', 'weighted', 'samples'} or None, default='binary'
    None returns one score per label. 'binary': the score of ``pos_label``.
    'micro': from the counts summed over labels. 'macro': the unweighted mean of
    the per-label scores. 'weighted': their mean weighted by support (true
    samples). 'samples': per sample, multilabel data only.
sample_weight : array-like of shape (n_samples,), default=None
    Sample weights.
zero_division : {'warn', 0.0, 1.0} or nan, default='warn'
    The value where a ratio has a zero denominator (e.g. precision of a label
    never predicted); 'warn' uses 0 and raises ``UndefinedMetricWarning``.""",
    "setwise_returns": """\
score : float or ndarray of shape (n_labels,)
    One number, or one per label (in the order of ``labels``) when ``average`` is
    None.""",
}


def fill_doc(fn: F) -> F:
    """Replace each ``{block_name}`` line of ``fn``'s docstring by its block, indented."""
    doc = fn.__doc__ or ""
    for name, text in BLOCKS.items():
        token = "{" + name + "}"
        for line in doc.splitlines():
            if line.strip() == token:
                indent = line[: len(line) - len(line.lstrip())]
                block = "\n".join(indent + t if t else t for t in text.splitlines())
                doc = doc.replace(line, block)
    fn.__doc__ = doc
    return fn
