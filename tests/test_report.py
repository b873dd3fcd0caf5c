"""polyclass.report: one self-contained HTML page and metrics.json from a real context."""

from __future__ import annotations

import json
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from polyclass.data import explore, infer_schema
from polyclass.evaluation import coefficient_table, evaluate, permutation_importance
from polyclass.report import render_html, to_jsonable, write_report

SECTION_IDS = (
    "summary",
    "problem",
    "data",
    "warnings",
    "strategies",
    "validation",
    "threshold",
    "test",
    "explain",
    "importance",
    "coefficients",
    "model",
    "timings",
)
EVIL = "<script>alert(1)</script>"


@cache
def _context(name: str, evil: bool = False) -> dict[str, Any]:
    loader = {"wine": load_wine, "digits": load_digits, "cancer": load_breast_cancer}[name]
    bunch = loader(as_frame=True)
    X = bunch.frame.drop(columns=["target"])
    y = np.asarray(bunch.target_names, dtype=object)[bunch.target.to_numpy()].astype(str)
    if evil:  # a hostile class label and column name must come out as text
        y = np.where(y == y[0], EVIL, y)
        X = X.rename(columns={X.columns[0]: f'"><img src=x onerror=alert(2)>{X.columns[0]}'})
    df = X.assign(target=y)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    X_tr, X_va, y_tr, y_va = train_test_split(
        X_tr, y_tr, test_size=0.25, random_state=0, stratify=y_tr
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.3, tol=1e-3))
    model.fit(X_tr, y_tr)
    classes = model.classes_
    lr = model[-1]
    binary = len(classes) == 2
    return {
        "problem": {
            "target": "target",
            "task": "binary" if binary else "multiclass",
            "classes": list(classes),
            "positive_class": classes[1] if binary else None,
            "costs": {"false_positive": 1.0, "false_negative": 5.0} if binary else None,
            "metric": "roc_auc" if binary else "f1_macro",
            "metric_reasons": ["The classes are close to balanced.", "No costs were given."],
        },
        "data": explore(df, infer_schema(df, "target")),
        "warnings": [
            {"column": X.columns[0], "code": "missing_values", "message": "2% missing; imputed."},
            {"column": "id", "code": "id_like", "message": "All values unique; dropped."},
            {"column": None, "code": "note", "message": "Source: see https://example.org/data"},
        ],
        "strategies": {
            "metric": "f1_macro",
            "n_splits": 5,
            "chosen": "multinomial",
            "summary": [
                {
                    "strategy": "multinomial",
                    "cv_mean": 0.97,
                    "cv_std": 0.02,
                    "fit_seconds": 0.4,
                    "best_params": {"C": 0.3, "l1_ratio": 0.0, "class_weight": None},
                },
                {
                    "strategy": "ovr",
                    "cv_mean": 0.96,
                    "cv_std": 0.03,
                    "fit_seconds": 0.6,
                    "best_params": {"C": 1.0, "l1_ratio": 0.5, "class_weight": "balanced"},
                },
                {
                    "strategy": "ovo",
                    "cv_mean": 0.95,
                    "cv_std": 0.03,
                    "fit_seconds": 1.7,
                    "best_params": {"C": 2.0, "l1_ratio": 0.0, "class_weight": None},
                },
            ],
            "candidates": [
                {"strategy": s, "C": c, "cv_mean": 0.9 + c / 100, "cv_std": 0.02}
                for s in ("multinomial", "ovr", "ovo")
                for c in (0.1, 1.0, 10.0)
            ],
        },
        "validation": evaluate(y_va, model.predict_proba(X_va), classes, n_bootstrap=200),
        "test": evaluate(y_te, model.predict_proba(X_te), classes, n_bootstrap=200),
        "threshold": {"threshold": 0.35, "description": "Minimises expected cost."}
        if binary
        else None,
        "coefficients": coefficient_table(
            lr.coef_, list(X.columns), classes, intercept=lr.intercept_
        ),
        "importance": permutation_importance(
            model.predict_proba,
            X_te,
            y_te,
            "log_loss",
            n_repeats=2,
            classes=classes,
            max_samples=200,
        ),
        "model": {
            "name": f"{name}-model",
            "version": 2,
            "artifact_path": "/tmp/registry/artifacts/x/2",
            "fingerprint": "sha256:" + "ab" * 32,
        },
        "timings": {"load": 0.02, "tune": 1.5, "evaluate": 0.2, "report": 0.05},
        "generated_at": "2024-01-01 00:00 UTC",
    }


def build_context(name: str = "wine", *, evil: bool = False) -> dict[str, Any]:
    """A realistic report context (shared with the browser test)."""
    return json.loads(json.dumps(_context(name, evil), default=str))


