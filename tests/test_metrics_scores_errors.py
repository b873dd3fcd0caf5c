"""Invalid input to the score metrics raises a ValueError that names the argument and fix."""

from __future__ import annotations

import numpy as np
import pytest

from polyclass import metrics as pcm

Y = np.array([0, 1, 0, 1])
S = np.array([0.1, 0.8, 0.3, 0.6])
P3 = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
Y3 = np.array([2, 0, 1, 2])


@pytest.mark.parametrize(
    "fn",
    [
        pcm.roc_curve,
        pcm.precision_recall_curve,
        pcm.det_curve,
        pcm.roc_auc_score,
        pcm.average_precision_score,
    ],
)
def test_binary_input_errors(fn: object) -> None:
    call = fn  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples.*y_true has 4"):
        call(Y, S[:3])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_score contains NaN or inf \(first at index 2\)"):
        call(Y, np.array([0.1, 0.2, np.nan, 0.4]))  # type: ignore[operator]
    with pytest.raises(ValueError, match="y_score contains NaN or inf"):
        call(Y, np.array([0.1, np.inf, 0.3, 0.4]))  # type: ignore[operator]
    with pytest.raises(ValueError, match="empty input"):
        call(np.array([], dtype=int), np.array([]))  # type: ignore[operator]
    with pytest.raises(ValueError, match="sample_weight"):
        call(Y, S, sample_weight=[1, 1, 1])  # type: ignore[operator]


def test_unknown_pos_label() -> None:
    for fn in (pcm.roc_curve, pcm.precision_recall_curve, pcm.det_curve):
        with pytest.raises(ValueError, match=r"pos_label=3 is not a valid label.*\[0, 1\]"):
            fn(Y, S, pos_label=3)
    with pytest.raises(ValueError, match="pos_label='yes' is not a valid label"):
        pcm.average_precision_score(np.array(["no", "maybe"] * 2), S, pos_label="yes")
    with pytest.raises(ValueError, match="pass pos_label explicitly"):
        pcm.roc_curve(np.array(["a", "b", "a", "b"]), S)


def test_multiclass_auc_errors() -> None:
    with pytest.raises(ValueError, match=r"multi_class must be in \('ovo', 'ovr'\)"):
        pcm.roc_auc_score(Y3, P3)
    bad = P3.copy()
    bad[1, 0] = 0.9
    with pytest.raises(ValueError, match=r"sum up to 1.0 over classes; row 1"):
        pcm.roc_auc_score(Y3, bad, multi_class="ovr")
    with pytest.raises(ValueError, match="Partial AUC computation not available"):
        pcm.roc_auc_score(Y3, P3, multi_class="ovr", max_fpr=0.5)
    with pytest.raises(ValueError, match="sample_weight is not supported"):
        pcm.roc_auc_score(Y3, P3, multi_class="ovo", sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="'labels' must be ordered"):
        pcm.roc_auc_score(Y3, P3, multi_class="ovr", labels=[2, 1, 0])
    with pytest.raises(ValueError, match="Number of given labels, 4"):
        pcm.roc_auc_score(Y3, P3, multi_class="ovr", labels=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="The 'average' parameter of roc_auc_score"):
        pcm.roc_auc_score(Y, S, average="avg")
    with pytest.raises(ValueError, match="The 'max_fpr' parameter of roc_auc_score"):
        pcm.roc_auc_score(Y, S, max_fpr=0.0)


def test_log_loss_and_brier_errors() -> None:
    bad = P3.copy()
    bad[2] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match=r"rows of y_proba must sum to one, but row 2"):
        pcm.log_loss(Y3, bad)
    with pytest.raises(ValueError, match="y_prob contains values greater than 1"):
        pcm.log_loss(Y, np.array([0.1, 1.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="y_proba contains NaN"):
        pcm.brier_score_loss(Y, np.array([0.1, np.nan, 0.3, 0.4]))
    with pytest.raises(ValueError, match="only one label"):
        pcm.log_loss([1, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="should be binary according to the shape"):
        pcm.brier_score_loss(Y3, np.array([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        pcm.log_loss(Y3, P3[:3])
