"""The decision rule: from class probabilities to a predicted class.

One NumPy-only function that training, evaluation, ``polyclass.model``, the server and
``polyclass.metrics`` all call, so that a model decides the same way everywhere.

Examples
--------
>>> import numpy as np
>>> from polyclass.decision import decide
>>> proba = np.array([[0.7, 0.3], [0.2, 0.8]])
>>> decide(proba).tolist()
[0, 1]
>>> decide(proba, "threshold", threshold=0.3, positive=1).tolist()
[1, 1]
"""

from __future__ import annotations

from polyclass.decision._rule import KINDS, decide

__all__ = ["KINDS", "decide"]
