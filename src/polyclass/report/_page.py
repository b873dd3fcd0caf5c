"""The page shell: stylesheet, header, table of contents. No scripts, fonts or URLs."""

from __future__ import annotations

from collections.abc import Sequence

from polyclass.report._plots import esc

CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d8dee4;--soft:#f6f8fa;--accent:#1f5fa8;
--warn:#8a5a00;--warnbg:#fff6dd;--err:#a4262c;--errbg:#fdecec;--ok:#1a7f37;--okbg:#e9f6ec}
*{box-sizing:border-box}
html{font-size:15px;scroll-behavior:smooth}
body{margin:0;color:var(--ink);background:#fff;line-height:1.55;
font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
"Noto Sans","Liberation Sans",sans-serif;-webkit-font-smoothing:antialiased}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
font-size:.88em;background:var(--soft);padding:.05em .35em;border-radius:4px}
.wrap{max-width:1240px;margin:0 auto;padding:0 32px}
header.top{background:#fbfcfd;border-bottom:1px solid var(--line);padding:28px 0 22px}
.kicker{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
h1{font-size:1.9rem;line-height:1.2;margin:.25rem 0 .35rem;font-weight:650;letter-spacing:-.015em}
.meta{color:var(--muted);font-size:13px;margin:0}
.meta span+span:before{content:"·";margin:0 .5em;color:#aab2bb}
.layout{display:grid;grid-template-columns:190px minmax(0,1fr);gap:44px;padding-top:8px}
nav.toc{position:sticky;top:0;align-self:start;padding:24px 0;font-size:13.5px}
nav.toc .h{font-size:11px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);
margin-bottom:8px}
nav.toc ol{list-style:none;margin:0;padding:0;counter-reset:toc}
nav.toc li{counter-increment:toc;margin:0}
nav.toc a{display:block;padding:4px 0 4px 10px;border-left:2px solid var(--line);color:var(--ink)}
nav.toc a:before{content:counter(toc) ".";color:var(--muted);display:inline-block;width:1.9em}
nav.toc a:hover{border-left-color:var(--accent);text-decoration:none;color:var(--accent)}
main{min-width:0}
section{padding:30px 0 34px;border-top:1px solid var(--line)}
section.first{border-top:0}
h2{font-size:1.4rem;margin:0 0 .5rem;font-weight:650;letter-spacing:-.01em}
h3{font-size:1rem;margin:1.6rem 0 .6rem;font-weight:650}
.lede{color:var(--muted);margin:.1rem 0 1rem;max-width:78ch}
.note{color:var(--muted);font-size:12.5px;max-width:78ch;margin:.4rem 0}
.missing{color:var(--muted);font-style:italic;background:var(--soft);border-radius:6px;
padding:10px 14px;max-width:78ch}
.ok{color:var(--ok)}
.verdict{font-size:1.02rem;max-width:80ch;margin:1rem 0 0}
.cards{display:grid;grid-template-columns:1.3fr 1fr 1fr 1fr;gap:14px}
.card{border:1px solid var(--line);border-radius:10px;padding:14px 18px 16px;background:#fff}
.card.lead{border-color:#b6cbe6;background:linear-gradient(#f5f9fe,#fff)}
.card .label{font-size:11.5px;letter-spacing:.07em;text-transform:uppercase;color:var(--muted)}
.card .big{font-size:2.3rem;font-weight:650;line-height:1.15;margin-top:4px;
font-variant-numeric:tabular-nums;color:#14365f}
.card .mid{font-size:1.45rem;font-weight:650;line-height:1.3;margin-top:6px;
font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.card small{font-size:.6em;font-weight:500;color:var(--muted)}
.card .sub{font-size:12.5px;color:var(--muted);margin-top:4px}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13.5px;font-variant-numeric:tabular-nums;margin:.2rem 0}
th{text-align:left;font-weight:600;font-size:12.5px;
color:var(--muted);border-bottom:1.5px solid var(--line);padding:7px 12px;white-space:nowrap}
td{padding:6px 12px;border-bottom:1px solid #eef1f4;vertical-align:top}
th.num,td.num{text-align:right}
tr.avg-row td{background:var(--soft);color:#2f363d}
tr.avg-row:first-of-type td{border-top:1.5px solid var(--line)}
table.kv th{text-transform:none;letter-spacing:0;font-size:13px;color:var(--muted);font-weight:500;
border-bottom:1px solid #eef1f4;padding-right:28px;vertical-align:baseline}
table.kv td{vertical-align:baseline}
.param{white-space:nowrap;margin-right:.7em;color:var(--muted)}
.param b{color:var(--ink);font-weight:500}
table.kv td{overflow-wrap:anywhere;max-width:760px}
table.dense{font-size:12px}table.dense td,table.dense th{padding:3px 8px}
.ci{color:var(--muted);font-size:12px;white-space:nowrap}
.cellbar{display:inline-block;min-width:3.6em;padding:0 4px;border-radius:3px;
background:linear-gradient(90deg,#dbe7f5 var(--w),transparent var(--w))}
.charts{display:flex;flex-wrap:wrap;gap:26px 40px;align-items:flex-start}
.charts.small{gap:18px 26px}
.with-note{display:flex;flex-wrap:wrap;gap:10px 36px;align-items:flex-start}
.with-note .notes{max-width:42ch;margin-top:22px}
.notice{background:var(--warnbg);border-radius:6px;padding:8px 14px;font-size:13px;max-width:80ch}
.notice ul{margin:.3rem 0 0}
figure.chart{margin:0;max-width:100%}
figcaption{font-weight:600;font-size:13px;margin:0 0 6px}
svg.plot{display:block;max-width:100%;height:auto;overflow:visible}
svg.plot text{fill:var(--ink);font-family:inherit}
svg.plot .tick{font-size:11px;fill:#59636e}
svg.plot .axis{font-size:12px;fill:#2f363d}
svg.plot .cell{font-size:11px}
svg.plot .note{font-size:11px;fill:#59636e}
svg.plot .marker{font-size:11.5px;font-weight:600;fill:var(--ink)}
svg.plot .frame{fill:none;stroke:#c9d1d9}
svg.plot path:hover{stroke-width:3.2}
.legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:3px 16px;
font-size:12px;max-width:440px;color:#2f363d}
.legend li{display:flex;align-items:center;gap:6px;white-space:nowrap}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 8px;border-radius:10px;
background:var(--warnbg);color:var(--warn);text-transform:lowercase}
.badge.error{background:var(--errbg);color:var(--err)}
.badge.info{background:var(--soft);color:var(--muted)}
.badge.ok{background:var(--okbg);color:var(--ok)}
table.warnings td:last-child{max-width:620px}
details{margin:1rem 0}
details>summary{cursor:pointer;color:var(--accent);font-size:13.5px;font-weight:550}
details[open]>summary{margin-bottom:.6rem}
ul{padding-left:1.2rem;max-width:78ch}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding:18px 0 40px}
@media (max-width:1020px){.layout{grid-template-columns:1fr;gap:0}
nav.toc{position:static;padding-bottom:0}.cards{grid-template-columns:1fr 1fr}}
@media print{nav.toc{display:none}.layout{grid-template-columns:1fr}
details{display:block}section{break-inside:avoid-page}}
"""


def page(
    *,
    title: str,
    heading: str,
    meta: Sequence[str],
    toc: Sequence[tuple[str, str]],
    body: str,
    footer: str,
) -> str:
    """The whole document. ``title``/``heading``/``meta``/``toc`` labels are escaped here;
    ``body`` and ``footer`` are trusted markup built from escaped parts."""
    meta_html = "".join(f"<span>{esc(m)}</span>" for m in meta if m)
    toc_html = "".join(f'<li><a href="#{esc(i)}">{esc(t)}</a></li>' for i, t in toc)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="polyclass">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        '<header class="top"><div class="wrap"><div class="kicker">polyclass · model report'
        f'</div><h1>{heading}</h1><p class="meta">{meta_html}</p></div></header>'
        '<div class="wrap layout"><nav class="toc" aria-label="Contents"><div class="h">Contents'
        f"</div><ol>{toc_html}</ol></nav><main>{body}</main></div>"
        f'<footer><div class="wrap">{footer}</div></footer></body></html>\n'
    )
