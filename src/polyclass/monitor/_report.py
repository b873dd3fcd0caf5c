"""The monitoring report: one self-contained HTML page (inline SVG, no network).

Sections: status and alerts, the log read (with skipped segments), feature drift (a
table, then each feature's reference and current distributions drawn over each other,
most-moved first), prediction drift, and the time series of every metric with its
alert threshold. Charts and tables reuse the model report's building blocks.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polyclass.monitor._config import DRIFT_ALERT_RULES
from polyclass.report.blocks import CSS, EN_DASH, PALETTE, Series, esc, fmt, line_chart, table

_REF_FILL = "#c9d1da"
_DRIFT_COLUMNS = (
    "feature",
    "kind",
    "method",
    "statistic",
    "p-value",
    "drift when",
    "drifted",
    "missing",
    "rows",
)
_CUR_FILL = PALETTE[0]


def _overlay_bars(
    labels: Sequence[str],
    ref: Sequence[float],
    cur: Sequence[float],
    *,
    title: str,
    ticks: Sequence[str] | None = None,
    width: int = 420,
    height: int = 200,
) -> str:
    """Reference (wide, light) and current (narrow, dark) proportions drawn over each other."""
    n = max(len(labels), 1)
    left, right, top, bottom = 40, 8, 10, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([*ref, *cur, 1e-9])
    ymax = min(1.0, peak * 1.15)
    slot = plot_w / n
    body = []
    for t in (0.0, ymax / 2, ymax):
        y = top + plot_h - t / ymax * plot_h
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="#e7eaee"/><text x="{left - 4}" y="{y + 3.5:.1f}" '
            f'text-anchor="end" class="tick">{t:.0%}</text>'
        )
    for i, lab in enumerate(labels):
        x0 = left + i * slot
        for value, frac, color, who in (
            (ref[i], 0.84, _REF_FILL, "reference"),
            (cur[i], 0.42, _CUR_FILL, "current"),
        ):
            h = value / ymax * plot_h
            w = slot * frac
            body.append(
                f'<rect x="{x0 + (slot - w) / 2:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{w:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{esc(lab)} — {who} {value:.1%}</title></rect>"
            )
        if n <= 12:
            tick = ticks[i] if ticks is not None else lab
            short = tick if len(tick) <= 10 else tick[:9] + "…"
            body.append(
                f'<text x="{x0 + slot / 2:.1f}" y="{top + plot_h + 14}" '
                f'text-anchor="middle" class="tick">{esc(short)}</text>'
            )
    svg = (
        f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(title)}">{"".join(body)}</svg>'
    )
    legend = (
        f'<ul class="legend"><li><svg width="14" height="10"><rect width="14" height="10" '
        f'fill="{_REF_FILL}"/></svg><span>reference</span></li><li><svg width="14" '
        f'height="10"><rect width="14" height="10" fill="{_CUR_FILL}"/></svg>'
        f"<span>current</span></li></ul>"
    )
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{svg}{legend}</figure>'


def _interval_labels(edges: Sequence[float | None]) -> list[str]:
    vals = [e if e is not None else float("nan") for e in edges]
    out = []
    for i in range(len(vals) - 1):
        lo = "-∞" if i == 0 else f"{vals[i]:.4g}"
        hi = "+∞" if i == len(vals) - 2 else f"{vals[i + 1]:.4g}"
        out.append(f"({lo}, {hi}]")
    return out


def _feature_chart(f: dict[str, Any]) -> str:
    labels = f["labels"] if f.get("edges") is None else _interval_labels(f["edges"])
    ref = [v or 0.0 for v in f["reference"]]
    cur = [v or 0.0 for v in f["current"]]
    verdict = "drifted" if f["drifted"] else "stable"
    judged = (
        f"p-value {fmt(f['p_value'], 3)}"
        if f.get("p_value") is not None
        else fmt(f["statistic"], 4)
    )
    title = f"{f['name']} — {verdict} ({f['method']} {judged})"
    numeric = f.get("edges") is not None
    ticks = [str(i + 1) for i in range(len(labels))] if numeric else None
    chart = _overlay_bars(labels, ref, cur, title=title, ticks=ticks)
    if numeric:
        chart += (
            '<p class="note">Bars 1, 2, ... are the reference deciles of the column '
            f"(about 10% of the training rows each): {esc(', '.join(labels))}.</p>"
        )
    return f'<div class="feature-chart">{chart}</div>'


def _series_chart(
    title: str,
    y_label: str,
    xs: list[float],
    lines: list[tuple[str, list[float | None], str]],
    thresholds: list[tuple[float | None, str]],
) -> str:
    values = [v for _, ys, _ in lines for v in ys if v is not None and math.isfinite(v)]
    values += [t for t, _ in thresholds if t is not None]
    if not values or not xs:
        return ""
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.1, 0.01)
    y_range = (max(0.0, lo - pad), min(1.0, hi + pad)) if hi <= 1 else (lo - pad, hi + pad)
    x_range = (min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1)
    series = [
        Series(name, xs, ys, color=PALETTE[i % len(PALETTE)], dash=dash, markers=True)
        for i, (name, ys, dash) in enumerate(lines)
    ]
    for j, (threshold, label) in enumerate(thresholds):
        if threshold is not None:
            series.append(
                Series(
                    label,
                    [x_range[0], x_range[1]],
                    [threshold, threshold],
                    color=("#CC3311", "#EE7733")[j % 2],
                    dash="5 4",
                    width=1.4,
                )
            )
    return line_chart(
        series,
        title=title,
        x_label="window (hours from the first)",
        y_label=y_label,
        x_range=x_range,
        y_range=y_range,
        width=560,
        height=260,
    )


def _hours(windows: list[dict[str, Any]]) -> list[float]:
    from datetime import datetime

    if not windows:
        return []
    t0 = datetime.fromisoformat(windows[0]["start"].replace("Z", "+00:00"))
    return [
        (datetime.fromisoformat(w["start"].replace("Z", "+00:00")) - t0).total_seconds() / 3600
        for w in windows
    ]


def _alerts_html(d: dict[str, Any]) -> str:
    few = (d.get("drift") or {}).get("too_few_rows")
    if not d["alerts"] and few:
        return f'<p class="note"><strong>No alert fired</strong>, but {esc(few)}.</p>'
    if not d["alerts"]:
        return '<p class="ok"><strong>All well:</strong> no alert fired.</p>'
    items = "".join(
        f"<li><strong>{esc(a['kind'].replace('_', ' '))}</strong>: {esc(a['message'])}</li>"
        for a in d["alerts"]
    )
    cmd = d["alerts"][0]["retrain_command"]
    return (
        f'<div class="alert"><p><strong>{len(d["alerts"])} alert(s)</strong></p>'
        f"<ul>{items}</ul><p>Retraining command:</p><pre>{esc(cmd)}</pre></div>"
    )


def _log_html(d: dict[str, Any]) -> str:
    log = d["log"]
    rows = [
        [esc(k), esc(v)]
        for k, v in (
            ("log folder", log["dir"]),
            ("prediction segments read", log["segments"]),
            ("feedback segments read", log["feedback_segments"]),
            ("predicted rows", log["rows"]),
            ("first / last prediction", f"{log['first']} / {log['last']}"),
            ("window", log["window"]),
        )
    ]
    out = table(["", ""], rows)
    if log["other_versions"]:
        out += (
            f'<p class="note">Rows of other model versions left out: '
            f"{esc(json.dumps(log['other_versions']))}.</p>"
        )
    if log["problems"]:
        probs = "".join(
            f"<li><code>{esc(p['path'])}</code> ({esc(p['kind'])}): {esc(p['reason'])}</li>"
            for p in log["problems"]
        )
        out += (
            f'<div class="alert"><p><strong>{len(log["problems"])} segment problem(s)'
            f"</strong>: skipped, the rest was read.</p><ul>{probs}</ul></div>"
        )
    return out


def _drift_html(d: dict[str, Any]) -> str:
    drift = d.get("drift")
    if not drift:
        return "<p>No drift computed.</p>" + "".join(f"<p>{esc(n)}</p>" for n in d["notes"])
    # the verdict is the alert rule's (it decides the exit status), dataset drift one input
    fired = any(a["kind"] == "data_drift" for a in d["alerts"])
    rule = d.get("drift_alert", "")
    rule_text = (
        f" (rule {esc(rule)}: {DRIFT_ALERT_RULES[rule]})" if rule in DRIFT_ALERT_RULES else ""
    )
    dataset = "dataset drift" if drift["dataset_drift"] else "no dataset drift"
    head = (
        f"<p><strong>{'Drift alert' if fired else 'No drift alert'}</strong>{rule_text}: "
        f"{drift['n_drifted']} of {drift['n_features']} features drifted (share "
        f"{fmt(drift['drift_share'])}; {dataset} at threshold {fmt(drift['threshold'])}). "
        f"Moved most: {esc(', '.join(drift['top']))}.</p>"
    )
    feats = sorted(drift["features"], key=lambda f: -(f["stats"].get("jensenshannon") or 0))
    verdicts = [
        [
            esc(f["name"]),
            esc(f["kind"]),
            esc(f["method"]),
            fmt(f["statistic"], 4),
            fmt(f["p_value"], 3) if f.get("p_value") is not None else EN_DASH,
            ("p &lt; " if f.get("p_value") is not None else "≥ ") + fmt(f["threshold"], 3),
            "<strong>yes</strong>" if f["drifted"] else "no",
            fmt(f["missing_share"], 3),
            fmt(f"{f['n']:,}"),
        ]
        for f in feats
    ]
    tbl = table(
        list(_DRIFT_COLUMNS),
        verdicts,
        numeric=[False, False, False, True, True, True, False, True, True],
    )
    every = [
        [
            esc(f["name"]),
            fmt(f["stats"].get("psi"), 3),
            fmt(f["stats"].get("ks"), 3),
            fmt(f["stats"].get("jensenshannon"), 3),
            fmt(f["stats"].get("wasserstein_norm"), 3),
        ]
        for f in feats
    ]
    tbl += (
        '<p class="note">Each feature is judged by its method alone: a test by its '
        "p-value, a distance by its statistic. Every statistic, for comparison:</p>"
    )
    tbl += table(
        ["feature", "PSI", "KS D", "JS distance", "Wasserstein / std"],
        every,
        numeric=[False, True, True, True, True],
    )
    charts = "".join(_feature_chart(f) for f in feats)
    return head + tbl + f'<div class="charts">{charts}</div>'


def _prediction_html(d: dict[str, Any]) -> str:
    pred = d.get("prediction") or {}
    out = ""
    mix = pred.get("class_mix")
    if mix:
        out += _feature_chart({**mix, "name": "predicted class mix"})
    rows = [
        [
            esc(s["name"]),
            esc(s["method"]),
            fmt(s["statistic"], 4),
            fmt(s["p_value"], 3) if s.get("p_value") is not None else EN_DASH,
            "<strong>yes</strong>" if s["drifted"] else "no",
            fmt(s["stats"].get("psi"), 3),
            fmt(s["stats"].get("ks"), 3),
        ]
        for s in pred.get("scores", [])
    ]
    if rows:
        out += (
            "<p>Score distributions (each class's probability) against the reference "
            f"({esc(d['model'].get('score_rows') or 'held-out')} rows):</p>"
        )
        out += table(
            ["score", "method", "statistic", "p-value", "drifted", "PSI", "KS D"],
            rows,
            numeric=[False, False, True, True, False, True, True],
        )
    return out or "<p>No prediction reference stored in this model.</p>"


def _performance_html(d: dict[str, Any]) -> str:
    live = d.get("live") or {}
    est = d.get("estimate") or {}
    metric = d["performance_metric"]
    thr = d["performance_threshold"]
    out = []
    overall = live.get("overall") or {}
    if overall.get("n"):

        def ci(key: str) -> str:
            c = overall.get(f"{key}_ci")
            return f"{fmt(c[0])}{EN_DASH}{fmt(c[1])}" if c else "—"

        rows = [
            [esc(k), fmt(overall.get(k), 4), ci(k)]
            for k in (
                "accuracy",
                "f1_macro",
                "f1_weighted",
                "precision_macro",
                "recall_macro",
                "balanced_accuracy",
            )
        ]
        out.append(
            f"<p>{live['n_labelled']:,} of {live['n_predictions']:,} predictions carry a "
            f"label (coverage {fmt(live.get('label_coverage'))}).</p>"
        )
        out.append(table(["metric", "value", "95% interval"], rows, numeric=[False, True, False]))
        pc = [
            [
                esc(lab),
                fmt(m.get("precision"), 3),
                fmt(m.get("recall"), 3),
                fmt(m.get("f1"), 3),
                fmt(m.get("support")),
            ]
            for lab, m in overall.get("per_class", {}).items()
        ]
        out.append(
            table(
                ["class", "precision", "recall", "F1", "support"],
                pc,
                numeric=[False, True, True, True, True],
            )
        )
    else:
        out.append(
            "<p>No feedback labels joined yet: the live metrics below are estimates "
            "from the model's probabilities (CBPE).</p>"
        )
    eo = est.get("overall") or {}
    if eo.get("too_few_rows"):
        out.append(f"<p>Estimated (CBPE): no estimate, {esc(eo['too_few_rows'])}.</p>")
    elif eo.get("n"):
        out.append(
            f"<p>Estimated (CBPE, assumes calibrated probabilities): accuracy "
            f"{fmt(eo.get('accuracy'), 4)} (±{fmt((eo['accuracy_ci'][1] - eo['accuracy_ci'][0]) / 2, 3)}), "  # noqa: E501
            f"macro F1 {fmt(eo.get('f1_macro'), 4)} on {eo['n']:,} rows.</p>"
        )
    out.append(_series_html(d, live, est, metric, thr))
    return "".join(out)


#: The CBPE estimate's key for a live metric (the estimate has no balanced accuracy: it
#: equals macro recall; it has no positive-class F1).
_ESTIMATE_KEY = {"balanced_accuracy": "recall_macro", "f1": ""}


def _series_html(
    d: dict[str, Any],
    live: dict[str, Any],
    est: dict[str, Any],
    metric: str,
    thr: float | None,
) -> str:
    """The metrics per window with their thresholds, or why there is no series."""
    windows = live.get("windows") or []
    est_w = est.get("windows") or []
    src = est_w or windows
    if len(src) < 2:
        return (
            f'<p class="note">All predictions fall in one window of {esc(d["log"]["window"])}: '
            "a series over time needs at least two. Run again with a shorter --window "
            "(e.g. --window 10m) or over a longer period.</p>"
        )
    xs = _hours(src)
    live_by_start = {w["start"]: w for w in windows}
    out = []
    for key in dict.fromkeys([metric, "accuracy"]):
        name = key.replace("_", " ")
        lines: list[tuple[str, list[float | None], str]] = [
            (f"live {name}", [live_by_start.get(w["start"], {}).get(key) for w in src], "")
        ]
        est_key = _ESTIMATE_KEY.get(key, key)
        if est_w and est_key:
            lines.append((f"estimated {name} (CBPE)", [w.get(est_key) for w in est_w], "4 3"))
        marks: list[tuple[float | None, str]] = []
        if key == metric:
            marks = [(thr, f"alert threshold ({metric})")]
            if est_w and d.get("estimate_threshold") != thr:
                marks.append((d.get("estimate_threshold"), "alert threshold (estimate)"))
        out.append(_series_chart(f"{name} per window", name, xs, lines, marks))
    dw = d.get("drift_windows") or []
    if len(dw) >= 2:
        drift = d.get("drift") or {}
        out.append(
            _series_chart(
                "share of drifted features per window",
                "share",
                _hours(dw),
                [("drift share", [w["drift_share"] for w in dw], "")],
                [(drift.get("threshold"), "dataset drift threshold")],
            )
        )
    return "".join(out)


_EXTRA_CSS = """
.kicker{letter-spacing:.08em}.alert{border-left:4px solid #CC3311;background:#fff4f2;
padding:8px 14px;margin:12px 0}.ok{border-left:4px solid #117733;background:#f1faf3;
padding:8px 14px}.charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#6a737d;
font-size:12.5px}pre{white-space:pre-wrap;background:#f6f8fa;padding:8px}
"""


def _versions_html(v: dict[str, Any]) -> str:
    """Every version in the log (a canary, a shadow): rows, live metrics, drift, agreement."""

    def num(x: Any, digits: int = 3) -> str:
        return "—" if x is None else f"{x:.{digits}f}"

    rows = []
    for entry in v["versions"]:
        live, drift = entry["live"], entry.get("drift") or {}
        ci = live.get("accuracy_ci") or [None, None]
        f1ci = live.get("f1_macro_ci") or [None, None]
        rows.append(
            f"<tr><td>{entry['version']}</td><td>{entry['rows']:,}</td>"
            f"<td>{entry['labelled']:,}</td>"
            f"<td>{num(live.get('accuracy'))} [{num(ci[0])}, {num(ci[1])}]</td>"
            f"<td>{num(live.get('f1_macro'))} [{num(f1ci[0])}, {num(f1ci[1])}]</td>"
            f"<td>{esc(', '.join(drift.get('drifted') or []) or '—')}</td></tr>"
        )
    table = (
        "<table><tr><th>version</th><th>rows</th><th>labelled</th>"
        "<th>accuracy [95% CI]</th><th>macro F1 [95% CI]</th><th>drifted inputs</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    from polyclass.monitor._versions import shadow_coverage

    pairs = "".join(
        f"<li>versions {p['versions'][0]} and {p['versions'][1]} predict the same class on "
        f"{p['agreement']:.1%} of the {p['rows']:,} rows both predicted. "
        f"{esc(shadow_coverage(p))}</li>"
        for p in v["agreement"]
    )
    return table + (f"<ul>{pairs}</ul>" if pairs else "")


def render_monitor_html(d: dict[str, Any]) -> str:
    """The monitoring page for a ``MonitorResult.to_dict()``."""
    model = d["model"]
    name = f"{model['name']}" + (f" v{model['version']}" if model.get("version") else "")
    status = "ALERT" if d["alerts"] else "OK"
    sections = [
        (
            "status",
            "Status",
            _alerts_html(d) + "".join(f'<p class="note">{esc(n)}</p>' for n in d["notes"]),
        ),
        ("log", "Prediction log", _log_html(d)),
        ("drift", "Feature drift", _drift_html(d)),
        ("prediction", "Prediction drift", _prediction_html(d)),
        ("performance", "Performance over time", _performance_html(d)),
    ]
    if d.get("versions"):
        sections.append(("versions", "Versions side by side", _versions_html(d["versions"])))
    toc = "".join(f'<li><a href="#{i}">{esc(t)}</a></li>' for i, t, _ in sections)
    body = "".join(
        f'<section id="{i}"><h2>{esc(t)}</h2>{html}</section>' for i, t, html in sections
    )
    period = f"{d['log'].get('first') or '—'} → {d['log'].get('last') or '—'}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="polyclass">'
        f"<title>{esc(name)} · monitoring · {status}</title>"
        f"<style>{CSS}{_EXTRA_CSS}</style></head><body>"
        '<header class="top"><div class="wrap"><div class="kicker">polyclass · monitoring'
        f'</div><h1>{esc(name)}: {status}</h1><p class="meta"><span>{esc(period)}</span>'
        f"<span>{d['log']['rows']:,} predictions</span></p></div></header>"
        '<div class="wrap layout"><nav class="toc" aria-label="Contents"><div class="h">'
        f"Contents</div><ol>{toc}</ol></nav><main>{body}</main></div>"
        '<footer><div class="wrap">Written by polyclass monitor. Drift statistics are '
        "computed on the model's stored reference bins; estimated metrics assume "
        "calibrated probabilities.</div></footer></body></html>\n"
    )


def write_monitor_report(out_dir: str | Path, result: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``monitor.html`` and ``monitor.json`` into ``out_dir`` (atomically each)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (
        ("monitor.html", render_monitor_html(result)),
        ("monitor.json", json.dumps(result, indent=2, allow_nan=False)),
    ):
        target = out / name
        tmp = out / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        paths.append(target)
    return paths[0], paths[1]
