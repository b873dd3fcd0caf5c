"""Hand-written inline SVG charts for the report.

No plotting library: each chart is a few hundred bytes of markup plus its data, draws
with the page's own fonts (so text stays crisp and searchable), and needs nothing from
the network. Colours are Paul Tol's colour-blind-safe "muted" set; beyond nine series
the lines also change dash pattern so every one stays distinguishable.

Every string that reaches the markup goes through :func:`esc`.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

PALETTE = (
    "#332288",
    "#117733",
    "#CC6677",
    "#88CCEE",
    "#AA4499",
    "#44AA99",
    "#999933",
    "#882255",
    "#DDCC77",
)
DASHES = ("", "6 3", "2 2", "8 3 2 3")
INK = "#1f2328"
MUTED = "#6a737d"
GRID = "#e7eaee"
EN_DASH = "\u2013"  # ranges: 0.91–0.95


def esc(value: object) -> str:
    """HTML/SVG-escape any value's text."""
    return html.escape(str(value), quote=True)


def series_style(i: int) -> tuple[str, str]:
    """(colour, dash pattern) of the i-th series."""
    return PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def fmt_tick(v: float, ticks: Sequence[float] = ()) -> str:
    """A tick label with just enough decimals to tell neighbouring ticks apart."""
    if v == 0:
        return "0"
    if abs(v) >= 1e9 or abs(v) < 1e-6:
        return f"{v:.3g}"
    step = min((abs(b - a) for a, b in itertools.pairwise(ticks)), default=0.0)
    decimals = 0
    if step > 0:
        while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
            decimals += 1
    else:
        decimals = 2
    return f"{v:,.{decimals}f}" if abs(v) >= 1000 else f"{v:.{decimals}f}"


@dataclass
class Series:
    """One line (or set of markers) of a chart."""

    name: str
    x: Sequence[float | None]
    y: Sequence[float | None]
    color: str = INK
    dash: str = ""
    width: float = 1.6
    markers: bool = False
    label: str = ""  # legend text (defaults to name)
    step: bool = False


@dataclass
class Frame:
    """Plot area geometry and data ranges."""

    width: int = 420
    height: int = 320
    left: int = 48
    right: int = 12
    top: int = 12
    bottom: int = 40
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)
    extras: list[str] = field(default_factory=list)

    def sx(self, x: float) -> float:
        lo, hi = self.x_range
        return self.left + (x - lo) / (hi - lo or 1.0) * (self.width - self.left - self.right)

    def sy(self, y: float) -> float:
        lo, hi = self.y_range
        return (
            self.height
            - self.bottom
            - (y - lo) / (hi - lo or 1.0) * (self.height - self.top - self.bottom)
        )


def _axes(fr: Frame, x_label: str, y_label: str) -> list[str]:
    out = []
    x0, x1 = fr.left, fr.width - fr.right
    y0, y1 = fr.height - fr.bottom, fr.top
    y_ticks = nice_ticks(*fr.y_range)
    for t in y_ticks:
        y = fr.sy(t)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{x0 - 6}" y="{y + 3.5:.1f}" text-anchor="end" class="tick">'
            f"{fmt_tick(t, y_ticks)}</text>"
        )
    x_ticks = nice_ticks(*fr.x_range)
    for t in x_ticks:
        x = fr.sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y1}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{y0 + 15}" text-anchor="middle" class="tick">'
            f"{fmt_tick(t, x_ticks)}</text>"
        )
    out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" class="frame"/>')
    out.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{fr.height - 6}" text-anchor="middle" '
        f'class="axis">{esc(x_label)}</text>'
    )
    cy = (y0 + y1) / 2
    out.append(
        f'<text x="12" y="{cy:.1f}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 12 {cy:.1f})">{esc(y_label)}</text>'
    )
    return out


def _points(fr: Frame, s: Series) -> list[tuple[float, float]]:
    pts = []
    for x, y in zip(s.x, s.y, strict=False):
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        pts.append((fr.sx(x), fr.sy(y)))
    return pts


