"""Per-call overhead at n=100: every metric must be no slower than scikit-learn

Cross-validation loops call metrics on small folds many times, so the fixed cost of
argument checks and label discovery matters. Each timing is the best of 200 calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import metrics as skm

from _harness import Case
from polyclass import metrics as pcm

_CALLS = 200


def _many(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> None:
        for _ in range(_CALLS):
            fn()

    return run


def _label_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    n = 100
    t = rng.integers(0, 3, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, 3, n))
    tb = rng.integers(0, 2, n)
    pb = np.where(rng.random(n) < 0.7, tb, 1 - tb)
    names = np.array(["ant", "bee", "cat"])
    ts, ps = names[t], names[p]
    scores = rng.random((n, 3))
    size = t.nbytes + p.nbytes
    calls: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
        ("accuracy_score", "accuracy_score", (t, p), {}),
        ("balanced_accuracy_score", "balanced_accuracy_score", (t, p), {}),
        ("confusion_matrix", "confusion_matrix", (t, p), {}),
        ("confusion_matrix str", "confusion_matrix", (ts, ps), {}),
        ("multilabel_confusion_matrix", "multilabel_confusion_matrix", (t, p), {}),
        ("precision_score binary", "precision_score", (tb, pb), {}),
        ("recall_score binary", "recall_score", (tb, pb), {}),
        ("f1_score binary", "f1_score", (tb, pb), {}),
        ("f1_score macro", "f1_score", (t, p), {"average": "macro"}),
        ("f1_score macro str", "f1_score", (ts, ps), {"average": "macro"}),
        ("fbeta_score weighted", "fbeta_score", (t, p), {"beta": 2.0, "average": "weighted"}),
        ("precision_recall_fscore_support", "precision_recall_fscore_support", (t, p), {}),
        ("classification_report", "classification_report", (t, p), {}),
        ("classification_report dict", "classification_report", (t, p), {"output_dict": True}),
        ("matthews_corrcoef", "matthews_corrcoef", (t, p), {}),
        ("cohen_kappa_score", "cohen_kappa_score", (t, p), {}),
        ("jaccard_score macro", "jaccard_score", (t, p), {"average": "macro"}),
        ("hamming_loss", "hamming_loss", (t, p), {}),
        ("top_k_accuracy_score", "top_k_accuracy_score", (t, scores), {"k": 2}),
    ]
    out = []
    for label, name, args, kwargs in calls:
        ours = getattr(pcm, name)
        theirs = getattr(skm, name)
        out.append(
            Case(
                f"{label} n=100 x{_CALLS}",
                _many(lambda f=ours, a=args, k=kwargs: f(*a, **k)),
                _many(lambda f=theirs, a=args, k=kwargs: f(*a, **k)),
                size,
                target=1,
            )
        )
    return out


def cases(quick: bool) -> list[Case]:
    # the score metrics' n=100 cases live in cases_small_scores.py
    return _label_cases()
