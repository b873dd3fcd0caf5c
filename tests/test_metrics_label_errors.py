"""Invalid input to the label metrics raises a ValueError that names the problem and fix."""

from __future__ import annotations

import numpy as np
import pytest

from polyclass import metrics


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: y_true has 3, y_pred"):
        metrics.f1_score([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="sample_weight has 2 entries but there are 3 samples"):
        metrics.accuracy_score([0, 1, 1], [0, 1, 1], sample_weight=[1, 2])


@pytest.mark.parametrize(
    "fn",
    [
        metrics.accuracy_score,
        metrics.confusion_matrix,
        metrics.f1_score,
        metrics.matthews_corrcoef,
        metrics.classification_report,
    ],
)
def test_empty_input(fn: object) -> None:
    with pytest.raises(ValueError, match="empty input"):
        fn([], [])  # type: ignore[operator]


def test_unknown_pos_label() -> None:
    msg = r"pos_label=2 is not a valid label. It should be one of \[0 1\]"
    with pytest.raises(ValueError, match=msg):
        metrics.precision_score([0, 1, 1], [1, 1, 0], pos_label=2)
    with pytest.raises(ValueError, match="pos_label='yes' is not a valid label"):
        metrics.recall_score(["no", "ok"], ["ok", "ok"], pos_label="yes")


def test_multiclass_with_binary_average() -> None:
    msg = (
        r"Target is multiclass but average='binary'. Please choose another average setting, "
        r"one of \[None, 'micro', 'macro', 'weighted'\]."
    )
    with pytest.raises(ValueError, match=msg):
        metrics.f1_score([0, 1, 2], [0, 2, 1])
    with pytest.raises(ValueError, match="Target is multilabel-indicator but average='binary'"):
        metrics.f1_score(np.eye(3, dtype=int), np.eye(3, dtype=int))


def test_bad_average_and_zero_division() -> None:
    with pytest.raises(ValueError, match=r"The 'average' parameter of f1_score must be one of"):
        metrics.f1_score([0, 1], [0, 1], average="avg")
    with pytest.raises(ValueError, match=r"'zero_division' parameter of recall_score"):
        metrics.recall_score([0, 1], [0, 1], zero_division=2)
    with pytest.raises(ValueError, match=r"'zero_division' parameter of jaccard_score"):
        metrics.jaccard_score([0, 1], [0, 1], zero_division=np.nan)
    with pytest.raises(ValueError, match=r"'beta' parameter of fbeta_score"):
        metrics.fbeta_score([0, 1], [0, 1], beta=-1.0)
    with pytest.raises(ValueError, match=r"'normalize' parameter of confusion_matrix"):
        metrics.confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(ValueError, match=r"'weights' parameter of cohen_kappa_score"):
        metrics.cohen_kappa_score([0, 1], [0, 1], weights="cubic")
    with pytest.raises(ValueError, match=r"'k' parameter of top_k_accuracy_score"):
        metrics.top_k_accuracy_score([0, 1, 2], np.eye(3), k=0)
    with pytest.raises(ValueError, match="Samplewise metrics are not available"):
        metrics.f1_score([0, 1], [0, 1], average="samples")


def test_mixed_label_types() -> None:
    with pytest.raises(ValueError, match=r"mix of label input types \(string and number\)"):
        metrics.accuracy_score(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match=r"mix of label input types \(string and number\)"):
        metrics.f1_score(np.array(["a", 1], dtype=object), ["a", "a"], average="macro")


def test_continuous_and_nan_labels() -> None:
    with pytest.raises(ValueError, match=r"y_pred holds continuous values \(0.5 at index 1\)"):
        metrics.accuracy_score([0, 1], [0, 0.5])
    with pytest.raises(ValueError, match=r"y_true contains nan at index 0"):
        metrics.confusion_matrix([np.nan, 1.0], [0, 1])
    with pytest.raises(ValueError, match="multiclass-multioutput is not supported"):
        metrics.f1_score(np.array([[0, 2], [1, 1]]), np.array([[0, 2], [1, 1]]))
    with pytest.raises(ValueError, match="mix of multilabel-indicator and 1-D"):
        metrics.accuracy_score(np.eye(2, dtype=int), [0, 1])


def test_weights_and_labels() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        metrics.accuracy_score([0, 1], [0, 1], sample_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.accuracy_score([0, 1], [0, 1], sample_weight=[1.0, np.nan])
    with pytest.raises(ValueError, match="at least one non-zero"):
        metrics.accuracy_score([0, 1], [0, 1], sample_weight=[0, 0])
    with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(ValueError, match="labels lists 1 more than once"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[1, 0, 1])
    with pytest.raises(ValueError, match="'labels' should contain at least one label"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[])
    with pytest.raises(ValueError, match="At least one label in `labels` must be present in `y1`"):
        metrics.cohen_kappa_score([0, 1], [0, 1], labels=[7])
    with pytest.raises(ValueError, match="All labels must be in"):
        metrics.f1_score(np.eye(3, dtype=int), np.eye(3, dtype=int), labels=[4], average="macro")
    with pytest.raises(ValueError, match="does not match size of target_names"):
        metrics.classification_report([0, 1], [0, 1], target_names=["a"])


def test_top_k_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"Number of classes in 'y_true' \(3\) not equal"):
        metrics.top_k_accuracy_score([0, 1, 2], np.ones((3, 4)))
    with pytest.raises(ValueError, match="y_score contains NaN or inf"):
        metrics.top_k_accuracy_score([0, 1, 2], np.array([[np.nan, 0, 1]] * 3))
    with pytest.raises(ValueError, match="'labels' must be ordered"):
        metrics.top_k_accuracy_score([0, 1, 2], np.ones((3, 3)), labels=[2, 1, 0])


def test_warnings_match_sklearn_types() -> None:
    with pytest.warns(metrics.UndefinedMetricWarning, match="Precision is ill-defined"):
        assert metrics.precision_score([0, 1], [0, 0]) == 0.0
    with pytest.warns(UserWarning, match="A single label was found"):
        metrics.confusion_matrix([1, 1], [1, 1])
    with pytest.warns(UserWarning, match="pos_label .* is ignored"):
        metrics.f1_score([0, 1, 2], [0, 1, 2], average="macro", pos_label=2)
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        metrics.balanced_accuracy_score([0, 0], [0, 1])
    with pytest.warns(metrics.UndefinedMetricWarning, match="only one label in common"):
        metrics.cohen_kappa_score([0, 0], [0, 0], labels=[0, 1])


def test_undefined_metric_warning_is_sklearns() -> None:
    from sklearn.exceptions import UndefinedMetricWarning

    assert metrics.UndefinedMetricWarning is UndefinedMetricWarning
