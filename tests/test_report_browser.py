"""The report in headless Chromium: images load, no console errors, the headline table is there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
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


def slower_lr_run(tmp_path: Path) -> Path:
    """The fixture run again as if trained at lr 0.01 instead of 0.02, every adding trial solving in twice the
    time: a second learning rate per cell, for the best-lr comparison (0.02 must win where it solved)."""
    out = tmp_path / "lr_run"
    shutil.copytree(FIXTURE, out)
    trials = pd.read_csv(out / "trials.csv", dtype={"trial_id": str})
    curves = pd.read_csv(out / "curves.csv", dtype={"trial_id": str})
    adding = trials["task"] == "adding"
    renamed = {t: t[:-2] + "lr" for t in trials.loc[adding, "trial_id"]}
    trials.loc[adding, "lr"] = 0.01
    for column in ("time_to_converge_s", "time_to_solve_s", "steps_to_solve"):  # older fixtures lack the last two
        if column in trials:
            trials.loc[adding, column] *= 2
    trials.loc[adding, "convergence_epoch"] = (trials.loc[adding, "convergence_epoch"] * 2).clip(upper=10)
    trials["trial_id"] = trials["trial_id"].replace(renamed)
    curves["trial_id"] = curves["trial_id"].replace(renamed)
    trials.to_csv(out / "trials.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    return out


def test_report_in_chromium(tmp_path):
    executable = chromium()
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(render_report([FIXTURE, slower_lr_run(tmp_path)]), encoding="utf-8")
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
            solve_rows = page.locator("#solve table.solve tbody tr").all_inner_texts()
            lr_rows = page.eval_on_selector_all(  # inside a closed <details>: read the cells' text
                "#solve table.lr tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
            )
            solve_images = page.eval_on_selector_all(
                "#solve img", "imgs => imgs.map(i => [i.alt, i.complete ? i.naturalWidth : 0])"
            )
            loss_alts = page.eval_on_selector_all("#convergence img", "imgs => imgs.map(i => i.alt)")
            pwned = page.evaluate("window.__pwned === undefined")
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 18 and all(w > 0 for w in widths), widths
    assert [alt for alt, _ in solve_images] == [
        "fraction solved against training time", "fraction solved against training steps",
        "time to solve against learning rate",
    ] and all(w > 0 for _, w in solve_images)  # fmt: skip
    assert {"loss curves against training steps", "loss curves against training wall time"} <= set(loss_alts)
    # the headline: one row per configuration and cell at its best lr, the budget always stated
    assert solve_rows and all("10 epochs x 20 steps" in r or "15 epochs" in r or "10 epochs" in r for r in solve_rows)
    adding = [r.split("\t") for r in solve_rows if r.startswith("adding")]
    assert {r[3] for r in adding} == {"rnn", "lstm", "gru"} and {r[4] for r in adding if r[6] != "not solved"} == {
        "0.02"
    }
    assert any("x the time" in r for r in solve_rows) and any(" vs 0/" in r for r in solve_rows)
    lrs = {(r[3], r[4]) for r in lr_rows if r[0] == "adding"}
    assert {r[4] for r in lr_rows if r[0] == "adding" and r[-1] == "best" and r[7] != "not solved"} == {"0.02"}
    assert {("gru", "0.01"), ("gru", "0.02"), ("lstm", "0.01"), ("lstm", "0.02")} <= lrs
    assert errors == []  # no console error, no script error, no request off the page
    assert {row.split("\t")[1] for row in headline} == {"LSTM", "GRU"}
    assert pwned  # the <script> in a trial's error text stayed text
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
