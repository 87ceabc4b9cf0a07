"""The report in headless Chromium: images load, no console errors, the headline table is there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.report.build import render_report

FIXTURE = Path(__file__).parent / "data" / "run_small"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip

pytestmark = pytest.mark.browser


def chromium() -> str:
    """The browser to drive; skips the test, saying why, where there is none."""
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed: pip install playwright")
    path = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not path:
        pytest.skip(f"no Chromium at {CHROMIUM} or on PATH (make browser installs it); the browser test needs one")
    return str(path)


def test_report_in_chromium(tmp_path):
    executable = chromium()
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(render_report([FIXTURE]), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else errors.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            headline = page.locator("#headline table.headline tbody tr").all_inner_texts()
            pwned = page.evaluate("window.__pwned === undefined")
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 14 and all(w > 0 for w in widths), widths
    assert errors == []  # no console error, no script error, no request off the page
    assert [row.split("\t")[1] for row in headline] == ["LSTM", "GRU"]
    assert pwned  # the <script> in a trial's error text stayed text
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