class _Checker(HTMLParser):
    """Collects ids, tags and every attribute that could load a resource."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: dict[str, int] = {}
        self.resource_attrs: list[tuple[str, str]] = []
        self.stack: list[str] = []
        self.mismatched: list[str] = []
        self.attr_names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attr_names.update(k for k, _ in attrs)
        for k, v in attrs:
            if k == "id" and v:
                self.ids.add(v)
            if k in ("src", "href", "xlink:href", "srcset", "action", "data") and v:
                self.resource_attrs.append((k, v))
        if tag not in ("meta", "br", "img", "input", "link", "hr", "col"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for k, v in attrs:
            if k in ("src", "href", "xlink:href") and v:
                self.resource_attrs.append((k, v))

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.mismatched.append(tag)


def _parse(html_text: str) -> _Checker:
    checker = _Checker()
    checker.feed(html_text)
    checker.close()
    return checker


def test_writes_both_files_and_metrics_json_round_trips(tmp_path: Path) -> None:
    ctx = build_context("wine")
    html_path, json_path = write_report(tmp_path / "out", ctx)
    assert html_path == tmp_path / "out" / "report.html" and html_path.stat().st_size > 10_000
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert payload["format"] == "polyclass.metrics/1"
    for key in ("problem", "data", "strategies", "validation", "test", "importance", "model"):
        assert payload[key] == to_jsonable(ctx[key])
    assert (
        payload["test"]["metrics"]["f1_macro"]["value"]
        == ctx["test"]["metrics"]["f1_macro"]["value"]
    )
    # written atomically: nothing but the two files is left behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "report.html"]
    # a second write replaces both in place
    ctx["model"]["version"] = 3
    write_report(tmp_path / "out", ctx)
    assert json.loads(json_path.read_text())["model"]["version"] == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "report.html"]


def test_html_is_self_contained(tmp_path: Path) -> None:
    html_path, _ = write_report(tmp_path, build_context("wine"))
    text = html_path.read_text(encoding="utf-8")
    checker = _parse(text)
    # the only URL is the one the user wrote in a warning message, shown as text
    urls = re.findall(r"https?://[^\s\"'<>]+", text)
    assert urls == ["https://example.org/data"]
    assert "Source: see https://example.org/data" in text
    # nothing that loads anything: only in-page anchors, no scripts, fonts or imports
    assert all(v.startswith("#") for _, v in checker.resource_attrs), checker.resource_attrs
    for forbidden in ("<script", "@import", "url(", "@font-face", "<link", "<iframe", "<img"):
        assert forbidden not in text.lower()
    assert checker.tags.get("svg", 0) >= 12
    assert not checker.mismatched and not checker.stack


def test_every_section_is_present(tmp_path: Path) -> None:
    text = render_html(build_context("wine"))
    ids = _parse(text).ids
    assert set(SECTION_IDS) <= ids
    for needle in (
        "Per class",
        "micro avg",
        "macro avg",
        "weighted avg",
        "Confusion matrix",
        "Row-normalised",
        "ROC curves",
        "Precision-recall curves",
        "Calibration",
        "against the threshold",
        "Cross-validated score",
        "Permutation importance",
        "Coefficients and odds ratios",
        "missing_values",
        "id_like",
        "Class balance",
        "Numeric features",
        "Association with the target",
        "most probable class",
    ):
        assert needle in text, needle
    # the table of contents links to every section
    for section in ("summary", "problem", "data", "warnings", "strategies", "test", "model"):
        assert f'href="#{section}"' in text


def test_missing_keys_leave_their_sections_out_instead_of_crashing(tmp_path: Path) -> None:
    html_path, json_path = write_report(tmp_path, {})
    text = html_path.read_text()
    ids = _parse(text).ids
    assert {"summary", "test", "threshold"} <= ids
    absent = ("problem", "data", "warnings", "strategies", "validation", "explain", "model")
    for section in absent:  # a section the context says nothing about is not shown empty
        assert section not in ids and f'href="#{section}"' not in text
    assert "No test results were given." in text  # the one section always shown
    assert json.loads(json_path.read_text())["format"] == "polyclass.metrics/1"
    # partial and odd shapes still render
    partial = {
        "problem": {"target": "y"},
        "data": {"n_rows": 10, "mystery": {"a": [1, 2]}},
        "warnings": [],
        "strategies": [{"strategy": "ovr", "cv_mean": 0.5}],
        "test": {"metrics": {}},
        "threshold": 0.4,
        "timings": {},
    }
    text = render_html(partial)
    assert "The data checks raised no warnings." in text and "mystery" in text


def test_binary_report_marks_the_threshold_and_headline(tmp_path: Path) -> None:
    ctx = build_context("cancer")
    text = render_html(ctx)
    auc = ctx["test"]["metrics"]["roc_auc"]["value"]
    assert f"{auc:.3f}" in text and "ROC AUC · test" in text
    assert "chosen 0.35" in text  # vertical marker on the threshold chart
    assert "DeLong" in text
    assert "Minimises expected cost." in text


def test_malicious_labels_are_escaped(tmp_path: Path) -> None:
    ctx = build_context("wine", evil=True)
    assert EVIL in ctx["test"]["classes"]
    ctx["problem"]["target"] = EVIL
    ctx["model"]["name"] = EVIL
    ctx["warnings"].append({"column": EVIL, "code": EVIL, "message": EVIL})
    html_path, json_path = write_report(tmp_path, ctx)
    text = html_path.read_text()
    assert "<script" not in text.lower()
    assert "<img" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert EVIL in json.loads(json_path.read_text())["test"]["classes"]
    checker = _parse(text)
    assert "script" not in checker.tags and "img" not in checker.tags
    assert "onerror" not in checker.attr_names
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in text  # the column, as text


def test_ten_class_report_stays_small(tmp_path: Path) -> None:
    html_path, json_path = write_report(tmp_path, build_context("digits"))
    assert html_path.stat().st_size < 1_500_000
    assert json_path.stat().st_size < 1_500_000
    checker = _parse(html_path.read_text())
    assert not checker.mismatched


def test_to_jsonable_cleans_numpy_and_nan() -> None:
    value = {
        1: np.float32(0.5),
        "a": np.arange(3),
        "b": (np.nan, float("inf"), np.int64(4)),
        "c": Path("/x"),
        "d": {np.str_("k"): np.bool_(True)},
        "e": pd.Timestamp("2024-01-02").to_pydatetime(),
    }
    out = to_jsonable(value)
    assert out == {
        "1": 0.5,
        "a": [0, 1, 2],
        "b": [None, None, 4],
        "c": "/x",
        "d": {"k": True},
        "e": "2024-01-02T00:00:00",
    }
    json.dumps(out, allow_nan=False)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="context must be a dict"):
        write_report(tmp_path, [1, 2])  # type: ignore[arg-type]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        write_report(blocker, {})


def test_decision_rules_render_readably(tmp_path: Path) -> None:
    ctx = build_context("wine")
    ctx["threshold"] = {
        "kind": "cost",
        "threshold": None,
        "positive_class": None,
        "cost_matrix": [[0, 1, 4], [1, 0, 1], [9, 1, 0]],
        "description": "predict the class of least expected cost under the given cost matrix",
    }
    text = render_html(ctx)
    section = text[text.index('id="threshold"') : text.index('id="test"')]
    assert "Cost matrix" in section and "true \\ predicted" in section
    assert "Predict the class of least expected cost" in section
    assert "positive class" not in section  # None-valued fields are left out
    assert all(f"<b>{c}</b>" in section for c in ctx["test"]["classes"])


def test_metric_names_read_well() -> None:
    from polyclass.report._html import metric_name

    assert metric_name("f1_macro") == "Macro F1"
    assert metric_name("fbeta(beta=2.23607)") == "F-beta (β=2.24)"
    assert metric_name("something_new") == "something_new"


def test_files_are_readable_by_others(tmp_path: Path) -> None:
    html_path, json_path = write_report(tmp_path, {})
    assert html_path.stat().st_mode & 0o777 == 0o644
    assert json_path.stat().st_mode & 0o777 == 0o644


def test_undefined_values_and_per_class_f1_intervals_are_shown(tmp_path: Path) -> None:
    # issue #10: a class never predicted showed precision 0.000 and F1 had no interval.
    ctx = build_context("wine")
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 20)
    proba = rng.dirichlet([1, 1, 1], 60)
    proba[:, 2] = 0.0  # 'c' is never predicted
    proba = proba / proba.sum(axis=1, keepdims=True)
    ctx["test"] = json.loads(json.dumps(evaluate(y, proba, ["a", "b", "c"], n_bootstrap=200)))
    html_path, _ = write_report(tmp_path, ctx)
    text = html_path.read_text(encoding="utf-8")
    assert 'title="undefined: the class was never predicted">undefined</span>' in text
    f1_a = ctx["test"]["per_class"][0]["f1_ci"]
    assert f"{f1_a[0]:.3f}\u2013{f1_a[1]:.3f}" in text
    assert "precision is undefined" in text  # the note under the results
