"""Report sections about the problem, the data, the search and the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from polyclass.report._html import (
    fmt,
    fmt_ci,
    fmt_count,
    fmt_pct,
    fmt_seconds,
    inline_params,
    is_num,
    kv_table,
    metric_name,
    missing,
    records_table,
    table,
)
from polyclass.report._plots import Bar, bar_chart, esc

_CODE_KEYS = frozenset(
    {
        "artifact_path",
        "fingerprint",
        "path",
        "uri",
        "data_fingerprint",
        "command",
        "training data fingerprint (SHA-256 of the table)",
        "evaluated data fingerprint (SHA-256 of the table)",
    }
)
HEADLINE_FALLBACKS = ("f1_macro", "roc_auc", "balanced_accuracy", "accuracy")


def headline(context: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None, str]:
    """(metric key, its entry in the test (or validation) metrics, which set)."""
    problem = context.get("problem") or {}
    wanted = problem.get("metric") if isinstance(problem, Mapping) else None
    for set_name in ("test", "validation"):
        ev = context.get(set_name)
        if not isinstance(ev, Mapping):
            continue
        metrics = ev.get("metrics") or {}
        for key in (wanted, *HEADLINE_FALLBACKS):
            if key is not None and isinstance(metrics.get(key), Mapping):
                return str(key), metrics[key], set_name
    return str(wanted or "metric"), None, ""


def set_label(context: Mapping[str, Any], set_name: str) -> str:
    """What the headline's rows are called: ``test``, or what an evaluation scored."""
    scored = context.get("scored")
    if set_name == "test" and isinstance(scored, Mapping) and scored.get("set"):
        return str(scored["set"])
    return set_name


def _reasons(problem: Mapping[str, Any]) -> list[str]:
    raw = problem.get("metric_reasons") or problem.get("reasons") or []
    if isinstance(raw, str):
        return [raw]
    return [str(r) for r in raw] if isinstance(raw, Sequence) else [str(raw)]


def _strategy_rows(strategies: Any) -> list[Mapping[str, Any]]:
    if isinstance(strategies, Mapping):
        rows = strategies.get("summary") or strategies.get("strategies") or []
    else:
        rows = strategies or []
    return [r for r in rows if isinstance(r, Mapping)]


