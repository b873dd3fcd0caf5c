"""Champion against challenger on the same rows: paired statistics, decision, report.

The metric is the champion's (the one it was trained to optimise); the difference is
``challenger - champion`` and "better" follows the metric's direction. The challenger
is better when the difference is in its favour and the ``1 - alpha`` interval of the
paired bootstrap excludes zero; McNemar's exact test (correct/incorrect) and DeLong's
test (ROC AUC; macro one-vs-rest with more than two classes) are reported beside it.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from polyclass import metrics
from polyclass._json import plain
from polyclass.pipeline._scoring import Scorer, scorer_from_advice


def _scorer_of(model: Any) -> Scorer:
    stored = model.info.get("metric") or {}
    function = stored.get("function") or "accuracy_score"
    if function == "expected_cost":
        scorer = Scorer("expected_cost", "expected_cost", "label", {}, False)
        matrix = model.decision.cost_matrix
        scorer.cost_matrix = None if matrix is None else np.asarray(matrix, dtype=np.float64)
        return scorer
    scorer = scorer_from_advice(function, dict(stored.get("kwargs") or {}), [])
    scorer.name = stored.get("name") or scorer.name
    return scorer


def _labels(model: Any, values: Any) -> NDArray[Any]:
    from polyclass.pipeline._labels import labels_of

    classes = np.asarray(model.classes_)
    y = labels_of(pd.Series(values))
    return y.astype(classes.dtype) if classes.dtype.kind in "iuf" else y


def compare(
    champion: Any,
    challenger: Any,
    test: pd.DataFrame,
    target: str,
    *,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score both models on ``test`` and compare them with paired statistics.

    Returns the comparison document (see ``docs/formats.md``: ``comparison.json``).
    """
    classes = np.asarray(champion.classes_)
    y = _labels(champion, test[target])
    inputs = test[champion.feature_names]
    pred_a, proba_a = challenger.predict_with_proba(inputs)
    pred_b, proba_b = champion.predict_with_proba(inputs)
    scorer = _scorer_of(champion)
    positive = champion.info.get("positive_class")
    positive = classes[-1] if positive is None else _labels(champion, [positive])[0]
    level = 1.0 - alpha

    def score(y_rows: NDArray[Any], idx: NDArray[Any]) -> float:
        # idx: row numbers into one model's results (a: < n, b: >= n), so one callable
        # scores either model exactly as training scored it.
        pred, proba = (pred_a, proba_a) if idx.size and idx[0] < n else (pred_b, proba_b)
        rows = idx % n
        return scorer.score(y_rows, pred[rows], proba[rows], classes, positive)

    n = len(y)
    diff = metrics.paired_bootstrap(
        score,
        y,
        np.arange(n),
        np.arange(n) + n,
        n_resamples=n_resamples,
        confidence_level=level,
        random_state=seed,
    )
    sign = 1.0 if scorer.greater_is_better else -1.0
    gain = sign * diff.difference
    interval_clear = (diff.low > 0) if sign > 0 else (diff.high < 0)
    better = bool(gain > 0 and interval_clear)
    mcnemar = metrics.mcnemar_test(y, pred_a, pred_b)
    delong = _delong(y, proba_a, proba_b, classes)
    return {
        "metric": scorer.name,
        "greater_is_better": scorer.greater_is_better,
        "test_rows": int(n),
        "champion": {"score": diff.score_b, "accuracy": float(np.mean(pred_b == y))},
        "challenger": {"score": diff.score_a, "accuracy": float(np.mean(pred_a == y))},
        "difference": {
            "value": diff.difference,
            "low": diff.low,
            "high": diff.high,
            "level": level,
            "p_value": float(diff.p_value),
            "p_value_floor": 1.0 / diff.n_resamples,  # a p-value of 0 means below this
            "n_resamples": diff.n_resamples,
            "method": "paired bootstrap (percentile)",
        },
        "mcnemar": {
            "only_challenger_correct": int(mcnemar.only_a_correct),
            "only_champion_correct": int(mcnemar.only_b_correct),
            "n_samples": int(mcnemar.n_samples),
            "p_value": float(mcnemar.p_value),
            "method": "exact",
        },
        "delong": delong,
        "alpha": alpha,
        "decision": {"better": better, "why": _why(scorer, diff, better, level)},
    }


