"""Small HTML building blocks: number formatting, tables, generic value rendering.

Every user-provided string passes through :func:`esc` exactly once, here or in
``_plots``; callers build markup only from these helpers and their own literals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from polyclass.report._plots import EN_DASH, esc

DASH = "—"

METRIC_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "matthews_corrcoef": "Matthews correlation (MCC)",
    "mcc": "Matthews correlation (MCC)",
    "log_loss": "Log loss",
    "neg_log_loss": "Negative log loss",
    "f1": "F1 (positive class)",
    "f1_macro": "Macro F1",
    "f1_micro": "Micro F1",
    "f1_weighted": "Weighted F1",
    "precision": "Precision (positive class)",
    "precision_macro": "Macro precision",
    "recall": "Recall (positive class)",
    "recall_macro": "Macro recall",
    "roc_auc": "ROC AUC",
    "roc_auc_ovr": "ROC AUC (one-vs-rest, macro)",
    "roc_auc_ovr_weighted": "ROC AUC (one-vs-rest, weighted)",
    "average_precision": "Average precision",
    "average_precision_weighted": "Average precision (weighted)",
    "expected_calibration_error": "Expected calibration error",
}


_FBETA = re.compile(r"^fbeta(?:_(macro|micro|weighted))?\(beta=([0-9.]+)\)$")


def metric_name(key: Any) -> str:
    """Readable name of a metric key (unknown keys are shown as given).

    ``fbeta(beta=2.23607)`` reads ``F-beta (β=2.24)``.
    """
    text = str(key)
    match = _FBETA.match(text)
    if match:
        avg = f"{match.group(1)} " if match.group(1) else ""
        return f"{avg.capitalize()}F-beta (β={float(match.group(2)):.3g})".strip()
    return METRIC_NAMES.get(text, text)


def is_num(v: Any) -> TypeGuard[float]:
    """A finite real number (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: Any, digits: int = 3) -> str:
    """A number for people: fixed decimals for scores, grouping for counts, — for none."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return DASH
        if v == int(v) and abs(v) >= 1000:
            return f"{int(v):,}"
        if v != 0 and (abs(v) < 10 ** (-digits) or abs(v) >= 1e6):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return esc(v)


def fmt_stat(v: Any) -> str:
    """A data statistic with as many decimals as its size deserves (16,800; 1680; 13.00; 0.362)."""
    if not is_num(v):
        return fmt(v)
    a = abs(float(v))
    if a >= 10_000:
        return f"{float(v):,.0f}"
    if a >= 1000:
        return f"{float(v):.0f}"
    if a >= 100:
        return f"{float(v):.1f}"
    if a >= 10:
        return f"{float(v):.2f}"
    return f"{float(v):.3f}"


def fmt_count(v: Any) -> str:
    if is_num(v) and float(v) == int(v):
        return f"{int(v):,}"
    return fmt(v)


def fmt_pct(v: Any, digits: int = 1) -> str:
    return f"{float(v) * 100:.{digits}f}%" if is_num(v) else DASH


def fmt_ci(ci: Any, digits: int = 3) -> str:
    """``0.912–0.954`` in muted text, or nothing."""
    if not isinstance(ci, Sequence) or len(ci) != 2 or not all(is_num(c) for c in ci):
        return ""
    return f'<span class="ci">{ci[0]:.{digits}f}{EN_DASH}{ci[1]:.{digits}f}</span>'


def fmt_seconds(v: Any) -> str:
    if not is_num(v):
        return DASH
    s = float(v)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool] | None = None,
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """A table from already-rendered cell HTML (headers are escaped here)."""
    numeric = numeric or [False] * len(headers)
    head = "".join(
        f"<th{' class=num' if numeric[i] else ''}>{esc(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        rc = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = "".join(
            f"<td{' class=num' if i < len(numeric) and numeric[i] else ''}>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr{rc}>{cells}</tr>")
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<div class="table-wrap"><table{klass}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def scalar(v: Any) -> str:
    """Render a scalar or a small nested value as compact text."""
    if v is None or isinstance(v, bool | int | float):
        return fmt(v)
    if isinstance(v, str):
        return esc(v)
    try:
        text = json.dumps(v, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(v)
    if len(text) > 160:
        text = text[:157] + "…"
    return f"<code>{esc(text)}</code>"


def kv_table(
    items: Mapping[str, Any] | Sequence[tuple[str, Any]],
    *,
    code_keys: frozenset[str] = frozenset(),
) -> str:
    """Two-column key/value table; keys are escaped, values rendered by :func:`value`.

    String values under ``code_keys`` are shown in monospace (paths, hashes).
    """
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    rows = "".join(
        f'<tr><th scope="row">{esc(str(k).replace("_", " "))}</th><td>'
        + (f"<code>{esc(v)}</code>" if k in code_keys and isinstance(v, str) else value(v))
        + "</td></tr>"
        for k, v in pairs
    )
    return f'<div class="table-wrap"><table class="kv"><tbody>{rows}</tbody></table></div>'


def records_table(records: Sequence[Mapping[str, Any]], limit: int = 200) -> str:
    """A table over a list of dicts (union of keys, in first-seen order)."""
    keys: list[str] = []
    for r in records[:limit]:
        for k in r:
            if k not in keys:
                keys.append(k)
    numeric = [all(is_num(r.get(k)) or r.get(k) is None for r in records[:limit]) for k in keys]
    rows = [[scalar(r.get(k)) for k in keys] for r in records[:limit]]
    out = table([k.replace("_", " ") for k in keys], rows, numeric=numeric)
    if len(records) > limit:
        out += f'<p class="note">Showing the first {limit} of {len(records):,} rows.</p>'
    return out


def value(v: Any) -> str:
    """Render any JSON-like value: scalars inline, dicts as key/value, lists as tables."""
    if isinstance(v, Mapping):
        if not v:
            return DASH
        if all(not isinstance(x, Mapping | list | tuple) for x in v.values()):
            return kv_table(v)
        return kv_table(v)
    if isinstance(v, list | tuple):
        if not v:
            return DASH
        if all(isinstance(x, Mapping) for x in v):
            return records_table(v)
        if all(not isinstance(x, Mapping | list | tuple) for x in v) and len(v) <= 30:
            return ", ".join(scalar(x) for x in v)
        return scalar(v)
    return scalar(v)


def inline_params(v: Any) -> str:
    """``C=0.5 · l1_ratio=0`` for a flat dict of parameters; other values as usual."""
    if isinstance(v, Mapping) and all(not isinstance(x, Mapping | list) for x in v.values()):
        if not v:
            return DASH
        parts = []
        for k, x in v.items():
            shown = "None" if x is None else (f"{x:g}" if is_num(x) else str(x))
            parts.append(f'<span class="param">{esc(k)}=<b>{esc(shown)}</b></span>')
        return " ".join(parts)
    return value(v)


def missing(what: str) -> str:
    """The sentence a section shows when the pipeline gave it nothing."""
    return f'<p class="missing">{esc(what)}</p>'
