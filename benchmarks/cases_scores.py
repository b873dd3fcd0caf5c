"""Score metrics: ROC/PR curves and areas (n=10^7 binary, n=10^6 x 10 classes)

Binary inputs are int64 labels and float64 scores that are mostly distinct (the worst
case for ties); multiclass inputs are rows of probabilities over 10 classes.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from _harness import Case
from polyclass import metrics as pcm


def cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(0)
    n = 10_000 if quick else 10_000_000
    y = rng.integers(0, 2, n)
    s = rng.random(n) + 0.25 * y
    w = rng.random(n)
    size = y.nbytes + s.nbytes
    out = [
        Case(
            "roc_auc_score binary n=1e7",
            lambda: pcm.roc_auc_score(y, s),
            lambda: skm.roc_auc_score(y, s),
            size,
            target=5,
        ),
        Case(
            "roc_curve binary n=1e7",
            lambda: pcm.roc_curve(y, s),
            lambda: skm.roc_curve(y, s),
            size,
            target=5,
        ),
        Case(
            "average_precision_score binary n=1e7",
            lambda: pcm.average_precision_score(y, s),
            lambda: skm.average_precision_score(y, s),
            size,
            target=5,
        ),
        Case(
            "precision_recall_curve binary n=1e7",
            lambda: pcm.precision_recall_curve(y, s),
            lambda: skm.precision_recall_curve(y, s),
            size,
        ),
        Case(
            "roc_auc_score weighted n=1e7",
            lambda: pcm.roc_auc_score(y, s, sample_weight=w),
            lambda: skm.roc_auc_score(y, s, sample_weight=w),
            size + w.nbytes,
            repeat=1,
        ),
    ]
    m, k = (2_000, 10) if quick else (1_000_000, 10)
    ym = rng.integers(0, k, m)
    p = rng.random((m, k)) + np.eye(k)[ym]
    p /= p.sum(axis=1, keepdims=True)
    msize = ym.nbytes + p.nbytes
    out += [
        Case(
            "roc_auc_score ovr n=1e6 k=10",
            lambda: pcm.roc_auc_score(ym, p, multi_class="ovr"),
            lambda: skm.roc_auc_score(ym, p, multi_class="ovr"),
            msize,
            target=4,
        ),
        Case(
            "roc_auc_score ovo n=1e6 k=10",
            lambda: pcm.roc_auc_score(ym, p, multi_class="ovo"),
            lambda: skm.roc_auc_score(ym, p, multi_class="ovo"),
            msize,
            target=4,
        ),
        Case(
            "log_loss n=1e6 k=10", lambda: pcm.log_loss(ym, p), lambda: skm.log_loss(ym, p), msize
        ),
        Case(
            "brier_score_loss n=1e6 k=10",
            lambda: pcm.brier_score_loss(ym, p),
            lambda: skm.brier_score_loss(ym, p),
            msize,
        ),
    ]
    return out
