"""Families compared in the same folds: the leaderboard, pruning, skipped families, refit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import partial_dependence as sk_partial_dependence
from typer.testing import CliRunner

import polyclass
from polyclass.cli import app
from polyclass.datasets import penguins_path
from polyclass.evaluation import partial_dependence
from polyclass.families import FAMILIES
from polyclass.pipeline import ConfigError, TrainConfig, train

QUICK = {
    "C": [1.0],
    "class_weight": ["none"],
    "strategies": ["multinomial", "ovr"],
    "cv": 3,
    "n_bootstrap": 50,
    "register": False,
}


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> polyclass.pipeline.TrainResult:
    out = tmp_path_factory.mktemp("lb") / "out"
    return train(
        data=penguins_path(), target="species", out=out, families="linear,boosting", **QUICK
    )


def test_every_family_is_scored_on_the_same_folds(compared):
    board = compared.leaderboard
    rows = {r["family"]: r for r in board["families"]}
    assert set(rows) == {"linear", "boosting"}
    assert all(r["n_folds"] == 3 and len(r["fold_scores"]) == 3 for r in rows.values())
    # the chosen family has the best mean, and the model is of that family
    best = max(rows.values(), key=lambda r: r["cv_mean"])
    assert board["chosen"] == best["family"] == compared.model.family
    assert rows[board["chosen"]]["status"] == "chosen"
    # paired difference: the fold-by-fold difference to the chosen family's scores
    other = next(r for r in rows.values() if r["status"] != "chosen")
    chosen = rows[board["chosen"]]
    np.testing.assert_allclose(
        other["difference"], np.mean(np.subtract(other["fold_scores"], chosen["fold_scores"]))
    )
    lo, hi = chosen["cv_interval"]
    assert 0 <= lo <= chosen["cv_mean"] <= hi <= 1
    assert all(r["size_bytes"] > 0 and r["fit_seconds"] > 0 for r in rows.values())
    curve = chosen["calibration"]
    assert sum(curve["count"]) == compared.tuning["rows"]  # every tuned row, out of fold


def test_metrics_json_and_report_carry_the_leaderboard(compared):
    doc = json.loads(compared.metrics_path.read_text())
    assert doc["leaderboard"]["chosen"] == compared.leaderboard["chosen"]
    assert doc["leaderboard"]["search"]["n_candidates"] == 2 + 2  # linear, boosting's own
    html = compared.report_path.read_text()
    assert 'id="families"' in html and "Calibration per family" in html
    assert 'id="dependence"' in html and "Partial dependence on" in html
    pdp = doc["partial_dependence"]["features"]
    assert pdp and pdp[0]["feature"] == doc["importance"]["features"][0]["feature"]


def test_a_loaded_model_of_the_chosen_family_predicts_the_same(compared):
    frame = pd.read_csv(penguins_path()).dropna(subset=["species"])
    loaded = polyclass.load(compared.artifact_path)
    assert loaded.family == compared.model.family
    np.testing.assert_allclose(loaded.predict_proba(frame), compared.model.predict_proba(frame))


def test_partial_dependence_matches_scikit_learn_brute_force():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = np.where(X["a"] + 0.5 * X["b"] > 0, "yes", "no")
    est = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    ours = partial_dependence(est.predict_proba, X, ["a"], est.classes_, max_samples=300)
    grid = np.asarray(ours["features"][0]["grid"])
    theirs = sk_partial_dependence(
        est, X, ["a"], method="brute", kind="average", custom_values={"a": grid}
    )
    # scikit-learn reports the positive class of a binary problem
    got = np.asarray(ours["features"][0]["mean_proba"])[:, 1]
    np.testing.assert_allclose(got, theirs["average"][0], rtol=1e-10)


def test_halving_prunes_and_a_time_budget_stops_the_search(tmp_path):
    result = train(
        data=penguins_path(),
        target="species",
        out=tmp_path / "a",
        families="linear",
        **{**QUICK, "C": [0.01, 0.1, 1.0, 10.0], "strategies": ["multinomial", "ovr", "ovo"]},
    )
    assert result.tuning["n_pruned"] > 0 and result.tuning["n_fits"] < 12 * 3
    # a tiny budget: the first chunk of fits runs, the rest is reported unfinished
    result = train(
        data=penguins_path(),
        target="species",
        out=tmp_path / "b",
        families="linear",
        time_budget=1e-6,
        n_jobs=1,
        **{**QUICK, "C": [0.01, 0.1, 1.0, 10.0]},
    )
    doc = json.loads(result.metrics_path.read_text())
    unfinished = [c for c in doc["strategies"]["candidates"] if c["pruned"]]
    assert unfinished and "time budget" in unfinished[0]["pruned"]
    assert result.model is not None


def test_refit_all_fits_every_row_and_says_so(tmp_path):
    result = train(
        data=penguins_path(),
        target="species",
        out=tmp_path,
        families="linear",
        refit_all=True,
        **QUICK,
    )
    n_rows = len(pd.read_csv(penguins_path()).dropna(subset=["species"]))
    assert result.refit is not None and result.refit["rows"] == n_rows
    assert result.model.info["refit_all"]["rows"] == n_rows
    assert "Refitted on every row" in result.report_path.read_text()
    loaded = polyclass.load(result.artifact_path)
    assert loaded.reference is not None and loaded.reference[0]["hashed_from"] == n_rows


def test_unknown_family_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="polyclass knows linear"):
        TrainConfig(data="x.csv", target="y", families="linear,svm2")
    result = CliRunner().invoke(
        app, ["train", str(penguins_path()), "-t", "species", "--families", "gbm", "-o", "x"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: families has unknown value(s) ['gbm']")


def test_a_missing_library_names_the_extra_or_is_skipped(tmp_path, monkeypatch):
    boosting = FAMILIES["boosting"]
    monkeypatch.setattr(boosting, "requires", ("no_such_module_xyz",))
    monkeypatch.setattr(boosting, "extra", "boosting")
    with pytest.raises(ConfigError, match=r"polyclass\[boosting\]"):
        TrainConfig(data="x.csv", target="y", families="boosting")
    # not asked for by name: the default set skips it and says why
    monkeypatch.setattr(
        "polyclass.pipeline._search.default_families", lambda n: ["linear", "boosting"]
    )
    result = train(data=penguins_path(), target="species", out=tmp_path, **QUICK)
    skipped = [r for r in result.leaderboard["families"] if r["status"] == "skipped"]
    assert skipped == [
        {
            "family": "boosting",
            "status": "skipped",
            "reason": "no_such_module_xyz is not installed "
            "(pip install 'polyclass[boosting]' to include it)",
        }
    ]


def test_a_family_that_cannot_fit_is_skipped_with_its_reason(tmp_path, monkeypatch):
    forest = FAMILIES["forest"]
    real_build = forest.build

    def build(params, *, random_state, n_jobs=1):
        est = real_build(params, random_state=random_state, n_jobs=n_jobs)
        est.set_params(max_depth=-1)  # scikit-learn refuses it when fitting
        return est

    monkeypatch.setattr(forest, "build", build)
    result = train(
        data=penguins_path(), target="species", out=tmp_path, families="forest", n_jobs=1, **QUICK
    )
    rows = {r["family"]: r for r in result.leaderboard["families"]}
    assert rows["forest"]["status"] == "skipped"
    assert rows["forest"]["reason"].startswith("could not be fitted on the folds: Invalid")
    assert "max_depth" in rows["forest"]["reason"]
    assert result.model.family == "linear"
    assert "skipped" in result.report_path.read_text()


def test_balanced_class_weight_is_searched_only_when_the_classes_are_not():
    from polyclass.pipeline._search import class_weights_to_search

    even = np.repeat(["a", "b", "c"], [50, 52, 48])
    kept, note = class_weights_to_search(["none", "balanced"], even)
    assert kept == ["none"] and "1.08x" in note
    uneven = np.repeat(["a", "b"], [50, 60])
    assert class_weights_to_search(["none", "balanced"], uneven) == (["none", "balanced"], None)
    # asked for alone, it is searched whatever the balance
    assert class_weights_to_search(["balanced"], even) == (["balanced"], None)


def _rung(family: str, scores: list[float], **settings: object):
    from polyclass.pipeline._search import Candidate
    from polyclass.pipeline._tune import CandidateResult, FoldScore

    folds = [FoldScore(score=s) for s in scores] + [None] * 3
    return CandidateResult(Candidate(family, dict(settings)), folds)


def test_a_family_far_behind_the_leader_is_pruned_with_its_scores():
    from polyclass.pipeline._scoring import named_scorer
    from polyclass.pipeline._tune import _survivors, noise_margin

    accuracy = named_scorer("accuracy", 3)
    labels = np.repeat(["a", "b", "c"], 100)  # the 300 test rows of the first rung
    # twice the bound on the paired difference's standard error: (e1 + e2) / n
    assert noise_margin(accuracy, 0.95, 0.85, labels) == pytest.approx(2 * np.sqrt(0.2 / 300))
    assert noise_margin(named_scorer("log_loss", 3), 0.3, 0.4, labels) is None
    # a macro average rests on the harmonic mean of the class sizes
    uneven = np.repeat(["a", "b"], [270, 30])
    macro = noise_margin(named_scorer("f1_macro", 2), 0.9, 0.9, uneven)
    assert macro == pytest.approx(2 * np.sqrt(0.2 / (4 / (1 / 270 + 1 / 30))))
    results = [
        _rung("linear", [0.95, 0.95], C=1.0),
        _rung("linear", [0.94, 0.94], C=0.1),
        _rung("linear", [0.93, 0.94], C=0.01),
        _rung("forest", [0.93, 0.92]),  # 0.025 behind, within 2 x sqrt(0.125 / 300)
        _rung("mlp", [0.84, 0.86]),  # 0.10 behind
    ]
    everyone = set(range(len(results)))
    keep, dropped = _survivors(results, everyone, accuracy, labels, halve=True)
    assert keep == {0, 1, 3}  # the best third, and forest's best
    assert set(dropped) == {"mlp"}
    assert "0.8500" in dropped["mlp"] and "linear's 0.9500" in dropped["mlp"]
    # after the first fold only whole families stop
    keep, dropped = _survivors(results, everyone, accuracy, labels, halve=False)
    assert keep == {0, 1, 2, 3} and set(dropped) == {"mlp"}


def test_advance_takes_each_close_familys_best_and_says_why_others_stop():
    from polyclass.pipeline._scoring import named_scorer
    from polyclass.pipeline._tune import advance

    accuracy = named_scorer("accuracy", 3)
    labels = np.repeat(["a", "b", "c"], 100)

    def done(family, scores, **settings):
        result = _rung(family, scores, **settings)
        result.folds = result.folds[: len(scores)]  # scored on every fold of the screen
        return result

    results = [
        done("linear", [0.95, 0.95], C=1.0),
        done("linear", [0.90, 0.90], C=0.1),
        done("forest", [0.93, 0.92]),  # within the noise of linear's best: goes on
        done("mlp", [0.84, 0.86]),  # 0.10 behind: stops, with its scores
        _rung("svm", [0.80]),  # pruned before the screen's last fold: not a candidate
    ]
    chosen, dropped = advance(results, accuracy, labels)
    assert chosen == [0, 2]
    assert set(dropped) == {"mlp"} and "trails linear's 0.9500" in dropped["mlp"]


def test_a_large_table_screens_every_candidate_on_a_sample_first(tmp_path, monkeypatch):
    from sklearn.datasets import make_classification

    from polyclass.pipeline import _steps

    X, y = make_classification(
        n_samples=2000, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["label"] = np.asarray(["a", "b", "c"])[y]
    frame.to_csv(tmp_path / "big.csv", index=False)
    monkeypatch.setattr(_steps, "SCREEN_ROWS", 300)
    monkeypatch.setattr(_steps, "SCREEN_MIN_ROWS", 900)
    result = train(
        data=tmp_path / "big.csv",
        target="label",
        out=tmp_path / "out",
        families="linear,boosting",
        **QUICK,
    )
    screen, tuned = result.tuning["screen"], result.tuning["rows"]
    assert tuned == 1200 and abs(screen["rows"] - 300) <= 3
    candidates = json.loads(result.metrics_path.read_text())["strategies"]["candidates"]
    advanced = [c for c in candidates if c["rows"] == tuned]
    stopped = [c for c in candidates if c["rows"] == screen["rows"]]
    assert len(advanced) == len(screen["advanced"]) >= 1 and len(stopped) == 4 - len(advanced)
    # one candidate per family goes on; the others keep their screen's scores and say why
    assert len({c["family"] for c in advanced}) == len(advanced)
    assert all(c["pruned"].startswith("screened out on 300 rows") for c in stopped)
    later = sum(len(c["fold_scores"]) for c in advanced)
    assert result.tuning["n_fits"] == screen["n_fits"] + later
    # the winner and the leaderboard are paired on every tuning row, not the screen's
    chosen = next(r for r in result.leaderboard["families"] if r["status"] == "chosen")
    assert sum(chosen["calibration"]["count"]) == tuned * chosen["n_folds"] // 3  # 400 a fold
    assert any(all(c.get(k) == v for k, v in result.best_params.items()) for c in advanced)
    # a family stopped after the screen gives the reason of its candidate that went on
    for row in result.leaderboard["families"]:
        if row["status"] == "skipped":
            went_on = [c for c in advanced if c["family"] == row["family"]]
            assert row["reason"] == (went_on[0]["pruned"] if went_on else row["reason"])
            assert not went_on or not row["reason"].startswith("screened out")


def test_halving_measures_the_stored_size_on_the_second_fold():
    """Weak families stop after the first fold, before the size is measured (a boosting
    model's export costs about its fit); every candidate that goes on has its size."""
    from polyclass.data import infer_schema
    from polyclass.pipeline._scoring import named_scorer
    from polyclass.pipeline._search import family_candidates, linear_candidates
    from polyclass.pipeline._tune import cross_validate

    frame = pd.read_csv(penguins_path())
    frame = frame.dropna(subset=["species"]).reset_index(drop=True)
    schema = infer_schema(frame, "species")
    y = frame["species"].astype(str).to_numpy()
    candidates = linear_candidates(
        ["multinomial"], [0.1, 1.0], [0.0], ["none"], n_classes=3, search="grid", n_trials=0, seed=0
    ) + family_candidates(["boosting"], len(y), 6, 3)
    results = cross_validate(
        frame,
        y,
        schema,
        candidates,
        named_scorer("accuracy", 3),
        classes=np.unique(y),
        positive_class=None,
        n_splits=3,
        seed=0,
        halving=True,
    )
    assert all(r.folds[0] is not None and r.folds[0].size_bytes is None for r in results)
    went_on = [r for r in results if r.folds[1] is not None]
    assert went_on and all(r.folds[1].size_bytes > 0 for r in went_on)
    # a time budget may stop the search after the first fold: the size is measured there
    budgeted = cross_validate(
        frame,
        y,
        schema,
        candidates,
        named_scorer("accuracy", 3),
        classes=np.unique(y),
        positive_class=None,
        n_splits=3,
        seed=0,
        halving=True,
        time_budget=1e-6,
    )
    scored = [r for r in budgeted if r.folds[0] is not None]
    assert scored and all(r.folds[0].size_bytes > 0 for r in scored)


def test_later_rungs_run_the_slowest_candidates_first():
    from polyclass.pipeline._search import Candidate
    from polyclass.pipeline._tune import CandidateResult, FoldScore, _slow_first

    def result(family: str, seconds: list[float], **settings: object) -> CandidateResult:
        folds = [FoldScore(score=0.9, fit_seconds=s) for s in seconds] + [None] * 2
        return CandidateResult(Candidate(family, dict(settings)), folds)

    fresh = [
        result("linear", [], strategy="multinomial"),
        result("linear", [], strategy="ovo"),
        result("forest", []),
    ]
    # before any fold: linear last, one-vs-one before multinomial
    assert _slow_first([(0, 0), (1, 0), (2, 0)], fresh) == [(2, 0), (1, 0), (0, 0)]
    measured = [
        result("linear", [0.01, 0.02]),
        result("svm", [0.5, 0.7]),
        result("forest", [0.3, 0.3]),
    ]
    tasks = [(c, f) for f in (2, 3) for c in range(3)]
    assert _slow_first(tasks, measured) == [(1, 2), (1, 3), (2, 2), (2, 3), (0, 2), (0, 3)]
