"""One rule for values that do not exist (review of issue #10, items 3 and 6).

``evaluate`` stores an undefined metric as ``value: None`` with ``undefined: reason``;
the CLI table and the report show "undefined" and that reason, never a number.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from polyclass.evaluation import evaluate
from polyclass.pipeline._cli import _metrics_table as cli_table
from polyclass.report._results import _metrics_table as report_table

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


def _cli_text(evaluation: dict[str, Any]) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(cli_table("test", evaluation))
    return out.getvalue()


@pytest.fixture(scope="module")
def one_class() -> dict[str, Any]:
    # Every row Adelie and predicted Adelie (the review's `head -101 penguins.csv`).
    rng = np.random.default_rng(0)
    top = rng.uniform(0.6, 0.99, 100)
    proba = np.column_stack([top, (1 - top) / 2, (1 - top) / 2])
    return evaluate(np.array(["Adelie"] * 100), proba, CLASSES, n_bootstrap=200)


def test_undefined_metrics_are_none_with_a_reason(one_class: dict[str, Any]) -> None:
    m = one_class["metrics"]
    assert m["accuracy"]["value"] == 1.0 and m["accuracy"]["undefined"] is None
    assert "single class" in m["matthews_corrcoef"]["undefined"]
    for key in ("matthews_corrcoef", "f1_macro", "precision_macro", "recall_macro"):
        assert m[key]["value"] is None and m[key]["ci"] is None, key
    assert "'Chinstrap', 'Gentoo'" in m["f1_macro"]["undefined"]
    for key in ("roc_auc_ovr", "roc_auc_ovr_weighted", "average_precision"):
        assert m[key]["value"] is None and "single class" in m[key]["undefined"], key
    assert one_class["averages"]["macro"]["f1"] is None
    # weighted F1 gives absent classes no weight: defined, and widened at 1.0
    assert m["f1_weighted"]["value"] == 1.0 and m["f1_weighted"]["ci"][0] < 1.0


def test_cli_and_report_show_undefined_with_the_reason(one_class: dict[str, Any]) -> None:
    cli = _cli_text(one_class)
    html = report_table(one_class)
    for key in ("matthews_corrcoef", "f1_macro", "roc_auc_ovr", "average_precision"):
        line = next(ln for ln in cli.splitlines() if f" {key} " in ln)
        reason = one_class["metrics"][key]["undefined"].removeprefix("undefined: ")
        assert "undefined" in line and reason[:40] in line, line
    assert "0.3333" not in cli and "0.0000" not in cli
    assert html.count("undefined <span") == 6  # MCC, macro F1, two AUC, two AP rows
    assert "neither occur nor are predicted" in html


def test_a_perfect_mcc_note_names_the_metric() -> None:
    y = np.array([0, 1, 2] * 12)
    proba = np.eye(3)[y] * 0.9 + 0.1 / 3
    out = evaluate(y, proba, [0, 1, 2], n_bootstrap=300)
    mcc = out["metrics"]["matthews_corrcoef"]
    assert mcc["value"] == 1.0 and mcc["ci"] is None
    assert "matthews_corrcoef" in mcc["ci_note"]
    assert any(n.startswith("matthews_corrcoef: no interval") for n in out["notes"])
    assert not any("one value at both ends" in n for n in out["notes"])
    for key in ("precision_macro", "recall_macro"):
        lo, hi = out["metrics"][key]["ci"]
        assert lo < hi == 1.0, key
    row = next(ln for ln in _cli_text(out).splitlines() if " matthews_corrcoef " in ln)
    assert "no interval" in row