def _path(fr: Frame, s: Series) -> str:
    pts = _points(fr, s)
    if not pts:
        return ""
    if s.step:  # post-step: hold y until the next x (precision-recall style)
        d = [f"M{pts[0][0]:.1f} {pts[0][1]:.1f}"]
        for x, y in pts[1:]:
            d.append(f"H{x:.1f}V{y:.1f}")
        d_attr = "".join(d)
    else:
        d_attr = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in pts)
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    parts = [
        f'<path d="{d_attr}" fill="none" stroke="{s.color}" stroke-width="{s.width}"'
        f'{dash} stroke-linejoin="round"><title>{esc(s.label or s.name)}</title></path>'
    ]
    if s.markers:
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{s.color}" stroke="#fff" '
            f'stroke-width="1"/>'
            for x, y in pts
        )
    return "".join(parts)


def legend(series: Sequence[Series]) -> str:
    """An HTML legend: a swatch in each series' colour and dash, then its label."""
    items = []
    for s in series:
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        swatch = (
            f'<svg width="26" height="10" aria-hidden="true"><line x1="1" y1="5" x2="25" y2="5" '
            f'stroke="{s.color}" stroke-width="{max(s.width, 2)}"{dash}/></svg>'
        )
        items.append(f"<li>{swatch}<span>{esc(s.label or s.name)}</span></li>")
    return f'<ul class="legend">{"".join(items)}</ul>'


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    diagonal: bool = False,
    hline: tuple[float, str] | None = None,
    vline: tuple[float, str] | None = None,
    width: int = 420,
    height: int = 320,
    show_legend: bool = True,
) -> str:
    """A line chart in a ``<figure>`` with an HTML legend below."""
    fr = Frame(width=width, height=height, x_range=x_range, y_range=y_range)
    body = _axes(fr, x_label, y_label)
    if diagonal:
        body.append(
            f'<line x1="{fr.sx(x_range[0]):.1f}" y1="{fr.sy(y_range[0]):.1f}" '
            f'x2="{fr.sx(x_range[1]):.1f}" y2="{fr.sy(y_range[1]):.1f}" stroke="#b0b7bf" '
            f'stroke-dasharray="4 4"><title>chance / perfect calibration</title></line>'
        )
    if hline is not None and y_range[0] <= hline[0] <= y_range[1]:
        y = fr.sy(hline[0])
        body.append(
            f'<line x1="{fr.left}" y1="{y:.1f}" x2="{fr.width - fr.right}" y2="{y:.1f}" '
            f'stroke="#b0b7bf" stroke-dasharray="4 4"><title>{esc(hline[1])}</title></line>'
        )
    label = ""
    if vline is not None and x_range[0] <= vline[0] <= x_range[1]:
        x = fr.sx(vline[0])
        body.append(
            f'<line x1="{x:.1f}" y1="{fr.top}" x2="{x:.1f}" y2="{fr.height - fr.bottom}" '
            f'stroke="{INK}" stroke-width="1.2" stroke-dasharray="3 3"/>'
        )
        # label at the foot of the line, haloed so curves never hide it
        right = x < (fr.left + fr.width - fr.right) / 2
        label = (
            f'<text x="{x + (5 if right else -5):.1f}" y="{fr.height - fr.bottom - 8}" '
            f'text-anchor="{"start" if right else "end"}" class="note marker" '
            f'paint-order="stroke" stroke="#fff" stroke-width="4">{esc(vline[1])}</text>'
        )
    body.extend(_path(fr, s) for s in series)
    body.append(label)
    svg = (
        f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)}">{"".join(body)}</svg>'
    )
    leg = legend(series) if show_legend else ""
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{svg}{leg}</figure>'


