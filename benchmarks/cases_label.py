"""Label metrics: confusion matrix, P/R/F, report, agreement (n=10^7, 10 classes)

Inputs are int64 labels 0..9 from a classifier that is right 70% of the time; the
string case uses n=10^6 (scikit-learn maps strings to indices in a Python loop) and
top-k accuracy n=10^6 rows of 10 scores.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from _harness import Case
from polyclass import metrics as pcm


def cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(0)
    n = 10_000 if quick else 10_000_000
    t = rng.integers(0, 10, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, 10, n))
    w = rng.random(n)
    size = t.nbytes + p.nbytes
    tag = "n=1e4" if quick else "n=1e7"
    out = [
        Case(
            f"confusion_matrix {tag}",
            lambda: pcm.confusion_matrix(t, p),
            lambda: skm.confusion_matrix(t, p),
            size,
            target=10,
        ),
        Case(
            f"precision_recall_fscore_support macro {tag}",
            lambda: pcm.precision_recall_fscore_support(t, p, average="macro"),
            lambda: skm.precision_recall_fscore_support(t, p, average="macro"),
            size,
            target=10,
        ),
        Case(
            f"classification_report {tag}",
            lambda: pcm.classification_report(t, p),
            lambda: skm.classification_report(t, p),
            size,
            target=10,
        ),
        Case(
            f"accuracy_score {tag}",
            lambda: pcm.accuracy_score(t, p),
            lambda: skm.accuracy_score(t, p),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"f1_score weighted {tag}",
            lambda: pcm.f1_score(t, p, average="weighted"),
            lambda: skm.f1_score(t, p, average="weighted"),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"matthews_corrcoef {tag}",
            lambda: pcm.matthews_corrcoef(t, p),
            lambda: skm.matthews_corrcoef(t, p),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"cohen_kappa_score quadratic {tag}",
            lambda: pcm.cohen_kappa_score(t, p, weights="quadratic"),
            lambda: skm.cohen_kappa_score(t, p, weights="quadratic"),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"balanced_accuracy_score {tag}",
            lambda: pcm.balanced_accuracy_score(t, p),
            lambda: skm.balanced_accuracy_score(t, p),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"jaccard_score macro {tag}",
            lambda: pcm.jaccard_score(t, p, average="macro"),
            lambda: skm.jaccard_score(t, p, average="macro"),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"hamming_loss {tag}",
            lambda: pcm.hamming_loss(t, p),
            lambda: skm.hamming_loss(t, p),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"multilabel_confusion_matrix {tag}",
            lambda: pcm.multilabel_confusion_matrix(t, p),
            lambda: skm.multilabel_confusion_matrix(t, p),
            size,
            repeat=2,
            target=10,
        ),
        Case(
            f"confusion_matrix weighted {tag}",
            lambda: pcm.confusion_matrix(t, p, sample_weight=w),
            lambda: skm.confusion_matrix(t, p, sample_weight=w),
            size + w.nbytes,
            repeat=2,
        ),
        Case(
            f"specificity_score macro {tag} (no sklearn)",
            lambda: pcm.specificity_score(t, p, average="macro"),
            None,
            size,
            repeat=2,
        ),
    ]
    m = 10_000 if quick else 1_000_000
    names = np.array(["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay"])
    ts, ps = names[t[:m]], names[p[:m]]
    out.append(
        Case(
            f"confusion_matrix str labels n={m:.0e}",
            lambda: pcm.confusion_matrix(ts, ps),
            lambda: skm.confusion_matrix(ts, ps),
            ts.nbytes + ps.nbytes,
            repeat=1,
        )
    )
    scores = rng.random((m, 10)) + np.eye(10)[t[:m]]
    ty = t[:m]
    out.append(
        Case(
            f"top_k_accuracy_score k=3 n={m:.0e}",
            lambda: pcm.top_k_accuracy_score(ty, scores, k=3),
            lambda: skm.top_k_accuracy_score(ty, scores, k=3),
            ty.nbytes + scores.nbytes,
            repeat=1,
        )
    )
    return out
