"""The rendered report: sections, escaping, partial results, bad input, and no torch."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import BenchError
from bench.report.build import render_report
from bench.report.options import ReportOptions
from bench.report.runs import load_results
from bench.report.sections_cost import heatmap_section

FIXTURE = Path(__file__).parent / "data" / "run_small"
SECTIONS = ("headline", "time", "ratio", "heatmap", "convergence", "benefit", "throughput", "provenance")


@pytest.fixture(scope="module")
def html() -> str:
    return render_report([FIXTURE])


def variant(tmp_path: Path, keep: Callable[[pd.DataFrame], pd.DataFrame], devices: dict | None = None) -> Path:
    """A copy of the fixture run with only the trials `keep` returns (and, optionally, other device names)."""
    out = tmp_path / "run"
    shutil.copytree(FIXTURE, out)
    trials = pd.read_csv(FIXTURE / "trials.csv", dtype={"trial_id": str})
    keep(trials).to_csv(out / "trials.csv", index=False)
    if devices is not None:
        env = json.loads((out / "env.json").read_text())
        (out / "env.json").write_text(json.dumps({**env, "devices": devices}))
    return out


def images(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', page)


def test_every_section_and_plot(html):
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html
    assert '<table class="headline">' in html and re.search(r"\d\.\d+x \[\d\.\d+, \d\.\d+\]", html)
    # 4 time sweeps, 4 ratio sweeps, heatmap, convergence, loss, benefit, GFLOP/s, peak fraction
    assert len(images(html)) == 18 and all(src.startswith("data:image/png;base64,") for src in images(html))
    assert html.count("<figcaption>") == 18
    assert "Launch-overhead fraction (1 - graph / eager time): no values" in html  # empty on CPU: a note


def test_self_contained(html):
    assert "<script" not in html and '<link rel="stylesheet"' not in html
    assert not re.search(r'(?:src|href)="(?!data:|#)', html)  # only inline images and in-page anchors
    assert "@import" not in html and "url(" not in html


def test_results_text_is_escaped(html):
    assert "simulated failure &lt;script&gt;window.__pwned = 1&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    assert "window.__pwned = 1</script>" not in html


def test_skipped_device_is_a_note(html):
    assert "Every trial on cuda was skipped (device cuda not available" in html
    assert "cuda" not in re.search(r'<table class="headline">.*?</table>', html, re.S).group(0)


def test_measurement_warnings_listed(html):
    assert re.search(r"\d+ of 61 trials have a step-time IQR above 10% of their median", html)


def test_heatmap_axes_option():
    section = heatmap_section(load_results([FIXTURE]), ReportOptions(heatmap=("hidden", "lr")))
    assert "Ratio heatmap over hidden x lr: needs two values or more on each axis; the results have lr=[0.02]." in (
        section.body
    )


def test_one_value_per_axis_leaves_plots_out(tmp_path):
    page = render_report([variant(tmp_path, lambda t: t[t["task"] == "hello"])])
    one_line = ("not plotted against hidden, layers, seq_len, batch: only one value among trials that differ in "
                "that axis alone.")  # fmt: skip
    assert f"Time per step {one_line}" in page and f"Cost ratio {one_line}" in page  # one line, not eight
    assert "Ratio heatmap over hidden x seq_len: needs two values or more" in page
    assert "GFLOP/s against hidden: only one value (8)" in page
    assert '<table class="headline">' in page  # the ratios themselves still stand


def test_missing_cell_and_odd_device_name(tmp_path):
    name = 'Xeon <b>"$\\alpha$"</b> & co'
    page = render_report([variant(tmp_path, lambda t: t[t["cell"] != "gru"], devices={"cpu": name})])
    headline = re.search(r'<table class="headline">.*?</table>', page, re.S).group(0)
    assert "LSTM" in headline and "GRU" not in headline
    assert "Xeon &lt;b&gt;&quot;$\\alpha$&quot;&lt;/b&gt; &amp; co" in page and "<b>" not in page


def test_no_rnn_is_a_note(tmp_path):
    page = render_report([variant(tmp_path, lambda t: t[t["cell"] != "rnn"])])
    # Every timing group timed an RNN step beside its cells, so the paired ratios stand without RNN trials.
    assert '<table class="headline">' in page and "time per step vs RNN [95% CI]" in page
    assert "Cost ratio against" not in page or "no trial with a paired reference step" not in page
    assert len(images(page)) >= 6  # time sweeps, convergence, loss, benefit still drawn


def test_nothing_timed_still_renders(tmp_path):
    page = render_report([variant(tmp_path, lambda t: t[t["status"].isin(["skipped", "failed"])])])
    assert images(page) == []
    assert "No trial was trained (all failed or were skipped)" in page
    assert "Every trial on cuda was skipped" in page and "Every trial on cpu" in page


def test_two_runs_are_stacked(tmp_path):
    hello = variant(tmp_path / "a", lambda t: t[t["task"] == "hello"])
    page = render_report([hello, variant(tmp_path / "b", lambda t: t[t["task"] == "hello"]), hello])
    assert "24 trials from 2 run(s): a/run, b/run" in page  # the same folder twice counts once
    assert '<th class="text">a/run</th><th class="text">b/run</th>' in page  # environment, side by side


def test_bad_input_is_a_bench_error(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        render_report([tmp_path / "missing"])
    (tmp_path / "trials.csv").write_text("schema_version,trial_id,status\n")
    with pytest.raises(BenchError, match="no trials recorded"):
        render_report([tmp_path])
    (tmp_path / "trials.csv").write_text("schema_version,trial_id,status\n9,abc,ok\n")
    with pytest.raises(BenchError, match="schema_version"):
        render_report([tmp_path])


def test_report_does_not_import_torch(tmp_path):
    hello = variant(tmp_path, lambda t: t[t["task"] == "hello"])
    code = (
        "import sys, pkgutil, importlib, bench.report, bench.report.build, bench.cli.report\n"
        "for m in pkgutil.iter_modules(bench.report.__path__): importlib.import_module('bench.report.' + m.name)\n"
        f"bench.report.build.render_report([{str(hello)!r}])\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