def _blues(v: float) -> str:
    """Sequential ColorBrewer-like blue for v in [0, 1]."""
    lo, hi = (247, 251, 255), (8, 48, 107)
    v = min(max(v, 0.0), 1.0) ** 0.8
    r, g, b = (round(a + (c - a) * v) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _short(text: str, n: int = 14) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def heatmap(
    matrix: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    title: str,
    percent: bool = False,
    scale_by_row: bool = False,
) -> str:
    """Confusion-matrix heatmap: rows true class, columns predicted class."""
    k = len(labels)
    cell = 44 if k <= 6 else (34 if k <= 12 else max(14, 420 // k))
    label_w = min(110, 8 + 7 * max((len(_short(lb)) for lb in labels), default=1))
    left, top = label_w + 22, 22
    size_w = left + k * cell + 8
    size_h = top + k * cell + label_w + 16
    flat = [float(v) for row in matrix for v in row]
    vmax = max(flat) if flat and max(flat) > 0 else 1.0
    body = [
        f'<text x="{left + k * cell / 2:.1f}" y="14" text-anchor="middle" class="axis">'
        "Predicted class</text>",
        f'<text x="10" y="{top + k * cell / 2:.1f}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 10 {top + k * cell / 2:.1f})">True class</text>',
    ]
    show_text = cell >= 26
    for i, row in enumerate(matrix):
        row_max = max((float(v) for v in row), default=0.0) or 1.0
        for j, v in enumerate(row):
            val = float(v)
            shade = val / (row_max if scale_by_row else vmax)
            x, y = left + j * cell, top + i * cell
            text = f"{val:.0%}" if percent else (f"{val:.0f}" if val == int(val) else f"{val:.1f}")
            tip = f"true {labels[i]} → predicted {labels[j]}: {text}"
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{_blues(shade)}"><title>{esc(tip)}</title></rect>'
            )
            if show_text and (val > 0 or not percent):
                color = "#fff" if shade > 0.55 else INK
                weight = ' font-weight="600"' if i == j else ""
                body.append(
                    f'<text x="{x + (cell - 1) / 2:.1f}" y="{y + cell / 2 + 3.5:.1f}" '
                    f'text-anchor="middle" class="cell" style="fill:{color}"{weight}>{text}</text>'
                )
    for i, lb in enumerate(labels):
        ty = top + i * cell + cell / 2 + 3.5
        body.append(
            f'<text x="{left - 6}" y="{ty:.1f}" text-anchor="end" class="tick">'
            f"<title>{esc(lb)}</title>{esc(_short(lb))}</text>"
        )
        tx = left + i * cell + cell / 2
        ly = top + k * cell + 8
        body.append(
            f'<text x="{tx:.1f}" y="{ly}" text-anchor="end" class="tick" '
            f'transform="rotate(-45 {tx:.1f} {ly})">'
            f"<title>{esc(lb)}</title>{esc(_short(lb))}</text>"
        )
    svg = (
        f'<svg class="plot heat" viewBox="0 0 {size_w} {size_h}" width="{size_w}" '
        f'height="{size_h}" role="img" aria-label="{esc(title)}">{"".join(body)}</svg>'
    )
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{svg}</figure>'


@dataclass
class Bar:
    """One row of a horizontal bar or dot chart."""

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    highlight: bool = False
    note: str = ""


def bar_chart(
    rows: Sequence[Bar],
    *,
    title: str,
    x_label: str,
    dots: bool = False,
    width: int = 560,
    x_range: tuple[float, float] | None = None,
) -> str:
    """Horizontal bars (or dots) with optional error bars; bars diverge from zero."""
    row_h = 24 if dots else 20
    label_w = min(190, 14 + 7 * max((len(_short(r.name, 26)) for r in rows), default=4))
    note_w = 64 if any(r.note for r in rows) else 8
    height = 20 + row_h * len(rows) + 38
    values = [
        v for r in rows for v in (r.value, r.low, r.high) if v is not None and math.isfinite(v)
    ]
    if x_range is None:
        lo = min([*values, 0.0]) if not dots else min(values, default=0.0)
        hi = max([*values, 0.0]) if not dots else max(values, default=1.0)
        pad = (hi - lo) * 0.06 or 0.05
        x_range = (lo - (pad if lo < 0 or dots else 0.0), hi + pad)
    fr = Frame(
        width=width,
        height=height,
        left=label_w,
        right=note_w,
        top=12,
        bottom=38,
        x_range=x_range,
        y_range=(0.0, float(len(rows))),
    )
    body = []
    ticks = nice_ticks(*x_range)
    for t in ticks:
        x = fr.sx(t)
        body.append(
            f'<line x1="{x:.1f}" y1="{fr.top}" x2="{x:.1f}" y2="{height - fr.bottom}" '
            f'stroke="{GRID}"/><text x="{x:.1f}" y="{height - fr.bottom + 15}" '
            f'text-anchor="middle" class="tick">{fmt_tick(t, ticks)}</text>'
        )
    zero = fr.sx(0.0) if x_range[0] <= 0.0 <= x_range[1] else fr.left
    if not dots and x_range[0] < 0.0 < x_range[1]:
        body.append(
            f'<line x1="{zero:.1f}" y1="{fr.top}" x2="{zero:.1f}" y2="{height - fr.bottom}" '
            f'stroke="{MUTED}"/>'
        )
    for i, r in enumerate(rows):
        cy = fr.top + i * row_h + row_h / 2
        color = PALETTE[0] if r.highlight or not dots else "#7a8793"
        if not dots and r.value < 0:
            color = PALETTE[2]
        weight = ' font-weight="600"' if r.highlight else ""
        body.append(
            f'<text x="{fr.left - 8}" y="{cy + 4:.1f}" text-anchor="end" class="tick"{weight}>'
            f"<title>{esc(r.name)}</title>{esc(_short(r.name, 26))}</text>"
        )
        if not math.isfinite(r.value):
            continue
        tip = esc(f"{r.name}: {r.value:.4g}")
        if r.low is not None and r.high is not None:
            x_lo, x_hi = fr.sx(r.low), fr.sx(r.high)
            err = color if dots else "#3d444d"
            body.append(
                f'<line x1="{x_lo:.1f}" y1="{cy:.1f}" x2="{x_hi:.1f}" y2="{cy:.1f}" '
                f'stroke="{err}" stroke-width="1.3"/>'
                f'<line x1="{x_lo:.1f}" y1="{cy - 4:.1f}" x2="{x_lo:.1f}" y2="{cy + 4:.1f}" '
                f'stroke="{err}" stroke-width="1.3"/>'
                f'<line x1="{x_hi:.1f}" y1="{cy - 4:.1f}" x2="{x_hi:.1f}" y2="{cy + 4:.1f}" '
                f'stroke="{err}" stroke-width="1.3"/>'
            )
        xv = fr.sx(r.value)
        if dots:
            body.append(
                f'<circle cx="{xv:.1f}" cy="{cy:.1f}" r="5" fill="{color}" stroke="#fff">'
                f"<title>{tip}</title></circle>"
            )
        else:
            x0, x1 = sorted((zero, xv))
            body.append(
                f'<rect x="{x0:.1f}" y="{cy - row_h * 0.32:.1f}" width="{max(x1 - x0, 0.8):.1f}" '
                f'height="{row_h * 0.64:.1f}" fill="{color}" fill-opacity="0.85">'
                f"<title>{tip}</title></rect>"
            )
        if r.note:
            body.append(
                f'<text x="{width - note_w + 6}" y="{cy + 4:.1f}" class="tick">{esc(r.note)}</text>'
            )
    body.append(
        f'<text x="{(fr.left + width - fr.right) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'class="axis">{esc(x_label)}</text>'
    )
    svg = (
        f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)}">{"".join(body)}</svg>'
    )
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{svg}</figure>'


