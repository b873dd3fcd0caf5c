"""scikit-learn's estimator checks on polyclass.LogisticRegression."""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from polyclass import LogisticRegression

_FLOAT32_REASON = (
    "float32 fits compute X products in float32, so a weighted fit and the same fit on "
    "repeated rows agree to ~1e-7 relative, not the check's 1e-7 absolute-ish tolerance"
)


def _expected_failures(estimator: Any) -> dict[str, str]:
    if estimator.dtype == "float32":
        return {
            "check_sample_weight_equivalence_on_dense_data": _FLOAT32_REASON,
            "check_sample_weight_equivalence_on_sparse_data": _FLOAT32_REASON,
        }
    return {}


@parametrize_with_checks(
    [
        LogisticRegression(),
        LogisticRegression(solver="lbfgs", max_iter=1000),
        LogisticRegression(l1_ratio=0.5),
        LogisticRegression(dtype="float32"),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator: Any, check: Any) -> None:
    check(estimator)
