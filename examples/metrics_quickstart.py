"""polyclass.metrics in two minutes: same numbers as sklearn, plus what it lacks.

Run: ``python examples/metrics_quickstart.py``
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from polyclass import metrics

rng = np.random.default_rng(0)
classes = np.array(["cat", "dog", "owl"])
y_true = rng.choice(classes, size=5_000, p=[0.6, 0.3, 0.1])
y_pred = np.where(rng.random(5_000) < 0.8, y_true, rng.choice(classes, size=5_000))

# 1. Drop-in: the same names, parameters and results as sklearn.metrics.
ours = metrics.f1_score(y_true, y_pred, average="macro")
theirs = skm.f1_score(y_true, y_pred, average="macro")
print(f"macro F1: polyclass {ours:.6f}  sklearn {theirs:.6f}")
print(metrics.classification_report(y_true, y_pred, digits=3))

# 2. Streaming: feed batches (from workers, processes, regions), merge, get the same answer.
left, right = metrics.ConfusionMatrixState(), metrics.ConfusionMatrixState()
left.update(y_true[:2_000], y_pred[:2_000])
right.update(y_true[2_000:], y_pred[2_000:])
merged = metrics.ConfusionMatrixState.from_json(left.to_json()).merge(right)
print(f"merged macro F1 {merged.f1_score(average='macro'):.6f} (batched equals whole)")

# 3. Uncertainty: a vectorised bootstrap interval and Wilson intervals per class.
ci = metrics.bootstrap_ci("f1_score", y_true, y_pred, average="macro", random_state=0)
print(f"macro F1 95% CI [{ci.low:.4f}, {ci.high:.4f}]")

# 4. Operating point: a binary score, false negatives 10x as costly as false positives.
y_bin = rng.random(5_000) < 0.1
score = np.clip(y_bin * 0.3 + rng.normal(0.4, 0.2, 5_000), 0, 1)
choice = metrics.select_threshold(y_bin, score, criterion="cost", cost_fp=1, cost_fn=10)
print(
    f"threshold {choice.threshold:.3f}: "
    f"precision {choice.precision:.3f}, recall {choice.recall:.3f}"
)

# 5. Which metric? Ask, and read the reasons.
advice = metrics.recommend_metric(y_bin, costs={"fp": 1, "fn": 10})
print(f"optimise {advice.metric}({advice.kwargs}) because:")
for reason in advice.reasons:
    print("  -", reason)
