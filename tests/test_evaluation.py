"""polyclass.evaluation against scikit-learn on real fitted models and random data."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import polyclass.metrics as pm
from polyclass.evaluation import (
    _backend,
    coefficient_table,
    decimate_index,
    evaluate,
    permutation_importance,
    reliability_bins,
)


@cache
def fitted(name: str) -> tuple[Any, pd.DataFrame, NDArray[Any], NDArray[Any], NDArray[Any]]:
    """(pipeline, X_test, y_test, proba_test, classes) for a bundled sklearn dataset."""
    loader = {"wine": load_wine, "digits": load_digits, "cancer": load_breast_cancer}[name]
    bunch = loader(as_frame=True)
    X = bunch.frame.drop(columns=["target"])
    y = np.asarray(bunch.target_names)[bunch.target.to_numpy()]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.3, tol=1e-3))
    model.fit(X_tr, y_tr)
    return model, X_te, y_te, model.predict_proba(X_te), model.classes_


def _random_case(seed: int, n: int, k: int) -> tuple[NDArray[Any], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("name", ["wine", "digits"])
def test_multiclass_numbers_equal_sklearn(name: str) -> None:
    _, _, y, proba, classes = fitted(name)
    out = evaluate(y, proba, classes, n_bootstrap=200)
    pred = classes[proba.argmax(axis=1)]
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    rows = out["per_class"]
    np.testing.assert_allclose([row["precision"] for row in rows], p)
    np.testing.assert_allclose([row["recall"] for row in rows], r)
    np.testing.assert_allclose([row["f1"] for row in rows], f)
    np.testing.assert_allclose([row["support"] for row in rows], s)
    m = out["metrics"]
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"]["value"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["matthews_corrcoef"]["value"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["log_loss"]["value"] == pytest.approx(skm.log_loss(y, proba, labels=classes))
    assert m["f1_macro"]["value"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["f1_weighted"]["value"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    for avg in ("micro", "macro", "weighted"):
        ps, rs, fs, _ = skm.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert out["averages"][avg]["precision"] == pytest.approx(ps)
        assert out["averages"][avg]["recall"] == pytest.approx(rs)
        assert out["averages"][avg]["f1"] == pytest.approx(fs)
    assert m["roc_auc_ovr"]["value"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    )
    assert m["roc_auc_ovr_weighted"]["value"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes)
    )
    onehot = (y[:, None] == classes[None, :]).astype(int)
    for k, row in enumerate(rows):
        assert row["roc_auc"] == pytest.approx(skm.roc_auc_score(onehot[:, k], proba[:, k]))
        assert row["average_precision"] == pytest.approx(
            skm.average_precision_score(onehot[:, k], proba[:, k])
        )
    assert out["pr"]["micro"]["average_precision"] == pytest.approx(
        skm.average_precision_score(onehot, proba, average="micro")
    )
    micro_fpr, micro_tpr, _ = skm.roc_curve(onehot.ravel(), proba.ravel())
    assert out["roc"]["micro"]["auc"] == pytest.approx(skm.auc(micro_fpr, micro_tpr))
    cm = skm.confusion_matrix(y, pred, labels=classes)
    assert out["confusion_matrix"]["counts"] == cm.tolist()
    np.testing.assert_allclose(
        out["confusion_matrix"]["normalized"], cm / cm.sum(axis=1, keepdims=True)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_multiclass_per_class_and_auc_equal_sklearn(seed: int) -> None:
    y, proba = _random_case(seed, 300, 4)
    classes = np.arange(4)
    out = evaluate(y, proba, classes, n_bootstrap=0)
    pred = proba.argmax(axis=1)
    _, _, f, _ = skm.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    np.testing.assert_allclose([r["f1"] for r in out["per_class"]], f)
    assert out["metrics"]["roc_auc_ovr"]["value"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr")
    )
    assert out["metrics"]["accuracy"]["ci"] is None  # bootstrap off


def test_binary_auc_with_delong_interval_and_positive_class() -> None:
    _, _, y, proba, classes = fitted("cancer")
    out = evaluate(y, proba, classes)
    pos = classes[1]
    assert out["task"] == "binary" and out["positive_class"] == pos
    auc = skm.roc_auc_score(y == pos, proba[:, 1])
    m = out["metrics"]
    assert m["roc_auc"]["value"] == pytest.approx(auc)
    lo, hi = m["roc_auc"]["ci"]
    assert lo <= auc <= hi and m["roc_auc"]["ci_method"] == "delong"
    assert m["average_precision"]["value"] == pytest.approx(
        skm.average_precision_score(y == pos, proba[:, 1])
    )
    assert m["precision"]["value"] == pytest.approx(
        skm.precision_score(y, classes[proba.argmax(axis=1)], pos_label=pos)
    )
    assert len(out["roc"]["per_class"]) == 1 and out["roc"]["micro"] is None
    # the other class as positive: its own curves and precision
    flipped = evaluate(y, proba, classes, positive_class=classes[0], n_bootstrap=0)
    assert flipped["positive_class"] == classes[0]
    assert flipped["metrics"]["roc_auc"]["value"] == pytest.approx(
        skm.roc_auc_score(y == classes[0], proba[:, 0])
    )
    # a 1-D P(classes[1]) is accepted for binary problems
    one_d = evaluate(y, proba[:, 1], classes, n_bootstrap=0)
    assert one_d["metrics"]["roc_auc"]["value"] == pytest.approx(auc)


def test_bootstrap_intervals_bracket_estimates_and_are_reproducible() -> None:
    _, _, y, proba, classes = fitted("wine")
    a = evaluate(y, proba, classes, n_bootstrap=300, random_state=7)
    b = evaluate(y, proba, classes, n_bootstrap=300, random_state=7)
    for key in ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "matthews_corrcoef"):
        entry = a["metrics"][key]
        if entry["ci"] is None:
            # A perfect MCC on the wine test set: no rule widens it, a note says so.
            assert key == "matthews_corrcoef" and entry["value"] == 1.0
            assert any("no boundary-aware rule" in n for n in a["notes"])
            continue
        lo, hi = entry["ci"]
        assert lo < hi and lo <= entry["value"] <= hi, key
        assert entry["ci"] == b["metrics"][key]["ci"]
    assert a["averages"]["macro"]["f1_ci"] == a["metrics"]["f1_macro"]["ci"]
    for row in a["per_class"]:
        assert row["recall_ci"][0] <= row["recall"] <= row["recall_ci"][1]
        assert row["precision_ci"][0] <= row["precision"] <= row["precision_ci"][1]


def test_wilson_intervals_match_the_formula() -> None:
    y = np.array([0] * 8 + [1] * 2)
    proba = np.column_stack([np.r_[np.full(8, 0.9), 0.2, 0.7], np.r_[np.full(8, 0.1), 0.8, 0.3]])
    out = evaluate(y, proba, [0, 1], n_bootstrap=0)
    # class 1: one of two found; Wilson interval for 1/2 at 95%
    z = 1.959963984540054
    n, p = 2.0, 0.5
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert out["per_class"][1]["recall_ci"] == pytest.approx([centre - half, centre + half])


def test_string_labels_given_predictions_and_weights_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y_codes, proba = _random_case(3, 250, 3)
    classes = np.array(["cat", "dog", "emu"], dtype=object)
    y = classes[y_codes]
    y_pred = classes[rng.integers(0, 3, 250)]
    w = rng.uniform(0.5, 2.0, 250)
    out = evaluate(list(y), proba, list(classes), y_pred=y_pred, sample_weight=w, n_bootstrap=50)
    assert out["decision_rule"] == "given"
    assert out["metrics"]["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(y, y_pred, sample_weight=w)
    )
    _, _, f, _ = skm.precision_recall_fscore_support(
        y, y_pred, labels=classes, sample_weight=w, zero_division=0
    )
    np.testing.assert_allclose([r["f1"] for r in out["per_class"]], f)
    assert out["metrics"]["roc_auc_ovr_weighted"]["value"] is not None
    assert out["metrics"]["log_loss"]["value"] == pytest.approx(
        skm.log_loss(y, proba, labels=classes, sample_weight=w)
    )


def test_class_absent_from_y_true_is_reported_not_fatal() -> None:
    y, proba = _random_case(5, 120, 3)
    y = np.where(y == 2, 0, y)  # no row of class 2
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=100)
    row = out["per_class"][2]
    assert row["support"] == 0 and row["roc_auc"] is None and row["recall_ci"] is None
    assert out["metrics"]["roc_auc_ovr"]["value"] is not None
    json.dumps(out, allow_nan=False)


def test_result_is_plain_json() -> None:
    _, _, y, proba, classes = fitted("digits")
    out = evaluate(y, proba, classes)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out


def test_curves_are_decimated_to_the_limit_and_keep_their_ends() -> None:
    y, proba = _random_case(11, 5000, 3)
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=0, max_curve_points=150)
    for curve in out["roc"]["per_class"]:
        assert len(curve["fpr"]) <= 150
        assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == 1.0
        # the AUC of the thinned curve stays close to the exact one
        assert skm.auc(curve["fpr"], curve["tpr"]) == pytest.approx(curve["auc"], abs=2e-3)
    for curve in out["threshold_tradeoff"]:
        assert 0 < len(curve["thresholds"]) <= 150
        assert len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"])
    assert len(out["roc"]["macro"]["fpr"]) <= 150
    assert len(out["pr"]["micro"]["recall"]) <= 150


def test_decimate_index_small_and_flat_inputs() -> None:
    x = np.linspace(0, 1, 10)
    assert decimate_index(x, x, max_points=400).tolist() == list(range(10))
    flat = np.zeros(1000)
    idx = decimate_index(flat, flat, max_points=50)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) <= 50


def test_reliability_bins_equal_sklearn_calibration_curve() -> None:
    rng = np.random.default_rng(0)
    prob = rng.uniform(size=2000)
    y = rng.uniform(size=2000) < prob**1.3
    out = reliability_bins(y, prob, n_bins=10)
    frac, mean = calibration_curve(y, prob, n_bins=10)
    np.testing.assert_allclose([b["fraction_positive"] for b in out["bins"]], frac)
    np.testing.assert_allclose([b["mean_predicted"] for b in out["bins"]], mean)
    counts = np.array([b["count"] for b in out["bins"]])
    gaps = np.abs(frac - mean)
    assert out["ece"] == pytest.approx(float((counts / counts.sum() * gaps).sum()))
    assert out["mce"] == pytest.approx(float(gaps.max()))


def test_calibration_modes() -> None:
    _, _, y, proba, classes = fitted("wine")
    multi = evaluate(y, proba, classes, n_bootstrap=0)["calibration"]
    assert multi["mode"] == "top_label" and len(multi["per_class"]) == 3
    _, _, yb, pb, cb = fitted("cancer")
    binary = evaluate(yb, pb, cb, n_bootstrap=0)["calibration"]
    assert binary["mode"] == "positive_class" and binary["class"] == str(cb[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": ["a", "zebra"], "proba": [[0.5, 0.5], [0.5, 0.5]]}, "zebra"),
        ({"y_true": ["a", "b"], "proba": [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]}, "shape"),
        ({"y_true": ["a", "b"], "proba": [[1.5, -0.5], [0.5, 0.5]]}, r"\[0, 1\]"),
        ({"y_true": ["a", "b"], "proba": [[0.5, 0.5]] * 2, "positive_class": "c"}, "positive"),
        ({"y_true": ["a", "b"], "proba": [[0.5, 0.5]] * 2, "confidence_level": 1.5}, "confid"),
        ({"y_true": ["a", "b"], "proba": [[0.5, 0.5]] * 2, "n_bootstrap": -1}, "n_bootstrap"),
        ({"y_true": ["a", "b"], "proba": [[0.5, 0.5]] * 2, "sample_weight": [1.0]}, "weight"),
    ],
)
def test_bad_input_names_the_problem(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate(classes=["a", "b"], **kwargs)


def test_positive_class_rejected_for_multiclass() -> None:
    y, proba = _random_case(0, 30, 3)
    with pytest.raises(ValueError, match="binary"):
        evaluate(y, proba, [0, 1, 2], positive_class=1)


def test_every_number_comes_from_polyclass_metrics() -> None:
    from polyclass import metrics as pm

    for name in _backend.__all__:
        assert getattr(_backend, name) is getattr(pm, name), name


# --- importance -------------------------------------------------------------------


def test_permutation_importance_finds_the_signal_column() -> None:
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "blue"], size=n),
        }
    )
    y = np.where(X["signal"] > 0, "yes", "no")

    def predict_proba(df: pd.DataFrame) -> NDArray[np.float64]:
        p_yes = 1.0 / (1.0 + np.exp(-4.0 * df["signal"].to_numpy()))
        return np.column_stack([1.0 - p_yes, p_yes])

    out = permutation_importance(predict_proba, X, y, "log_loss", n_repeats=4, random_state=1)
    assert out["metric"] == "neg_log_loss"
    assert out["features"][0]["feature"] == "signal"
    by_name = {f["feature"]: f for f in out["features"]}
    assert by_name["signal"]["importance_mean"] > 0.3
    assert by_name["noise"]["importance_mean"] == 0.0
    assert len(by_name["colour"]["importances"]) == 4
    acc = permutation_importance(predict_proba, X, y, "accuracy", n_repeats=2, max_samples=100)
    assert acc["n_samples"] == 100 and acc["baseline"] > 0.9
    custom = permutation_importance(
        predict_proba, X, y, lambda t, p: float((p.argmax(1) == t).mean()), n_repeats=2
    )
    assert custom["features"][0]["feature"] == "signal"


def test_permutation_importance_on_a_real_pipeline_explains_original_columns() -> None:
    model, X, y, _, classes = fitted("wine")
    out = permutation_importance(
        model.predict_proba, X, y, "f1_macro", n_repeats=2, classes=classes
    )
    assert {f["feature"] for f in out["features"]} == set(X.columns)
    assert out["baseline"] == pytest.approx(skm.f1_score(y, model.predict(X), average="macro"))
    json.dumps(out, allow_nan=False)


def test_permutation_importance_is_the_same_in_batches_of_any_size(monkeypatch) -> None:
    from polyclass.evaluation import _importance

    model, X, y, _, classes = fitted("wine")
    calls: list[int] = []

    def counted(df: pd.DataFrame) -> Any:
        calls.append(len(df))
        return model.predict_proba(df)

    batched = permutation_importance(counted, X, y, n_repeats=3, classes=classes)
    assert len(calls) < 1 + X.shape[1] * 3  # fewer calls than shuffles
    monkeypatch.setattr(_importance, "BATCH_CELLS", 1)  # one shuffled copy per call
    calls.clear()
    one_by_one = permutation_importance(counted, X, y, n_repeats=3, classes=classes)
    assert len(calls) == 1 + X.shape[1] * 3
    # the same shuffles: the same drops (up to the last bits of a larger matrix product)
    one = {f["feature"]: f["importances"] for f in one_by_one["features"]}
    for f in batched["features"]:
        np.testing.assert_allclose(f["importances"], one[f["feature"]], rtol=1e-9, atol=1e-12)


def test_permutation_importance_bad_input() -> None:
    X = pd.DataFrame({"a": [1, 2, 3, 4]})
    y = np.array([0, 1, 0, 1])

    def fn(df: pd.DataFrame) -> NDArray[np.float64]:
        return np.full((len(df), 2), 0.5)

    with pytest.raises(TypeError, match="DataFrame"):
        permutation_importance(fn, X.to_numpy(), y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metric"):
        permutation_importance(fn, X, y, "nope")
    with pytest.raises(ValueError, match="n_repeats"):
        permutation_importance(fn, X, y, n_repeats=0)
    with pytest.raises(ValueError, match="not in classes"):
        permutation_importance(fn, X, y, classes=[0, 2])
    with pytest.raises(ValueError, match=r"repeated column names \['a'\]"):
        permutation_importance(fn, pd.concat([X, X], axis=1), y)


def test_coefficient_tables() -> None:
    model, X, _, _, classes = fitted("wine")
    lr = model[-1]
    out = coefficient_table(lr.coef_, list(X.columns), classes, intercept=lr.intercept_)
    assert out["kind"] == "multinomial" and len(out["rows"]) == 3
    np.testing.assert_allclose(out["rows"][1]["coef"], lr.coef_[1])
    np.testing.assert_allclose(out["rows"][1]["odds_ratio"], np.exp(lr.coef_[1]))
    assert out["rows"][2]["intercept"] == pytest.approx(lr.intercept_[2])
    binary = coefficient_table([[0.5, -1.0]], ["age", "dose"], ["no", "yes"])
    assert binary["kind"] == "binary" and binary["rows"][0]["label"] == "yes"
    ovo = coefficient_table(np.ones((3, 2)), ["a", "b"], ["x", "y", "z"], kind="ovo")
    assert [r["label"] for r in ovo["rows"]] == ["x vs y", "x vs z", "y vs z"]
    with pytest.raises(ValueError, match="feature names"):
        coefficient_table(np.ones((3, 2)), ["a"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="kind"):
        coefficient_table(np.ones((3, 2)), ["a", "b"], ["x", "y", "z"], kind="softmax")
    json.dumps(out, allow_nan=False)


def test_every_reported_interval_has_positive_width_for_a_perfect_classifier() -> None:
    # issue #10: a perfect classifier on 30-69 rows showed 1.000-1.000 everywhere.
    y = np.array([0, 1, 2] * 12)
    proba = np.eye(3)[y] * 0.9 + 0.1 / 3
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=300)
    for name, m in out["metrics"].items():
        if m["ci"] is not None:
            assert m["ci"][0] < m["ci"][1], name
    assert out["metrics"]["accuracy"]["ci_method"] == "wilson"
    # MCC has no boundary rule: no interval, and a note that says why.
    assert out["metrics"]["matthews_corrcoef"]["ci"] is None
    assert any("no boundary-aware rule" in n for n in out["notes"])
    for row in out["per_class"]:
        assert row["f1_ci"][0] < row["f1"] == row["f1_ci"][1] == 1.0


def test_per_class_f1_and_ranking_metrics_get_intervals() -> None:
    y, proba = _random_case(8, 150, 3)
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=300)
    for row in out["per_class"]:
        assert row["f1_ci"][0] < row["f1"] < row["f1_ci"][1]
    for key in ("roc_auc_ovr", "roc_auc_ovr_weighted", "average_precision"):
        m = out["metrics"][key]
        assert m["ci"][0] < m["value"] < m["ci"][1] and m["ci_method"] == "bootstrap", key
    expected = pm.bootstrap_ci(
        "roc_auc_score", y, proba, multi_class="ovr", n_resamples=300, random_state=0
    )
    assert out["metrics"]["roc_auc_ovr"]["ci"] == pytest.approx([expected.low, expected.high])
    binary = evaluate(y == 1, proba[:, 1], [False, True], n_bootstrap=300)
    m = binary["metrics"]
    assert m["average_precision"]["ci"][0] < m["average_precision"]["value"]
    assert m["f1"]["ci"][0] < m["f1"]["value"] < m["f1"]["ci"][1]


def test_undefined_values_are_none_with_a_reason_not_zero() -> None:
    # issue #10: a class never predicted showed precision 0.000.
    y, proba = _random_case(9, 90, 3)
    proba[:, 2] = 0.0  # class 2 is never the most probable
    proba /= proba.sum(axis=1, keepdims=True)
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=0)
    row = out["per_class"][2]
    assert row["precision"] is None and row["recall"] is not None
    assert row["undefined"] == {"precision": "undefined: the class was never predicted"}
    assert any("Class '2': precision is undefined" in n for n in out["notes"])
    assert out["per_class"][0]["undefined"] == {}


def test_ranking_bootstrap_is_bounded_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each one-vs-rest resample costs rows x classes: large tables get a note, not minutes.
    from polyclass.evaluation import _uncertainty

    y, proba = _random_case(10, 150, 3)
    monkeypatch.setattr(_uncertainty, "RANKING_BUDGET", 150 * 3 * 250)
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=400)
    assert out["metrics"]["roc_auc_ovr"]["ci"] is not None  # 250 resamples fit
    monkeypatch.setattr(_uncertainty, "RANKING_BUDGET", 150 * 3 * 100)
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=400)
    assert out["metrics"]["roc_auc_ovr"]["ci"] is None
    assert out["metrics"]["accuracy"]["ci"] is not None
    assert any("too many to resample" in n for n in out["notes"])


def test_per_class_f1_bootstrap_is_bounded_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from polyclass.evaluation import _uncertainty

    y, proba = _random_case(11, 90, 3)
    monkeypatch.setattr(_uncertainty, "PER_CLASS_BUDGET", 10)
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=200)
    assert all(row["f1_ci"] is None for row in out["per_class"])
    assert out["metrics"]["f1_macro"]["ci"] is not None
    assert any("No per-class F1 intervals" in n for n in out["notes"])


def test_float32_probabilities_are_accepted_as_a_float32_model_gives_them() -> None:
    """A float32 model's rows sum to one within float32 precision only (the final model of
    a table above 500,000 rows); evaluate scores them like their float64 renormalisation."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2000, 7)).astype(np.float32)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(proba.astype(np.float64).sum(axis=1) - 1).max() > 3e-8  # what broke it
    y = rng.integers(0, 7, 2000)
    got = evaluate(y, proba, np.arange(7), n_bootstrap=0)["metrics"]["log_loss"]["value"]
    wide = proba.astype(np.float64)
    assert got == pytest.approx(skm.log_loss(y, wide / wide.sum(axis=1, keepdims=True)))