def _delong(
    y: NDArray[Any], proba_a: NDArray[Any], proba_b: NDArray[Any], classes: NDArray[Any]
) -> dict[str, Any] | None:
    try:
        if len(classes) == 2:
            res = metrics.delong_test(y == classes[1], proba_a[:, 1], proba_b[:, 1])
            form = "binary"
        else:
            res = metrics.delong_ovr_test(y, proba_a, proba_b, labels=classes)
            form = "macro one-vs-rest"
    except ValueError as exc:  # too few rows of a class: say so rather than guess
        return {"skipped": str(exc)}
    return {
        "form": form,
        "challenger_auc": res.auc_a,
        "champion_auc": res.auc_b,
        "z": plain(res.z),
        "p_value": res.p_value,
    }


def _why(scorer: Scorer, diff: Any, better: bool, level: float) -> str:
    pct = f"{level:.0%}"
    span = f"{pct} interval of the difference [{diff.low:+.4f}, {diff.high:+.4f}]"
    direction = "higher" if scorer.greater_is_better else "lower"
    if better:
        return (
            f"the challenger's {scorer.name} is {direction} ({diff.score_a:.4f} against "
            f"{diff.score_b:.4f}) and the {span} excludes zero."
        )
    if diff.difference == 0:
        return f"both models score {diff.score_a:.4f} on {scorer.name}: nothing to gain."
    return (
        f"{scorer.name}: challenger {diff.score_a:.4f}, champion {diff.score_b:.4f}; the {span} "
        f"{'includes zero' if diff.low <= 0 <= diff.high else 'favours the champion'}, so "
        "the challenger is not shown to be better. Collect more feedback or keep the champion."
    )


def write_comparison(folder: Path, comparison: dict[str, Any]) -> tuple[Path, Path]:
    """``comparison.json`` and ``comparison.html`` in ``folder`` (temp name, then rename)."""
    doc = json.dumps(plain(comparison), indent=2, allow_nan=False)
    json_path = _write_text(folder / "comparison.json", doc + "\n")
    html_path = _write_text(folder / "comparison.html", _page(comparison_section(comparison)))
    report = folder / "challenger" / "report.html"
    if report.exists():
        text = report.read_text(encoding="utf-8")
        if "</body>" in text and 'id="comparison"' not in text:
            joined = text.replace("</body>", comparison_section(comparison) + "\n</body>", 1)
            _write_text(report, joined)
    return json_path, html_path


def p_text(p: float, n_resamples: int) -> str:
    """A bootstrap p-value as text: never 0, which only says it is below 1/resamples."""
    floor = 1.0 / n_resamples
    return f"p < {floor:.2g}" if p < floor else f"p={p:.3g}"


def comparison_section(c: dict[str, Any]) -> str:
    """The comparison as an HTML section (added to the challenger's report)."""
    e = html.escape
    d, mc, dl = c["difference"], c["mcnemar"], c.get("delong") or {}
    rows = [
        ("metric", c["metric"]),
        ("test rows", f"{c['test_rows']} ({e(str(c.get('test_rows_from', '')))})"),
        (f"champion (version {c.get('champion_version')})", f"{c['champion']['score']:.4f}"),
        (f"challenger (version {c.get('challenger_version')})", f"{c['challenger']['score']:.4f}"),
        (
            f"difference, {d['level']:.0%} interval",
            f"{d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]",
        ),
        ("paired bootstrap p-value", p_text(d["p_value"], d["n_resamples"])),
        (
            "McNemar exact p-value",
            f"{mc['p_value']:.4g} (only challenger right: {mc['only_challenger_correct']}, "
            f"only champion right: {mc['only_champion_correct']})",
        ),
    ]
    if "p_value" in dl:
        rows.append((f"DeLong p-value ({dl['form']} AUC)", f"{dl['p_value']:.4g}"))
    elif dl:
        rows.append(("DeLong", f"not computed: {dl['skipped']}"))
    decision = c["decision"]
    verdict = "better" if decision["better"] else "not shown to be better"
    if decision.get("promoted"):
        verdict += "; promoted to production"
    body = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    return (
        '<section id="comparison"><h2>Champion and challenger</h2>'
        f"<p><strong>Challenger {e(verdict)}</strong>: {e(decision['why'])}</p>"
        f"<table>{body}</table></section>"
    )


def _page(section: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>polyclass retrain comparison</title></head><body>"
        f"{section}</body></html>\n"
    )


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
