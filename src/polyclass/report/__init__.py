"""The model report: one self-contained HTML page and ``metrics.json``.

:func:`write_report` renders what a training run found (problem, data checks,
strategy search, validation and test evaluations, coefficients, importance) into a
page that opens offline, with every chart drawn as inline SVG.
"""

from __future__ import annotations

from polyclass._json import to_jsonable
from polyclass.report._render import render_html, write_report

__all__ = ["render_html", "to_jsonable", "write_report"]
