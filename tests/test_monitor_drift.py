"""Drift statistics against SciPy on the same binned data; PSI by hand; false alarms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from polyclass.monitor import CategoricalReference, NumericReference, Reference, compute_reference
from polyclass.monitor._binning import Binner, quantile_edges
from polyclass.monitor._config import ColumnRule, MonitorConfig
from polyclass.monitor._drift import (
    count_categorical,
    count_numeric,
    feature_drift,
    psi_groups,
    summarize_drift,
)
from polyclass.monitor._stats import (
    chisquare_from_counts,
    jensenshannon_from_counts,
    ks_from_counts,
    psi,
    wasserstein_from_bins,
)

GENERATORS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(0, 2, size=n),
    "integers": lambda rng, n: rng.integers(0, 6, size=n).astype(float),
    "cauchy": lambda rng, n: rng.standard_cauchy(n),
    "offset": lambda rng, n: 1e9 + rng.normal(size=n) * 1e-3,
}


@pytest.mark.parametrize("gen", GENERATORS)
def test_binner_equals_searchsorted(gen):
    rng = np.random.default_rng(0)
    edges = quantile_edges(GENERATORS[gen](rng, 5000), 100)
    x = np.concatenate(
        [
            GENERATORS[gen](rng, 50_000),
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            [-1e300, 1e300],
        ]
    )
    np.testing.assert_array_equal(Binner(edges)(x), np.searchsorted(edges, x, side="left"))


def _quantized(ref: NumericReference, x: np.ndarray) -> np.ndarray:
    return np.searchsorted(ref.edges, x, side="left")


@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_ks_matches_scipy_on_binned_samples(shift):
    rng = np.random.default_rng(1)
    raw_ref = rng.normal(size=3000)
    ref = NumericReference.from_values("x", raw_ref)
    cur = rng.normal(shift, size=800)
    d, p = ks_from_counts(ref.counts, count_numeric(ref, cur).counts[0])
    expected = stats.ks_2samp(_quantized(ref, raw_ref), _quantized(ref, cur), method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    # binned D never exceeds the raw-data D, and with 100 bins is close to it
    raw = stats.ks_2samp(raw_ref, cur).statistic
    assert d <= raw + 1e-12
    assert raw - d < 0.02


def test_chisquare_matches_scipy():
    ref_counts = np.array([300, 200, 100, 0])
    cur_counts = np.array([50, 60, 30, 5])
    stat, p = chisquare_from_counts(ref_counts, cur_counts)
    table = np.vstack([ref_counts, cur_counts])[:, :4]
    ct = stats.chi2_contingency(table, correction=False)
    assert stat == pytest.approx(ct.statistic, rel=1e-12)
    assert p == pytest.approx(ct.pvalue, rel=1e-9)
    expected = np.outer(table.sum(1), table.sum(0)) / table.sum()
    direct = stats.chisquare(table.ravel(), expected.ravel(), ddof=table.size - 1 - 3)
    assert stat == pytest.approx(direct.statistic, rel=1e-12)
    assert p == pytest.approx(direct.pvalue, rel=1e-9)


def test_jensenshannon_and_wasserstein_match_scipy():
    rng = np.random.default_rng(2)
    r, c = rng.integers(0, 50, 20), rng.integers(0, 50, 20)
    r[3] = 0
    assert jensenshannon_from_counts(r, c) == pytest.approx(
        jensenshannon(r / r.sum(), c / c.sum()), rel=1e-12
    )
    rm, cm = np.sort(rng.normal(size=20)), np.sort(rng.normal(0.5, size=20))
    assert wasserstein_from_bins(rm, r, cm, c) == pytest.approx(
        stats.wasserstein_distance(rm[r > 0], cm[c > 0], r[r > 0], c[c > 0]), rel=1e-12
    )


def test_wasserstein_of_feature_uses_bin_means_of_each_side():
    rng = np.random.default_rng(3)
    raw_ref = rng.normal(size=4000)
    ref = NumericReference.from_values("x", raw_ref)
    cur = rng.normal(2.0, 1.0, size=3000)
    counts = count_numeric(ref, cur)
    drift = feature_drift(ref, counts)
    c = counts.counts[0]
    cm = np.where(c > 0, counts.sums[0] / np.maximum(c, 1), np.nan)
    expected = stats.wasserstein_distance(
        ref.means[ref.counts > 0], cm[c > 0], ref.counts[ref.counts > 0], c[c > 0]
    )
    assert drift.stats["wasserstein"] == pytest.approx(expected, rel=1e-12)
    # close to the raw-data distance (each side's values collapsed to bin means)
    assert drift.stats["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(raw_ref, cur), rel=0.05
    )


def test_psi_matches_direct_decile_computation():
    rng = np.random.default_rng(4)
    raw_ref = rng.gamma(2.0, size=5000)
    ref = NumericReference.from_values("x", raw_ref)
    cur = rng.gamma(2.5, size=2000)
    drift = feature_drift(ref, count_numeric(ref, cur))
    # direct: decile edges of the reference, right-closed bins, eps-floored proportions
    grp = psi_groups(ref.counts)
    starts = np.flatnonzero(np.diff(grp)) + 1
    edges = ref.edges[starts - 1]
    r = np.bincount(np.searchsorted(edges, raw_ref, side="left"), minlength=edges.size + 1)
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=edges.size + 1)
    rp, cp = np.maximum(r / r.sum(), 1e-4), np.maximum(c / c.sum(), 1e-4)
    assert drift.stats["psi"] == pytest.approx(np.sum((cp - rp) * np.log(cp / rp)), rel=1e-12)
    assert np.allclose(r / r.sum(), 0.1, atol=0.002)  # they are deciles
    assert psi([50, 50], [60, 40]) == pytest.approx(0.1 * np.log(1.2) - 0.1 * np.log(0.8))


def test_categorical_counts_missing_and_unseen():
    ref = CategoricalReference.from_values("c", ["a", "b", "b", None, 1.5, float("nan")])
    assert ref.categories == ("1.5", "a", "b") and ref.missing == 2
    counts = count_categorical(ref, np.array(["b", "z", None, "a"], dtype=object))
    assert counts.counts[0].tolist() == [0, 1, 1, 1] and counts.missing.tolist() == [1]
    import pyarrow as pa

    flags = CategoricalReference.from_values("f", [True, False, True], kind="boolean")
    got = count_categorical(flags, pa.array([True, None, True], pa.bool_()))
    assert flags.categories == ("False", "True")
    assert got.counts[0].tolist() == [0, 2, 0] and got.missing.tolist() == [1]


def test_numeric_missing_and_windows_add_up():
    rng = np.random.default_rng(5)
    ref = NumericReference.from_values("x", rng.normal(size=1000))
    x = rng.normal(size=500)
    x[::7] = np.nan
    x[3] = np.inf
    groups = rng.integers(0, 4, size=500)
    per = count_numeric(ref, x, groups, 4)
    whole = count_numeric(ref, x)
    np.testing.assert_array_equal(per.total().counts, whole.counts)
    assert per.missing.sum() == whole.missing[0] == 73
    np.testing.assert_allclose(per.total().sums, whole.sums)


def test_numeric_input_logged_as_text_counts_its_numbers():
    # segments of a version that read the input as a category make the column text
    import pyarrow as pa

    rng = np.random.default_rng(6)
    ref = NumericReference.from_values("x", rng.normal(size=1000))
    x = rng.normal(size=300)
    text = pa.chunked_array(
        [[str(v) for v in x[:150].tolist()], [*map(str, x[150:299].tolist()), "n/a"]]
    )
    numbers = np.append(x[:299], np.nan)
    got, expected = count_numeric(ref, text), count_numeric(ref, numbers)
    np.testing.assert_array_equal(got.counts, expected.counts)
    assert got.missing[0] == expected.missing[0] == 1


def test_reference_state_roundtrip_and_compute():
    rng = np.random.default_rng(6)
    data = {"x": rng.normal(size=300), "c": rng.choice(["u", "v"], size=300)}
    ref = compute_reference(
        data,
        {"x": "numeric", "c": "categorical"},
        y=["a", "b", "c"] * 100,
        proba=rng.dirichlet([1, 1, 1], size=50),
        predicted=["a"] * 50,
        performance={"accuracy": 0.9},
    )
    back = Reference.from_state(*ref.to_state())
    np.testing.assert_array_equal(back.features["x"].edges, ref.features["x"].edges)
    assert back.features["c"].categories == ("u", "v")
    assert back.classes == ("a", "b", "c") and back.predicted_counts.tolist() == [50, 0, 0]
    assert len(back.scores) == 3 and back.performance["accuracy"] == 0.9
    # the CBPE estimate on the scored rows: mean probability of the predicted class
    proba = rng.dirichlet([1, 1, 1], size=1)  # keep the generator moving as before
    assert proba.shape == (1, 3)
    assert back.performance["cbpe_accuracy"] == pytest.approx(ref.performance["cbpe_accuracy"])


def test_config_rules_and_errors(tmp_path):
    cfg = MonitorConfig(columns={"x": ColumnRule(method="psi", threshold=0.05)})
    rng = np.random.default_rng(7)
    ref = NumericReference.from_values("x", rng.normal(size=2000))
    d = feature_drift(ref, count_numeric(ref, rng.normal(0.3, size=2000)), cfg)
    assert d.method == "psi" and d.threshold == 0.05 and d.drifted
    toml = tmp_path / "monitor.toml"
    toml.write_text('alpha = 0.01\n[columns.x]\nmethod = "ks"\n[performance]\nmin_value = 0.8\n')
    loaded = MonitorConfig.from_toml(toml)
    assert loaded.alpha == 0.01 and loaded.rule("x") == ("ks", None)
    assert loaded.performance_min == 0.8
    toml.write_text("alpah = 0.01\n")
    with pytest.raises(ValueError, match="Unknown monitor option 'alpah'"):
        MonitorConfig.from_toml(toml)
    with pytest.raises(ValueError, match="method must be one of"):
        MonitorConfig(method="kl")
    cref = CategoricalReference.from_values("c", ["a", "b"])
    with pytest.raises(ValueError, match="needs numbers"):
        feature_drift(
            cref,
            count_categorical(cref, ["a"]),
            MonitorConfig(columns={"c": ColumnRule(method="ks")}),
        )


@pytest.mark.parametrize("n_current", [300, 5000])
def test_false_alarm_rate_at_most_level_and_shift_is_flagged(n_current):
    """Fresh samples from the reference distribution drift at most alpha of the time."""
    alpha = 0.05
    rng = np.random.default_rng(8)
    ref = NumericReference.from_values("x", rng.normal(size=5000))
    cats = ["a", "b", "c", "d"]
    probs = [0.4, 0.3, 0.2, 0.1]
    cref = CategoricalReference.from_values("c", rng.choice(cats, size=5000, p=probs))
    cfg = MonitorConfig(alpha=alpha)
    seeds = 200
    alarms_num = alarms_cat = 0
    for seed in range(seeds):
        r = np.random.default_rng(1000 + seed)
        alarms_num += feature_drift(ref, count_numeric(ref, r.normal(size=n_current)), cfg).drifted
        alarms_cat += feature_drift(
            cref, count_categorical(cref, r.choice(cats, size=n_current, p=probs)), cfg
        ).drifted
    margin = 3 * np.sqrt(alpha * (1 - alpha) / seeds)
    assert alarms_num / seeds <= alpha + margin
    assert alarms_cat / seeds <= alpha + margin
    shifted = feature_drift(ref, count_numeric(ref, rng.normal(0.5, 1.2, size=n_current)), cfg)
    assert shifted.drifted
    moved = feature_drift(
        cref, count_categorical(cref, rng.choice(cats, size=n_current, p=[0.1, 0.2, 0.3, 0.4])), cfg
    )
    assert moved.drifted
    summary = summarize_drift([shifted, moved], cfg)
    assert summary.dataset_drift and summary.top(1)[0].name in ("x", "c")


def test_categorical_counts_of_dictionary_chunks_equal_plain_strings():
    import pyarrow as pa

    ref = CategoricalReference.from_values("c", np.array(["a", "b", "c", "a"], dtype=object))
    dict_type = pa.dictionary(pa.int32(), pa.string())
    values = pa.chunked_array(
        [
            pa.array(["a", "z", None, "b"]).dictionary_encode(),
            pa.array(["c", "c", None]).dictionary_encode(),
            pa.nulls(2, dict_type),
        ],
        type=dict_type,
    )
    plain = values.cast(pa.string())
    groups = np.arange(9) % 2
    for g, n in ((None, 1), (groups, 2)):
        a, b = count_categorical(ref, values, g, n), count_categorical(ref, plain, g, n)
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.missing, b.missing)
    assert count_categorical(ref, values).counts.tolist() == [[1, 1, 2, 1]]


def test_too_few_rows_are_not_judged():
    # review of issue #10: one prediction got KS / chi-square verdicts (PSI 8.6) and
    # "All well"; below MIN_ROWS current rows a column is not judged, and the summary says so.
    from polyclass.monitor._drift import MIN_ROWS

    rng = np.random.default_rng(3)
    ref = NumericReference.from_values("x", rng.normal(size=5000))
    cref = CategoricalReference.from_values("c", rng.choice(["a", "b"], size=5000))
    cfg = MonitorConfig()
    few = [
        feature_drift(ref, count_numeric(ref, np.full(MIN_ROWS - 1, 50.0)), cfg),
        feature_drift(cref, count_categorical(cref, ["zz"] * (MIN_ROWS - 1)), cfg),
    ]
    assert not any(f.drifted for f in few)
    summary = summarize_drift(few, cfg)
    assert not summary.dataset_drift
    assert summary.too_few_rows is not None and str(MIN_ROWS) in summary.too_few_rows
    assert summary.to_dict()["too_few_rows"] == summary.too_few_rows
    enough = feature_drift(ref, count_numeric(ref, np.full(MIN_ROWS, 50.0)), cfg)
    assert enough.drifted
    judged = summarize_drift([enough], cfg)
    assert judged.too_few_rows is None and judged.dataset_drift
