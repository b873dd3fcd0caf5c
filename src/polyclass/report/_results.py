"""Report sections about model quality: one evaluation, and what the model relies on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyclass.report._html import (
    fmt,
    fmt_ci,
    fmt_count,
    is_num,
    metric_name,
    missing,
    table,
)
from polyclass.report._plots import (
    EN_DASH,
    INK,
    MUTED,
    PALETTE,
    Bar,
    Series,
    bar_chart,
    esc,
    heatmap,
    legend,
    line_chart,
    reliability_chart,
    series_style,
)

SCALAR_ORDER = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "f1",
    "precision",
    "recall",
    "matthews_corrcoef",
    "roc_auc",
    "roc_auc_ovr",
    "roc_auc_ovr_weighted",
    "average_precision",
    "average_precision_weighted",
    "log_loss",
    "expected_calibration_error",
)


def _metrics_table(ev: Mapping[str, Any]) -> str:
    metrics = ev.get("metrics") or {}
    rows = []
    for key in SCALAR_ORDER:
        m = metrics.get(key)
        if not isinstance(m, Mapping):
            continue
        direction = "higher is better" if m.get("greater_is_better", True) else "lower is better"
        method = str(m.get("ci_method") or "").split(" (")[0]
        why = m.get("ci_note") or "no interval"
        rows.append(
            [
                esc(metric_name(key)),
                _undefined_cell(m.get("undefined")) or fmt(m.get("value")),
                fmt_ci(m.get("ci")) or f'<span class="ci" title="{esc(why)}">—</span>',
                f'<span class="ci">{esc(method) or "—"}</span>',
                f'<span class="ci">{esc(direction)}</span>',
            ]
        )
    level = ev.get("confidence_level", 0.95)
    n_boot = ev.get("n_bootstrap")
    note = (
        f'<p class="note">Bootstrap intervals are percentile intervals over {fmt_count(n_boot)} '
        "resamples of the rows (drawn freely, so the class counts vary as between samples); "
        "'wilson' marks an interval built from Wilson intervals where the resamples could not "
        "vary (e.g. a perfect score); DeLong's interval is for the binary ROC AUC.</p>"
    )
    return (
        table(
            ["Metric", "Value", f"{fmt(100 * float(level), 0)}% CI", "Interval", "Direction"],
            rows,
            numeric=[False, True, True, False, False],
            cls="metrics",
        )
        + note
    )


def _bar_cell(v: Any) -> str:
    """A number with a faint in-cell bar showing its size in [0, 1]."""
    if not is_num(v):
        return fmt(v)
    width = max(0.0, min(1.0, float(v))) * 100
    return f'<span class="cellbar" style="--w:{width:.1f}%">{fmt(v)}</span>'


def _undefined_cell(reason: Any) -> str:
    """'undefined' with its reason shown beside it (evaluate's ``undefined``), or ''."""
    if not reason:
        return ""
    why = str(reason).removeprefix("undefined: ")
    return f'undefined <span class="ci">({esc(why)})</span>'


def _value_cell(row: Mapping[str, Any], key: str) -> str:
    """A per-class value, or 'undefined' with its reason (never a misleading 0.000)."""
    reason = (row.get("undefined") or {}).get(key)
    if row.get(key) is None and reason:
        return f'<span class="ci" title="{esc(reason)}">undefined</span>'
    return _bar_cell(row.get(key))


def _per_class_table(ev: Mapping[str, Any]) -> str:
    rows = []
    classes = []
    for r in ev.get("per_class") or []:
        rows.append(
            [
                f"<b>{esc(r.get('name'))}</b>",
                _value_cell(r, "precision"),
                fmt_ci(r.get("precision_ci")),
                _value_cell(r, "recall"),
                fmt_ci(r.get("recall_ci")),
                _value_cell(r, "f1"),
                fmt_ci(r.get("f1_ci")),
                fmt_count(r.get("support")),
                fmt(r.get("roc_auc")),
                fmt(r.get("average_precision")),
            ]
        )
        classes.append("")
    for avg in ("micro", "macro", "weighted"):
        a = (ev.get("averages") or {}).get(avg)
        if not isinstance(a, Mapping):
            continue
        m = ev.get("metrics") or {}
        auc = None
        ap = None
        if avg == "macro":
            auc = (m.get("roc_auc_ovr") or m.get("roc_auc") or {}).get("value")
            ap = (m.get("average_precision") or {}).get("value")
        elif avg == "weighted":
            auc = (m.get("roc_auc_ovr_weighted") or {}).get("value")
            ap = (m.get("average_precision_weighted") or {}).get("value")
        elif avg == "micro":
            auc = (((ev.get("roc") or {}).get("micro")) or {}).get("auc")
            ap = (((ev.get("pr") or {}).get("micro")) or {}).get("average_precision")
        rows.append(
            [
                f"{avg} avg",
                fmt(a.get("precision")),
                "",
                fmt(a.get("recall")),
                "",
                fmt(a.get("f1")),
                fmt_ci(a.get("f1_ci")),
                fmt_count(a.get("support")),
                fmt(auc),
                fmt(ap),
            ]
        )
        classes.append("avg-row")
    level = float(ev.get("confidence_level", 0.95))
    ci_head = f"{level * 100:.0f}% CI"
    return table(
        [
            "Class",
            "Precision",
            ci_head,
            "Recall",
            ci_head,
            "F1",
            ci_head,
            "Support",
            "ROC AUC",
            "AP",
        ],
        rows,
        numeric=[False] + [True] * 9,
        cls="per-class",
        row_classes=classes,
    )


def _roc_chart(ev: Mapping[str, Any]) -> str:
    roc = ev.get("roc") or {}
    series = []
    per = roc.get("per_class") or []
    single = len(per) == 1
    for i, c in enumerate(per):
        if not c.get("fpr"):
            continue
        color, dash = series_style(i)
        label = f"{c['name']}  AUC {fmt(c.get('auc'))}"
        if single and roc.get("auc_ci"):
            lo, hi = roc["auc_ci"]
            label += f" ({lo:.3f}{EN_DASH}{hi:.3f}, DeLong)"
        series.append(
            Series(
                c["name"],
                c["fpr"],
                c["tpr"],
                color=color,
                dash=dash,
                width=2.2 if single else 1.4,
                label=label,
            )
        )
    for key, color, dash in (("micro", INK, "5 3"), ("macro", MUTED, "2 2")):
        avg = roc.get(key)
        if isinstance(avg, Mapping) and avg.get("fpr"):
            series.append(
                Series(
                    key,
                    avg["fpr"],
                    avg["tpr"],
                    color=color,
                    dash=dash,
                    width=2.4,
                    label=f"{key}-average  AUC {fmt(avg.get('auc'))}",
                )
            )
    if not series:
        return missing("No ROC curve: a class needs both positive and negative rows.")
    return line_chart(
        series,
        title="ROC curves (one-vs-rest)",
        x_label="False positive rate",
        y_label="True positive rate",
        diagonal=True,
    )


def _pr_chart(ev: Mapping[str, Any]) -> str:
    pr = ev.get("pr") or {}
    series = []
    per = pr.get("per_class") or []
    for i, c in enumerate(per):
        if not c.get("recall"):
            continue
        color, dash = series_style(i)
        series.append(
            Series(
                c["name"],
                c["recall"],
                c["precision"],
                color=color,
                dash=dash,
                width=2.2 if len(per) == 1 else 1.4,
                step=True,
                label=f"{c['name']}  AP {fmt(c.get('average_precision'))}",
            )
        )
    micro = pr.get("micro")
    if isinstance(micro, Mapping) and micro.get("recall"):
        series.append(
            Series(
                "micro",
                micro["recall"],
                micro["precision"],
                color=INK,
                dash="5 3",
                width=2.4,
                step=True,
                label=f"micro-average  AP {fmt(micro.get('average_precision'))}",
            )
        )
    if not series:
        return missing("No precision-recall curve: no class has positive rows.")
    hline = None
    if len(per) == 1 and is_num(per[0].get("prevalence")):
        hline = (float(per[0]["prevalence"]), "chance (prevalence)")
    return line_chart(
        series,
        title="Precision-recall curves",
        x_label="Recall",
        y_label="Precision",
        hline=hline,
    )


def _calibration_chart(ev: Mapping[str, Any]) -> str:
    cal = ev.get("calibration") or {}
    bins = cal.get("bins") or []
    if not bins:
        return missing("No calibration data.")
    if cal.get("mode") == "positive_class":
        title = f"Calibration of P({cal.get('class')})"
        y_label = "Observed fraction positive"
    else:
        title = "Calibration (top label)"
        y_label = "Observed accuracy"
    chart = reliability_chart(bins, title=title, y_label=y_label)
    text = (
        '<div class="notes">'
        f'<p class="note">Expected calibration error {fmt(cal.get("ece"))}, maximum '
        f"{fmt(cal.get('mce'))} over {len(bins)} non-empty bins. Points on the dashed "
        "diagonal are perfectly calibrated; above it the model is under-confident, below "
        "it over-confident.</p>"
    )
    per = cal.get("per_class") or []
    if per:
        worst = sorted(per, key=lambda c: -(c.get("ece") or 0.0))[:3]
        listed = ", ".join(f"{esc(c['name'])} ({fmt(c.get('ece'))})" for c in worst)
        text += f'<p class="note">One-vs-rest ECE, worst classes: {listed}.</p>'
    return f'<div class="with-note">{chart}{text}</div></div>'


def _threshold_charts(ev: Mapping[str, Any], marker: float | None) -> str:
    curves = [c for c in (ev.get("threshold_tradeoff") or []) if c.get("thresholds")]
    if not curves:
        return missing("No threshold trade-off: no class has positive rows.")
    single = len(curves) == 1
    figs = []
    for c in curves:
        series = [
            Series(
                "precision",
                c["thresholds"],
                c["precision"],
                color=PALETTE[0],
                width=1.8,
                label="precision",
            ),
            Series(
                "recall",
                c["thresholds"],
                c["recall"],
                color=PALETTE[2],
                width=1.8,
                dash="6 3",
                label="recall",
            ),
        ]
        if single:
            series.append(
                Series(
                    "f1",
                    c["thresholds"],
                    c["f1"],
                    color=PALETTE[1],
                    width=1.8,
                    dash="2 2",
                    label="F1",
                )
            )
        vline = (marker, f"chosen {marker:.3g}") if single and marker is not None else None
        figs.append(
            line_chart(
                series,
                title=f"P({c['name']}) threshold" if single else f"{c['name']} vs rest",
                x_label=f"Threshold on P({c['name']})",
                y_label="Score",
                width=420 if single else 270,
                height=300 if single else 210,
                vline=vline,
                show_legend=single,
            )
        )
    if not single:
        legend_series = [
            Series("precision", [], [], color=PALETTE[0], width=1.8),
            Series("recall", [], [], color=PALETTE[2], width=1.8, dash="6 3"),
        ]
        return f'{legend(legend_series)}<div class="charts small">{"".join(figs)}</div>'
    return f'<div class="charts">{"".join(figs)}</div>'


def evaluation_section(
    ev: Any,
    *,
    section_id: str,
    title: str,
    lede: str,
    threshold: float | None = None,
    collapse_curves: bool = False,
) -> str:
    """One evaluation: headline table, per-class table, confusion matrices and curves."""
    head = f'<section id="{section_id}"><h2>{esc(title)}</h2>'
    if not isinstance(ev, Mapping) or not ev.get("metrics"):
        return head + missing(f"No {title.lower()} results were given.") + "</section>"
    n = ev.get("n_samples")
    rule = ev.get("decision_rule")
    rule_text = (
        "Labels are the most probable class."
        if rule == "argmax"
        else "Labels come from the chosen decision rule (see Operating point)."
    )
    parts = [
        head,
        f'<p class="lede">{esc(lede)} {fmt_count(n)} rows. {esc(rule_text)}</p>',
        '<div class="two-col">',
        f"<div><h3>Summary metrics</h3>{_metrics_table(ev)}</div>",
        "</div>",
        f"<h3>Per class</h3>{_per_class_table(ev)}",
        '<p class="note">Precision and recall intervals are Wilson score intervals; the F1 '
        "intervals of the averages come from the bootstrap. Micro-averaged F1 equals "
        "accuracy for single-label problems.</p>",
    ]
    notes = [str(n) for n in ev.get("notes") or []]
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        parts.append(f'<div class="notice"><b>Notes from the metrics</b><ul>{items}</ul></div>')
    cm = ev.get("confusion_matrix") or {}
    if cm.get("counts"):
        parts.append(
            '<h3>Confusion matrix</h3><div class="charts">'
            + heatmap(cm["counts"], cm["labels"], title="Counts")
            + heatmap(
                cm["normalized"],
                cm["labels"],
                title="Row-normalised (recall per class)",
                percent=True,
            )
            + "</div>"
        )
    curves = (
        '<h3>ROC and precision-recall</h3><div class="charts">'
        + _roc_chart(ev)
        + _pr_chart(ev)
        + "</div><h3>Calibration</h3>"
        + _calibration_chart(ev)
        + "<h3>Precision and recall against the threshold</h3>"
        + '<p class="note">How precision and recall of each class (one-vs-rest) move as the '
        "probability cut-off rises.</p>" + _threshold_charts(ev, threshold)
    )
    if collapse_curves:
        parts.append(f"<details><summary>Curves on this set</summary>{curves}</details>")
    else:
        parts.append(curves)
    parts.append("</section>")
    return "".join(parts)


def _coefficient_charts(coef: Mapping[str, Any], top: int = 10) -> str:
    features = [str(f) for f in coef.get("features") or []]
    rows = coef.get("rows") or []
    figs = []
    for r in rows[:12]:
        values = list(r.get("coef") or [])
        order = sorted(range(len(values)), key=lambda i: -abs(values[i]))[:top]
        bars = [Bar(features[i], float(values[i])) for i in order if i < len(features)]
        if bars:
            figs.append(
                bar_chart(bars, title=f"{r.get('label')}", x_label="coefficient", width=330)
            )
    note = ""
    if len(rows) > 12:
        note = (
            f'<p class="note">Charts for the first 12 of {len(rows)} rows; '
            "all are in the table.</p>"
        )
    return f'<div class="charts small">{"".join(figs)}</div>{note}'


def _coefficient_table(coef: Mapping[str, Any]) -> str:
    features = [str(f) for f in coef.get("features") or []]
    rows = coef.get("rows") or []
    headers = ["Feature"]
    for r in rows:
        headers += [f"{r.get('label')} coef", "odds ratio"]
    body = []
    for i, f in enumerate(features):
        line = [esc(f)]
        for r in rows:
            c = (r.get("coef") or [None] * len(features))[i]
            o = (r.get("odds_ratio") or [None] * len(features))[i]
            line += [fmt(c), fmt(o)]
        body.append(line)
    intercepts = [r.get("intercept") for r in rows]
    if any(v is not None for v in intercepts):
        line = ["<i>intercept</i>"]
        for v in intercepts:
            line += [fmt(v), ""]
        body.append(line)
    return table(headers, body, numeric=[False] + [True] * (len(headers) - 1), cls="dense")


def explain_section(coefficients: Any, importance: Any) -> str:
    """Coefficients / odds ratios per class, and permutation importance."""
    parts = ['<section id="explain"><h2>What the model relies on</h2>']
    parts.append('<h3 id="importance">Permutation importance</h3>')
    if isinstance(importance, Mapping) and importance.get("features"):
        feats = importance["features"]
        bars = [
            Bar(
                str(f.get("feature")),
                float(f.get("importance_mean") or 0.0),
                float(f.get("importance_mean") or 0.0) - float(f.get("importance_std") or 0.0),
                float(f.get("importance_mean") or 0.0) + float(f.get("importance_std") or 0.0),
            )
            for f in feats[:20]
        ]
        metric = importance.get("metric", "score")
        parts.append(
            f'<p class="lede">Drop in {esc(metric_name(metric))} (baseline '
            f"{fmt(importance.get('baseline'))}) when one original column is shuffled, "
            f"{esc(importance.get('n_repeats', ''))} times each on "
            f"{fmt_count(importance.get('n_samples'))} rows; bars show mean ± one standard "
            "deviation. It measures the whole pipeline, so it is in the units of the input "
            "table.</p>"
        )
        parts.append(
            bar_chart(bars, title="Top features", x_label=f"drop in {metric_name(metric)}")
        )
        if len(feats) > 20:
            parts.append(f'<p class="note">Top 20 of {len(feats)} features shown.</p>')
    else:
        parts.append(missing("Permutation importance was not computed for this run."))
    parts.append('<h3 id="coefficients">Coefficients and odds ratios</h3>')
    if isinstance(coefficients, Mapping) and coefficients.get("rows"):
        parts.append(f'<p class="lede">{esc(coefficients.get("note", ""))}</p>')
        parts.append(_coefficient_charts(coefficients))
        parts.append(
            "<details><summary>All coefficients and odds ratios</summary>"
            + _coefficient_table(coefficients)
            + "</details>"
        )
    else:
        parts.append(missing("No coefficients were given (the model may not be linear)."))
    parts.append("</section>")
    return "".join(parts)
