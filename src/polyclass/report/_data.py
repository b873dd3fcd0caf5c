"""The data section: what ``polyclass.data.explore`` found, for people.

It reads explore's keys (``n_rows``, ``n_features``, ``target``, ``sample``,
``class_balance``, ``missingness``, ``features``, ``per_class``, ``correlations``) and
shows anything else it does not know generically, so a new key never breaks the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from polyclass.report._html import (
    fmt,
    fmt_count,
    fmt_pct,
    fmt_stat,
    is_num,
    kv_table,
    missing,
    table,
    value,
)
from polyclass.report._plots import PALETTE, Bar, bar_chart, esc

TOP_BARS = 20  # longest bar charts (association with the target)
FOLD_ROWS = 15  # feature tables longer than this start folded


def _fold(title: str, body: str, n_rows: int) -> str:
    """A heading and its table, folded into <details> when the table is long."""
    if n_rows <= FOLD_ROWS:
        return f"<h3>{esc(title)}</h3>{body}"
    return (
        f"<h3>{esc(title)}</h3><details><summary>Show all {n_rows:,} rows</summary>{body}</details>"
    )


KNOWN = {
    "n_rows",
    "rows",
    "n_columns",
    "columns",
    "n_features",
    "target",
    "source",
    "path",
    "sample",
    "class_balance",
    "missingness",
    "missing",
    "features",
    "per_class",
    "correlations",
    "column_kinds",
    "dropped_columns",
}


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    return None


def _balance_chart(raw: Any) -> str:
    rows: list[tuple[str, float]] = []
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            count = v.get("count") if isinstance(v, Mapping) else v
            if is_num(count):
                rows.append((str(k), float(count)))
    elif isinstance(raw, Sequence) and not isinstance(raw, str):
        for r in raw:
            if isinstance(r, Mapping) and is_num(r.get("count")):
                rows.append((str(_first(r, "class", "label", "name")), float(r["count"])))
    if not rows:
        return ""
    total = sum(c for _, c in rows) or 1.0
    bars = [Bar(n, c, note=fmt_pct(c / total)) for n, c in rows]
    return bar_chart(bars, title="Class balance", x_label="rows", width=440)


def _missing_chart(raw: Any) -> str:
    rows: list[tuple[str, float, Any]] = []
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            frac = v.get("fraction") if isinstance(v, Mapping) else v
            count = v.get("count") if isinstance(v, Mapping) else None
            if is_num(frac) and frac > 0:
                rows.append((str(k), float(frac), count))
    if not rows:
        return '<p class="note">No missing values.</p>' if raw is not None else ""
    rows.sort(key=lambda r: -r[1])
    bars = [
        Bar(n, f, note=f"{fmt_count(c)} rows" if is_num(c) else fmt_pct(f)) for n, f, c in rows[:25]
    ]
    return bar_chart(
        bars,
        title="Missing values (share of rows)",
        x_label="share of rows missing",
        width=440,
        x_range=(0.0, max(f for _, f, _ in rows) * 1.08),
    )


def _boxplot(s: Mapping[str, Any]) -> str:
    """A 130x16 box plot: whiskers q05-q95, box q25-q75, median tick; min/max dots."""
    keys = ("min", "q05", "q25", "median", "q75", "q95", "max")
    vals = [s.get(k) for k in keys]
    if not all(is_num(v) for v in vals):
        return ""
    lo, hi = float(s["min"]), float(s["max"])
    span = hi - lo or 1.0

    def x(v: Any) -> float:
        return 4 + (float(v) - lo) / span * 122

    mn, q05, q25, med, q75, q95, mx = (x(v) for v in vals)
    tip = esc(
        f"min {fmt(vals[0])}, 5% {fmt(vals[1])}, 25% {fmt(vals[2])}, median {fmt(vals[3])}, "
        f"75% {fmt(vals[4])}, 95% {fmt(vals[5])}, max {fmt(vals[6])}"
    )
    return (
        f'<svg class="spark" width="130" height="16" viewBox="0 0 130 16" role="img" '
        f'aria-label="{tip}"><title>{tip}</title>'
        f'<line x1="{q05:.1f}" y1="8" x2="{q95:.1f}" y2="8" stroke="#8b949e"/>'
        f'<rect x="{q25:.1f}" y="3" width="{max(q75 - q25, 1):.1f}" height="10" '
        f'fill="#dbe7f5" stroke="{PALETTE[0]}" stroke-width="0.8"/>'
        f'<line x1="{med:.1f}" y1="2" x2="{med:.1f}" y2="14" stroke="{PALETTE[0]}" '
        f'stroke-width="1.6"/><circle cx="{mn:.1f}" cy="8" r="1.4" fill="#8b949e"/>'
        f'<circle cx="{mx:.1f}" cy="8" r="1.4" fill="#8b949e"/></svg>'
    )


def _top_values(s: Mapping[str, Any], n: int = 4) -> str:
    top = s.get("top") or []
    parts = [
        f"{esc(t.get('value'))} <span class='ci'>{fmt_pct(t.get('fraction'), 0)}</span>"
        for t in top[:n]
        if isinstance(t, Mapping)
    ]
    more = len(top) - n if len(top) > n else 0
    other = s.get("other_count")
    tail = f" <span class='ci'>+{more} more</span>" if more else ""
    if is_num(other) and other > 0:
        tail += f" <span class='ci'>(other: {fmt_count(other)})</span>"
    return " · ".join(parts) + tail


def _features_tables(features: Mapping[str, Any], missingness: Any) -> str:
    miss = missingness if isinstance(missingness, Mapping) else {}
    numeric, other = [], []
    for name, s in features.items():
        if not isinstance(s, Mapping):
            continue
        m = miss.get(name)
        frac = m.get("fraction") if isinstance(m, Mapping) else m
        missing_cell = fmt_pct(frac) if is_num(frac) and frac > 0 else '<span class="ci">0</span>'
        if s.get("kind") == "numeric" or "mean" in s:
            numeric.append(
                [
                    f"<code>{esc(name)}</code>",
                    esc(s.get("dtype", "")),
                    missing_cell,
                    fmt_stat(s.get("mean")),
                    fmt_stat(s.get("std")),
                    fmt_stat(s.get("min")),
                    fmt_stat(s.get("median")),
                    fmt_stat(s.get("max")),
                    _boxplot(s),
                ]
            )
        else:
            other.append(
                [
                    f"<code>{esc(name)}</code>",
                    esc(s.get("kind", "")),
                    missing_cell,
                    fmt_count(s.get("n_unique")),
                    _top_values(s),
                ]
            )
    out = ""
    if numeric:
        out += _fold(
            "Numeric features",
            table(
                [
                    "Feature",
                    "dtype",
                    "Missing",
                    "Mean",
                    "Std",
                    "Min",
                    "Median",
                    "Max",
                    "Distribution",
                ],
                numeric,
                numeric=[False, False, True, True, True, True, True, True, False],
            ),
            len(numeric),
        )
    if other:
        out += _fold(
            "Categorical and boolean features",
            table(
                ["Feature", "Kind", "Missing", "Distinct", "Most frequent"],
                other,
                numeric=[False, False, True, True, False],
            ),
            len(other),
        )
    return out


def _per_class_table(per_class: Mapping[str, Any]) -> str:
    classes: list[str] = []
    for info in per_class.values():
        for row in (info or {}).get("by_class", []) if isinstance(info, Mapping) else []:
            c = str(row.get("class"))
            if c not in classes:
                classes.append(c)
    if not classes:
        return ""
    rows = []
    for name, info in per_class.items():
        if not isinstance(info, Mapping):
            continue
        by = {str(r.get("class")): r for r in info.get("by_class", []) if isinstance(r, Mapping)}
        cells = []
        for c in classes:
            r = by.get(c)
            if r is None:
                cells.append("—")
            elif isinstance(r.get("mix"), Mapping) and r["mix"]:
                mix = r["mix"]
                best = max(mix, key=lambda k: mix[k] if is_num(mix[k]) else -1.0)
                cells.append(f"{esc(best)} <span class='ci'>{fmt_pct(mix[best], 0)}</span>")
            else:
                mean, std = r.get("mean"), r.get("std")
                spread = f" <span class='ci'>± {fmt_stat(std)}</span>" if is_num(std) else ""
                cells.append(fmt_stat(mean) + spread)
        rows.append([f"<code>{esc(name)}</code>", *cells])
    note = (
        "<p class='note'>Numeric features: mean ± standard deviation in each class. "
        "Categorical features: the most common value in each class and its share.</p>"
    )
    body = table(["Feature", *classes], rows, numeric=[False] + [True] * len(classes))
    return _fold("By class", note + body, len(rows))


def _correlations(corr: Any) -> str:
    if not isinstance(corr, Mapping):
        return "<h3>Strongest correlations</h3>" + value(corr) if corr else ""
    out = ""
    assoc = corr.get("target_association") or []
    if assoc:
        bars = [
            Bar(str(a.get("feature")), float(a["value"]), note=_measure(a.get("measure")))
            for a in assoc
            if isinstance(a, Mapping) and is_num(a.get("value"))
        ][:TOP_BARS]
        if bars:
            out += bar_chart(
                bars,
                title="Association with the target",
                x_label="η (correlation ratio); Cramér's V where marked",
                width=440,
                x_range=(0.0, 1.0),
            )
    pairs = corr.get("numeric_pairs") or []
    if pairs:
        rows = []
        for p in pairs:
            if not isinstance(p, Mapping):
                continue
            r = p.get("pearson", p.get("r", p.get("value")))
            rows.append(
                [f"<code>{esc(p.get('a'))}</code>", f"<code>{esc(p.get('b'))}</code>", _signed(r)]
            )
        out += (
            '<figure class="chart"><figcaption>Strongest correlations between numeric features'
            "</figcaption>"
            + table(["Feature", "Feature", "Pearson r"], rows, numeric=[False, False, True])
            + "</figure>"
        )
    rest = {k: v for k, v in corr.items() if k not in ("target_association", "numeric_pairs")}
    if rest:
        out += kv_table(rest)
    return f'<h3>Correlations</h3><div class="charts">{out}</div>' if out else ""


def _measure(m: Any) -> str:
    """Note beside a bar: only the less common measure (Cramér's V) is marked."""
    return "Cramér V" if str(m) == "cramers_v" else ""


def _signed(r: Any) -> str:
    if not is_num(r):
        return fmt(r)
    width = min(abs(r), 1.0) * 100
    color = "#dbe7f5" if r >= 0 else "#f6dde0"
    return (
        f'<span class="cellbar" style="--w:{width:.0f}%;background:linear-gradient(90deg,'
        f'{color} {width:.0f}%,transparent {width:.0f}%)">{r:+.3f}</span>'
    )


def data_section(data: Any) -> str:
    """Size, class balance, missingness, per-feature summaries, correlations."""
    head = '<section id="data"><h2>Data</h2>'
    if not isinstance(data, Mapping) or not data:
        return head + missing("No data summary was given.") + "</section>"
    parts = [head]
    overview: list[tuple[str, Any]] = []
    for key in ("source", "path", "target", "n_rows", "rows", "n_columns", "columns", "n_features"):
        if key in data and not isinstance(data[key], Mapping | list):
            overview.append((key, data[key]))
    sample = data.get("sample")
    if isinstance(sample, Mapping) and sample.get("note"):
        overview.append(("statistics computed on", sample["note"]))
    if overview:
        parts.append(kv_table(overview, code_keys=frozenset({"target", "path"})))
    miss = _first(data, "missingness", "missing")
    charts = _balance_chart(data.get("class_balance")) + _missing_chart(miss)
    if charts:
        parts.append(f'<div class="charts">{charts}</div>')
    features = data.get("features")
    if isinstance(features, Mapping) and features:
        parts.append(_features_tables(features, miss))
    elif features:
        parts.append("<h3>Features</h3>" + value(features))
    dropped = data.get("dropped_columns")
    if isinstance(dropped, Mapping) and dropped:
        parts.append("<h3>Columns left out</h3>" + kv_table(dropped, code_keys=frozenset(dropped)))
    per_class = data.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        parts.append(_per_class_table(per_class))
    parts.append(_correlations(data.get("correlations")))
    kinds = data.get("column_kinds")
    if isinstance(kinds, Mapping) and kinds and not features:
        parts.append("<h3>Column kinds</h3>" + kv_table(kinds))
    rest = {k: v for k, v in data.items() if k not in KNOWN}
    if rest:
        parts.append(
            "<details><summary>More from the data check</summary>" + kv_table(rest) + "</details>"
        )
    parts.append("</section>")
    return "".join(parts)
