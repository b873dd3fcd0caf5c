"""Building blocks of polyclass's HTML pages, for other reports (e.g. monitoring).

The model report and the monitoring report share one look: the same stylesheet, number
formatting, tables and inline-SVG charts. This module is their public surface; the
implementations stay private in ``_html``, ``_page`` and ``_plots``.
"""

from __future__ import annotations

from polyclass.report._html import fmt, table
from polyclass.report._page import CSS
from polyclass.report._plots import EN_DASH, PALETTE, Series, esc, line_chart

__all__ = ["CSS", "EN_DASH", "PALETTE", "Series", "esc", "fmt", "line_chart", "table"]
