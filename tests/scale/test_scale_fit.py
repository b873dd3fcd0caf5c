"""Distributed preprocessing and fits against the single-node ones on the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from polyclass.data import infer_schema
from polyclass.linear import LogisticRegression, OneVsOneClassifier, OneVsRestClassifier
from polyclass.preprocess import Preprocessor
from polyclass.scale import encode, fit_logistic, fit_preprocessor, read_table


def _distributed(
    client: Any, folder: Path, df: pd.DataFrame, weight: str | None = None
) -> tuple[Preprocessor, dict[Any, list[float]], Any]:
    schema = infer_schema(df.drop(columns=["w"]), "label")
    table = read_table(
        client,
        str(folder),
        "label",
        weight_column=weight,
        columns=["a", "b", "c", "d", "flat", "colour"],
    )
    pre, labels = fit_preprocessor(table, Preprocessor(schema))
    return pre, labels, table


def test_preprocessor_state_equals_single_node(
    client: Any, table: tuple[pd.DataFrame, Path]
) -> None:
    df, folder = table
    pre, labels, _ = _distributed(client, folder, df)
    single = Preprocessor(infer_schema(df.drop(columns=["w"]), "label")).fit(df)
    meta, arrays = pre.to_state()
    meta1, arrays1 = single.to_state()
    assert meta == meta1  # categories, rare ones, fill values, indicator columns
    np.testing.assert_array_equal(arrays["median"], arrays1["median"])  # exact medians
    np.testing.assert_allclose(arrays["mean"], arrays1["mean"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(arrays["scale"], arrays1["scale"], rtol=1e-12)
    assert arrays["scale"][pre.scaled_columns.index("flat")] == 1.0
    counts = df["label"].value_counts()
    assert {k: v[0] for k, v in labels.items()} == {k: float(c) for k, c in counts.items()}


# float32 X cannot reach tol=1e-8 (its products round at ~1e-7), and at tol=1e-6 its line
# search sometimes stalls (one clean-clone run in four); at tol=1e-5 the
# coefficients of the one-hot block, nearly collinear with the intercept, agree to 1e-3
@pytest.mark.parametrize(
    ("template", "weighted", "atol"),
    [
        (LogisticRegression(C=0.5, tol=1e-8), False, 1e-4),
        (LogisticRegression(C=2.0, tol=1e-8, class_weight="balanced"), True, 1e-4),
        (LogisticRegression(C=2.0, tol=1e-5, dtype="float32"), True, 1e-3),
        (OneVsRestClassifier(LogisticRegression(C=1.0, tol=1e-8)), True, 1e-4),
        (
            OneVsOneClassifier(LogisticRegression(C=1.0, tol=1e-8, class_weight="balanced")),
            False,
            1e-4,
        ),
    ],
    ids=["multinomial", "multinomial-weighted", "multinomial-f32", "ovr-weighted", "ovo-balanced"],
)
def test_fit_matches_single_node(
    client: Any, table: tuple[pd.DataFrame, Path], template: Any, weighted: bool, atol: float
) -> None:
    df, folder = table
    weight = "w" if weighted else None
    pre, labels, dtable = _distributed(client, folder, df, weight)
    classes = sorted(labels)
    mass = np.array([labels[c][1] for c in classes])
    inner = template if isinstance(template, LogisticRegression) else template.estimator
    blocks = encode(dtable, pre, classes, inner.dtype)
    fitted, info = fit_logistic(
        client, blocks, template, classes, mass, len(df), pre.n_features_out_
    )
    X = pre.transform(df)
    single = template.__class__(**template.get_params(deep=False))
    single.fit(X, df["label"].to_numpy(), sample_weight=df["w"].to_numpy() if weighted else None)
    # the round-trip count is a speed figure (bench_scale reports it against its target of
    # 10); it varies with the warm-start sample, drawn in the order workers return blocks
    # (12 to 19 seen here at tol=1e-8), so the test only catches a solver that stops
    # batching its passes (one trip per row block or per CG step of each problem)
    assert info.converged and info.round_trips <= 40, info
    assert list(fitted.classes_) == list(single.classes_) == ["ant", "bee", "cat", "dog"]
    if isinstance(template, LogisticRegression):
        np.testing.assert_allclose(fitted.coef_, single.coef_, atol=atol)
        np.testing.assert_allclose(fitted.intercept_, single.intercept_, atol=atol)
    else:
        for a, b in zip(fitted.estimators_, single.estimators_, strict=True):
            np.testing.assert_allclose(a.coef_, b.coef_, atol=atol)
            np.testing.assert_allclose(a.intercept_, b.intercept_, atol=atol)
    np.testing.assert_allclose(fitted.predict_proba(X), single.predict_proba(X), atol=atol)


def test_lbfgs_reaches_the_same_model(client: Any, table: tuple[pd.DataFrame, Path]) -> None:
    df, folder = table
    pre, labels, dtable = _distributed(client, folder, df)
    classes = sorted(labels)
    mass = np.array([labels[c][1] for c in classes])
    blocks = encode(dtable, pre, classes, "float64")
    template = LogisticRegression(tol=1e-6, max_iter=500)
    fitted, info = fit_logistic(
        client, blocks, template, classes, mass, len(df), pre.n_features_out_, solver="lbfgs"
    )
    X = pre.transform(df)
    single = LogisticRegression(tol=1e-8).fit(X, df["label"])
    assert info.converged
    # L-BFGS stops on the gradient only: the flat one-hot direction keeps ~1e-3 of slack
    # the one-hot block is nearly collinear with the intercept, so coefficients along that
    # flat direction are loosely determined at tol=1e-6; the model is its probabilities
    np.testing.assert_allclose(fitted.predict_proba(X), single.predict_proba(X), atol=1e-3)
