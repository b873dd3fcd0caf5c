"""Classification metrics with scikit-learn's names, parameters and results, faster.

Swap ``from sklearn import metrics`` for ``from polyclass import metrics`` and get the
same numbers. Beyond scikit-learn: streaming and mergeable metric states, confidence
intervals, threshold selection by cost and advice on which metric fits a problem.
"""

from __future__ import annotations

# --- label metrics (confusion-matrix based) ---
# --- score metrics (ranking, curves, probabilistic) ---
# --- beyond sklearn: streaming states, uncertainty, thresholds, advice ---

__all__: list[str] = []