def _chosen_strategy(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    rows = _strategy_rows(context.get("strategies"))
    strategies = context.get("strategies")
    chosen = strategies.get("chosen") if isinstance(strategies, Mapping) else None
    for r in rows:
        if r.get("selected") or r.get("chosen") or (chosen and r.get("strategy") == chosen):
            return r
    return None


def summary_section(context: Mapping[str, Any]) -> str:
    """Cards with the headline metric, chosen strategy, test result and data size."""
    key, entry, set_name = headline(context)
    cards = []
    if entry is not None:
        level = float((context.get(set_name) or {}).get("confidence_level", 0.95))
        ci = entry.get("ci")
        ci_text = f"{level * 100:.0f}% CI {fmt_ci(ci)}" if ci else "no interval for this metric"
        cards.append(
            f'<div class="card lead"><div class="label">{esc(metric_name(key))} · '
            f"{esc(set_label(context, set_name))}"
            f'</div><div class="big">{fmt(entry.get("value"))}</div>'
            f'<div class="sub">{ci_text}</div></div>'
        )
    else:
        cards.append(
            '<div class="card lead"><div class="label">Headline metric</div>'
            '<div class="big">—</div><div class="sub">no evaluation given</div></div>'
        )
    chosen = _chosen_strategy(context)
    if chosen is not None:
        cards.append(
            f'<div class="card"><div class="label">Chosen strategy</div><div class="mid">'
            f'{esc(chosen.get("strategy", "?"))}</div><div class="sub">CV '
            f"{fmt(chosen.get('cv_mean'))} ± {fmt(chosen.get('cv_std'))}</div></div>"
        )
    elif context.get("strategies") is not None:
        cards.append(
            '<div class="card"><div class="label">Chosen strategy</div><div class="mid">—</div>'
            '<div class="sub">no search results given</div></div>'
        )
    test = context.get("test")
    card = esc(_mapping(context.get("scored")).get("card") or "Test set")
    if isinstance(test, Mapping) and test.get("metrics"):
        m = test["metrics"]
        cards.append(
            f'<div class="card"><div class="label">{card}</div><div class="mid">'
            f"{fmt((m.get('accuracy') or {}).get('value'))} <small>accuracy</small></div>"
            f'<div class="sub">macro F1 {fmt((m.get("f1_macro") or {}).get("value"))} on '
            f"{fmt_count(test.get('n_samples'))} rows</div></div>"
        )
    else:
        cards.append(
            '<div class="card"><div class="label">Test set</div><div class="mid">—</div>'
            '<div class="sub">not evaluated</div></div>'
        )
    data = _mapping(context.get("data"))
    warnings = context.get("warnings")
    if data or warnings is not None:
        rows = _first(data, "n_rows", "rows")
        cols = _first(data, "n_features", "n_columns", "columns")
        n_warn = len(warnings or [])
        said = f"{n_warn} warning{'s' if n_warn != 1 else ''}"
        cards.append(
            f'<div class="card"><div class="label">Data</div><div class="mid">'
            f"{fmt_count(rows) if is_num(rows) else '—'} <small>rows</small></div>"
            f'<div class="sub">{fmt_count(cols) if is_num(cols) else "—"} features · '
            + (f'<a href="#warnings">{said}</a>' if warnings is not None else said)
            + "</div></div>"
        )
    return (
        '<section id="summary" class="first"><h2>Summary</h2>'
        f'<div class="cards">{"".join(cards)}</div>{_verdict(context, key)}</section>'
    )


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    return None


def _verdict(context: Mapping[str, Any], key: str) -> str:
    """One or two plain sentences comparing validation and test."""
    val = (
        (context.get("validation") or {}).get("metrics", {}).get(key)
        if isinstance(context.get("validation"), Mapping)
        else None
    )
    test = (
        (context.get("test") or {}).get("metrics", {}).get(key)
        if isinstance(context.get("test"), Mapping)
        else None
    )
    if not (isinstance(val, Mapping) and isinstance(test, Mapping)):
        return ""
    v, t, ci = val.get("value"), test.get("value"), test.get("ci")
    if not (is_num(v) and is_num(t)):
        return ""
    text = f"{metric_name(key)} was {fmt(v)} on validation and {fmt(t)} on the held-out test set"
    if isinstance(ci, Sequence) and len(ci) == 2 and all(is_num(c) for c in ci):
        inside = ci[0] <= v <= ci[1]
        text += (
            ", inside the test interval: the validation estimate holds up."
            if inside
            else ", outside the test interval: read the test number as the honest one."
        )
    else:
        text += "."
    return f'<p class="verdict">{esc(text)}</p>'


def problem_section(problem: Any) -> str:
    """Target, classes, positive class, costs, and the metric with the reasons for it."""
    parts = ['<section id="problem"><h2>Problem</h2>']
    if not isinstance(problem, Mapping) or not problem:
        return parts[0] + missing("No problem definition was given.") + "</section>"
    items: list[tuple[str, Any]] = []
    for key in ("target", "task", "classes", "positive_class", "costs", "metric"):
        if key in problem:
            v = problem[key]
            items.append((key, metric_name(v) if key == "metric" and v else v))
    skip = {
        "target",
        "task",
        "classes",
        "positive_class",
        "costs",
        "metric",
        "metric_reasons",
        "reasons",
    }
    items += [(k, v) for k, v in problem.items() if k not in skip]
    parts.append(kv_table(items))
    reasons = _reasons(problem)
    if reasons:
        lis = "".join(f"<li>{esc(r)}</li>" for r in reasons)
        parts.append(
            f"<h3>Why {esc(metric_name(problem.get('metric', 'this metric')))}</h3><ul>{lis}</ul>"
        )
    parts.append("</section>")
    return "".join(parts)


def warnings_section(warnings: Any) -> str:
    """Every data warning, as given."""
    parts = ['<section id="warnings"><h2>Data warnings</h2>']
    if warnings is None:
        return parts[0] + missing("No data checks were reported.") + "</section>"
    items = [w for w in warnings if isinstance(w, Mapping)] if isinstance(warnings, list) else []
    if not items:
        return parts[0] + '<p class="ok">The data checks raised no warnings.</p></section>'
    rows = []
    for w in items:
        level = str(w.get("severity") or w.get("level") or "warning")
        rows.append(
            [
                f'<span class="badge {esc(level.lower())}">{esc(level)}</span>',
                f"<code>{esc(w.get('column', '') or '—')}</code>",
                f"<code>{esc(w.get('code', ''))}</code>",
                esc(w.get("message", "")),
            ]
        )
    parts.append(table(["Level", "Column", "Code", "Message"], rows, cls="warnings"))
    parts.append("</section>")
    return "".join(parts)


def strategies_section(strategies: Any) -> str:
    """The strategies side by side: CV score with spread, fit time, best parameters."""
    parts = ['<section id="strategies"><h2>Strategies compared</h2>']
    rows = _strategy_rows(strategies)
    if not rows:
        return parts[0] + missing("No cross-validation results were given.") + "</section>"
    meta = strategies if isinstance(strategies, Mapping) else {}
    metric = meta.get("metric")
    folds = meta.get("n_splits") or meta.get("folds")
    lede = "Cross-validated score of the best candidate of each strategy"
    if metric:
        lede += f" ({metric_name(metric)})"
    if folds:
        lede += f" over {folds} stratified folds"
    parts.append(f'<p class="lede">{esc(lede)}; bars show ± one standard deviation.</p>')
    tuned, of = meta.get("tuned_on_rows"), meta.get("training_rows")
    if is_num(tuned) and is_num(of) and tuned < of:
        parts.append(
            f'<p class="note">Tuned on a stratified sample of {fmt_count(tuned)} of '
            f"{fmt_count(of)} training rows; the final model is fitted on every row.</p>"
        )
    chosen = meta.get("chosen")
    bars = []
    table_rows = []
    for r in rows:
        mean, std = r.get("cv_mean"), r.get("cv_std")
        sel = bool(r.get("selected") or r.get("chosen") or (chosen and r.get("strategy") == chosen))
        if is_num(mean):
            s = float(std) if is_num(std) else 0.0
            bars.append(
                Bar(
                    str(r.get("strategy")),
                    float(mean),
                    float(mean) - s,
                    float(mean) + s,
                    highlight=sel,
                    note="chosen" if sel else "",
                )
            )
        table_rows.append(
            [
                f"<b>{esc(r.get('strategy'))}</b>"
                + (' <span class="badge ok">chosen</span>' if sel else ""),
                fmt(mean, 4),
                fmt(std, 4),
                fmt_seconds(r.get("fit_seconds")),
                inline_params(r.get("best_params")),
            ]
        )
    if bars:
        parts.append(
            bar_chart(
                bars,
                title="Cross-validated score",
                dots=True,
                x_label=metric_name(metric or "score"),
                width=560,
            )
        )
    parts.append(
        table(
            ["Strategy", "CV mean", "CV std", "Fit time", "Best parameters"],
            table_rows,
            numeric=[False, True, True, True, False],
        )
    )
    candidates = meta.get("candidates")
    if isinstance(candidates, list) and candidates:
        parts.append(
            f"<details><summary>All {len(candidates):,} candidates</summary>"
            + records_table([c for c in candidates if isinstance(c, Mapping)])
            + "</details>"
        )
    parts.append("</section>")
    return "".join(parts)


def threshold_value(threshold: Any) -> float | None:
    """The numeric cut-off of a binary operating point, if there is one."""
    if isinstance(threshold, Mapping):
        for key in ("threshold", "value"):
            if is_num(threshold.get(key)):
                return float(threshold[key])
    return float(threshold) if is_num(threshold) else None


def _cost_matrix(matrix: Any, classes: Sequence[Any]) -> str:
    """A cost matrix as a table: rows the true class, columns the predicted class."""
    names = [str(c) for c in classes]
    ok = (
        isinstance(matrix, list)
        and len(matrix) == len(names)
        and all(isinstance(r, list) and len(r) == len(names) for r in matrix)
    )
    if not ok:
        return kv_table({"cost matrix": matrix})
    rows = [[f"<b>{esc(n)}</b>", *(fmt(v) for v in r)] for n, r in zip(names, matrix, strict=True)]
    return (
        "<h3>Cost matrix</h3><p class='note'>Cost of predicting the column's class when the "
        "row's class is true.</p>"
        + table(["true \\ predicted", *names], rows, numeric=[False] + [True] * len(names))
    )


def threshold_section(threshold: Any, classes: Sequence[Any] = ()) -> str:
    """The chosen operating point or cost-minimising decision rule."""
    parts = ['<section id="threshold"><h2>Operating point</h2>']
    if threshold is None or threshold == {}:
        return parts[0] + (
            '<p class="missing">No threshold or decision rule was tuned: predictions are the '
            "most probable class.</p></section>"
        )
    if isinstance(threshold, Mapping):
        desc = threshold.get("description") or threshold.get("reason")
        if desc:
            parts.append(f'<p class="lede">{esc(str(desc)[:1].upper() + str(desc)[1:])}.</p>')
        shown = {
            k: v
            for k, v in threshold.items()
            if k not in ("description", "reason", "cost_matrix") and v is not None
        }
        if shown:
            parts.append(kv_table(shown))
        if threshold.get("cost_matrix") is not None:
            parts.append(_cost_matrix(threshold["cost_matrix"], classes))
    else:
        parts.append(kv_table({"threshold": threshold}))
    parts.append("</section>")
    return "".join(parts)


def model_section(model: Any, timings: Any, split: Any = None) -> str:
    """Model identity (name, version, artifact, fingerprint), the split, step timings."""
    parts = ['<section id="model"><h2>Model and run</h2>']
    if isinstance(model, Mapping) and model:
        parts.append(kv_table(model, code_keys=_CODE_KEYS))
    else:
        parts.append(missing("The model was not saved or registered in this run."))
    if isinstance(split, Mapping) and split:
        total = sum(float(v) for v in split.values() if is_num(v))
        rows = [
            [esc(k), fmt_count(v), fmt_pct(float(v) / total) if is_num(v) and total else "—"]
            for k, v in split.items()
        ]
        parts.append(
            '<h3 id="split">Split</h3>'
            + table(["Part", "Rows", "Share"], rows, numeric=[False, True, True])
        )
    parts.append('<h3 id="timings">Timings</h3>')
    if isinstance(timings, Mapping) and timings:
        total = sum(float(v) for v in timings.values() if is_num(v))
        rows = [
            [
                esc(str(k).replace("_", " ")),
                fmt_seconds(v),
                fmt_pct(float(v) / total) if is_num(v) and total > 0 else "—",
            ]
            for k, v in timings.items()
        ]
        rows.append(["<b>total</b>", f"<b>{fmt_seconds(total)}</b>", ""])
        parts.append(table(["Step", "Time", "Share"], rows, numeric=[False, True, True]))
    else:
        parts.append(missing("No timings were recorded."))
    parts.append("</section>")
    return "".join(parts)