def reliability_chart(
    bins: Sequence[dict[str, float]], *, title: str, y_label: str, width: int = 420
) -> str:
    """Reliability diagram (observed frequency against mean prediction) with row counts."""
    xs = [b["mean_predicted"] for b in bins]
    ys = [b["fraction_positive"] for b in bins]
    main = Series("model", xs, ys, color=PALETTE[0], width=2.0, markers=True, label="model")
    fr = Frame(width=width, height=300)
    body = _axes(fr, "Mean predicted probability", y_label)
    body.append(
        f'<line x1="{fr.sx(0):.1f}" y1="{fr.sy(0):.1f}" x2="{fr.sx(1):.1f}" y2="{fr.sy(1):.1f}" '
        f'stroke="#b0b7bf" stroke-dasharray="4 4"><title>perfect calibration</title></line>'
    )
    body.append(_path(fr, main))
    # counts as a strip of bars under the diagram
    hist_h = 60
    total_h = fr.height + hist_h
    cmax = max((b["count"] for b in bins), default=1.0) or 1.0
    base = total_h - 4
    for b in bins:
        x0, x1 = fr.sx(b["lower"]), fr.sx(b["upper"])
        h = (hist_h - 16) * b["count"] / cmax
        lo, hi, count = b["lower"], b["upper"], b["count"]
        tip = esc(f"{lo:.1f}{EN_DASH}{hi:.1f}: {count:.0f} rows")
        body.append(
            f'<rect x="{x0 + 1:.1f}" y="{base - h:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="{PALETTE[3]}"><title>{tip}</title></rect>'
        )
    body.append(f'<text x="{fr.left}" y="{fr.height + 8}" class="note">rows per bin</text>')
    svg = (
        f'<svg class="plot" viewBox="0 0 {width} {total_h}" width="{width}" height="{total_h}" '
        f'role="img" aria-label="{esc(title)}">{"".join(body)}</svg>'
    )
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{svg}</figure>'
