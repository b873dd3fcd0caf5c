"""Report sections for the model families: the leaderboard with each family's calibration,
the refit on every row, and partial dependence of the most important features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyclass.report._html import fmt, fmt_seconds, inline_params, is_num, metric_name, table
from polyclass.report._plots import PALETTE, Bar, Series, bar_chart, esc, line_chart


def _size(n: Any) -> str:
    if not is_num(n):
        return "—"
    return f"{n / 1024:,.0f} KiB" if n >= 1024 else f"{n:,.0f} B"


def _interval(row: Mapping[str, Any]) -> str:
    ci = row.get("cv_interval")
    if isinstance(ci, list) and len(ci) == 2:
        return f"{fmt(ci[0], 4)} to {fmt(ci[1], 4)}"
    return "—"


def _difference(row: Mapping[str, Any]) -> str:
    if row.get("status") == "chosen":
        return "—"
    diff, ci = row.get("difference"), row.get("difference_interval")
    text = f"{diff:+.4f}" if is_num(diff) else "—"
    if isinstance(ci, list) and len(ci) == 2:
        text += f" ({ci[0]:+.4f} to {ci[1]:+.4f})"
    return text


def _calibration_chart(rows: list[Mapping[str, Any]]) -> str:
    """Out-of-fold reliability of each family's top probability, on one chart."""
    series = []
    for i, row in enumerate(rows):
        curve = row.get("calibration")
        if not isinstance(curve, Mapping) or not curve.get("confidence"):
            continue
        ece = curve.get("ece")
        label = f"{row['family']} (ECE {ece:.3f})" if is_num(ece) else str(row["family"])
        series.append(
            Series(
                str(row["family"]),
                list(curve["confidence"]),
                list(curve["accuracy"]),
                color=PALETTE[i % len(PALETTE)],
                markers=True,
                label=label,
            )
        )
    if not series:
        return ""
    return line_chart(
        series,
        title="Calibration per family (out-of-fold, top class)",
        x_label="Mean top probability",
        y_label="Share predicted right",
        diagonal=True,
    )


def leaderboard_section(board: Any, refit: Any = None) -> str:
    """The families side by side: CV score with interval, paired difference to the
    chosen one, fit and predict time, model size; skipped families with their reason."""
    parts = ['<section id="families"><h2>Model families compared</h2>']
    if not isinstance(board, Mapping) or not board.get("families"):
        return parts[0] + "<p>No family leaderboard was given.</p></section>"
    metric = str(board.get("metric") or "score")
    found = board.get("search")
    search: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    lede = (
        f"Every candidate of every family was scored on the same stratified folds "
        f"({metric_name(metric)}); each row is a family's best candidate."
    )
    if search.get("n_candidates"):
        lede += (
            f" {search['n_candidates']} candidates, {search.get('n_fits')} fits on "
            f"{search.get('workers')} worker(s) in {fmt_seconds(search.get('seconds'))}"
        )
        if search.get("n_pruned"):
            lede += (
                f"; {search['n_pruned']} pruned early (successive halving, a family far behind "
                "the leader, or the time budget)"
            )
        lede += "."
    for note in search.get("notes") or []:
        lede += f" {note}"
    parts.append(f'<p class="lede">{esc(lede)}</p>')
    if board.get("why"):
        parts.append(f"<p><b>Chosen: {esc(board.get('chosen'))}.</b> {esc(board['why'])}</p>")
    scored = [
        r for r in board["families"] if isinstance(r, Mapping) and r.get("status") != "skipped"
    ]
    bars, rows = [], []
    for r in board["families"]:
        if not isinstance(r, Mapping):
            continue
        if r.get("status") == "skipped":
            rows.append(
                [
                    f'<b>{esc(r.get("family"))}</b> <span class="badge">skipped</span>',
                    esc(r.get("reason")),
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ]
            )
            continue
        chosen = r.get("status") == "chosen"
        ci = r.get("cv_interval")
        mean = float(r["cv_mean"])
        lo, hi = (ci[0], ci[1]) if isinstance(ci, list) else (mean, mean)
        bars.append(
            Bar(str(r["family"]), mean, lo, hi, highlight=chosen, note="chosen" if chosen else "")
        )
        rows.append(
            [
                f"<b>{esc(r['family'])}</b>"
                + (' <span class="badge ok">chosen</span>' if chosen else ""),
                fmt(mean, 4),
                _interval(r),
                _difference(r),
                fmt_seconds(r.get("fit_seconds")),
                fmt(r.get("predict_seconds_per_1000"), 4),
                _size(r.get("size_bytes")),
                inline_params(r.get("best_params")),
            ]
        )
    if bars:
        parts.append(
            bar_chart(
                bars,
                title="Cross-validated score (95% interval over folds)",
                dots=True,
                x_label=metric_name(metric),
                width=560,
            )
        )
    parts.append(
        table(
            [
                "Family",
                "CV mean",
                "95% interval",
                "Paired difference to chosen",
                "Fit time (per fold)",
                "Predict s per 1,000 rows",
                "Model size",
                "Best parameters",
            ],
            rows,
            numeric=[False, True, False, False, True, True, True, False],
        )
    )
    parts.append(
        '<p class="note">Intervals are Student t intervals over the folds; folds share '
        "training rows, so they are a guide rather than a test.</p>"
    )
    parts.append(_calibration_chart(scored))
    if isinstance(refit, Mapping) and refit.get("note"):
        parts.append(f'<p class="note"><b>Refitted on every row.</b> {esc(refit["note"])}</p>')
    parts.append("</section>")
    return "".join(parts)


def partial_dependence_section(pdp: Any) -> str:
    """One chart per important feature: the mean probability of each class along it."""
    if not isinstance(pdp, Mapping) or not pdp.get("features"):
        return ""
    classes = [str(c) for c in pdp.get("classes") or []]
    parts = [
        '<section id="dependence"><h2>Partial dependence</h2>',
        '<p class="lede">For the most important features: the mean predicted probability of '
        f"each class as the feature is set to each value, over {pdp.get('n_samples')} test "
        "rows (works for every family).</p>",
        '<div class="charts">',
    ]
    for entry in pdp["features"]:
        grid, means = entry["grid"], entry["mean_proba"]
        numeric = entry.get("kind") == "numeric"
        xs = [float(g) for g in grid] if numeric else list(range(len(grid)))
        series = [
            Series(
                c,
                xs,
                [m[j] for m in means],
                color=PALETTE[j % len(PALETTE)],
                markers=not numeric,
                label=c,
            )
            for j, c in enumerate(classes)
        ]
        x_label = str(entry["feature"])
        if not numeric:
            x_label += ": " + ", ".join(f"{i}={g}" for i, g in enumerate(grid))
        parts.append(
            line_chart(
                series,
                title=f"Partial dependence on {entry['feature']}",
                x_label=x_label[:80],
                y_label="Mean probability",
                x_range=(min(xs), max(xs)),
                y_range=(0.0, 1.0),
            )
        )
    parts.append("</div></section>")
    return "".join(parts)
