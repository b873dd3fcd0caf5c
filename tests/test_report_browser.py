"""The report in a real browser: headless Chromium logs no console message and draws plots.

Chromium prints every console message (errors included, such as an SVG attribute it
cannot parse or a resource it could not load) to stderr with ``--enable-logging=stderr``
as ``INFO:CONSOLE...] "message", source: ...``. The report runs no script, so any
console line at all is a failure. ``--dump-dom`` gives the DOM after load, where the
plots must be.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from polyclass.report import write_report

pytestmark = pytest.mark.browser

CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.skip("chromium not found: install Debian's chromium (apt-get install chromium)")


def _render(page: Path, profile: Path, *extra: str) -> tuple[str, list[str]]:
    """(DOM after load, console messages) of ``page`` in headless Chromium."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        page.resolve().as_uri(),
    ]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_proxy")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    console = [m.group(1) for m in map(CONSOLE.search, proc.stderr.splitlines()) if m]
    if proc.returncode != 0 and not proc.stdout:
        pytest.fail(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout, console


def test_harness_sees_console_errors(tmp_path: Path) -> None:
    """Control: a page with a broken SVG path must be caught, or the real test proves nothing."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><svg width="9" height="9"><path d="M0 0 Lx 3"/></svg>'
        "</body></html>",
        encoding="utf-8",
    )
    dom, console = _render(page, tmp_path / "profile", "--dump-dom")
    assert "<svg" in dom
    assert any("attribute d" in line for line in console), console


@pytest.mark.parametrize("dataset", ["wine", "cancer"])
def test_report_renders_without_console_errors(tmp_path: Path, dataset: str) -> None:
    from test_report import SECTION_IDS, build_context

    html_path, _ = write_report(tmp_path / "out", build_context(dataset))
    dom, console = _render(html_path, tmp_path / "profile", "--dump-dom")
    assert console == []
    assert dom.count('<svg class="plot') >= 12
    for section in SECTION_IDS:
        assert f'id="{section}"' in dom
    # the charts that matter are there, with drawn curves
    for caption in ("ROC curves", "Precision-recall curves", "Counts", "Cross-validated score"):
        assert caption in dom
    assert dom.count("<path d=") >= 10


def test_screenshot(tmp_path: Path) -> None:
    from test_report import build_context

    html_path, _ = write_report(tmp_path / "out", build_context("wine"))
    shot = tmp_path / "report.png"
    _, console = _render(
        html_path,
        tmp_path / "profile",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        "--window-size=1280,4000",
    )
    assert console == []
    assert shot.exists() and shot.stat().st_size > 50_000
