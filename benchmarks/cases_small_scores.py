"""Score metrics at n=100: per-call overhead (cross-validation loops)

Target 1x: never slower than scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from _harness import Case
from polyclass import metrics as pcm


def cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(0)
    n = 100
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 2)
    ym = rng.integers(0, 4, n)
    p = rng.random((n, 4))
    p /= p.sum(axis=1, keepdims=True)
    reps = 20 if quick else 200

    def loop(fn, *args, **kw):  # type: ignore[no-untyped-def]
        return lambda: [fn(*args, **kw) for _ in range(reps)]

    size = y.nbytes + s.nbytes
    msize = ym.nbytes + p.nbytes
    specs = [
        ("roc_auc_score", (y, s), {}, size),
        ("roc_curve", (y, s), {}, size),
        ("precision_recall_curve", (y, s), {}, size),
        ("average_precision_score", (y, s), {}, size),
        ("det_curve", (y, s), {}, size),
        ("log_loss", (y, s), {}, size),
        ("brier_score_loss", (y, s), {}, size),
        ("roc_auc_score", (ym, p), {"multi_class": "ovr"}, msize),
        ("roc_auc_score", (ym, p), {"multi_class": "ovo"}, msize),
        ("log_loss", (ym, p), {}, msize),
    ]
    out = []
    for name, args, kw, nbytes in specs:
        label = f"{name} {kw.get('multi_class', '')} n=100 x{reps}".replace("  ", " ")
        out.append(
            Case(
                label,
                loop(getattr(pcm, name), *args, **kw),
                loop(getattr(skm, name), *args, **kw),
                nbytes,
                target=1,
            )
        )
    return out
