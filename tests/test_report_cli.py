"""`rnnbench report`: end-to-end in a subprocess, and its argument checks in-process."""

from __future__ import annotations

import pytest

from bench.cli import main
from tests.helpers import ROOT, cli


@pytest.mark.slow
def test_report_writes_the_file(tmp_path):
    """tests/data holds a 'latest' link to run_small, as results/<suite>/ does: the report follows it."""
    out = tmp_path / "reports" / "small.html"  # the folder is created
    proc = cli("report", "tests/data", "-o", str(out), "--heatmap", "hidden,layers", "--title", "<T>")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert '<table class="headline">' in text and "<title>&lt;T&gt;</title>" in text
    assert "61 trials from 1 run(s): data/run_small" in text
    assert f"report: {out}" in proc.stdout


@pytest.mark.slow
def test_missing_folder_exits_2(tmp_path):
    missing = tmp_path / "no-such-run"
    proc = cli("report", str(missing), "-o", str(tmp_path / "x.html"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and str(missing) in proc.stderr
    assert not (tmp_path / "x.html").exists()


def test_empty_folder_and_bad_options_exit_2(tmp_path, capsys):
    run = str(ROOT / "tests" / "data" / "run_small")
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    assert "no trials.csv" in capsys.readouterr().err
    assert main(["report", run, "--heatmap", "hidden,hiden", "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --heatmap 'hidden,hiden': give two different axes") and "seq_len" in err
    assert main(["report", run, "--iqr-warning", "0"]) == 2
    assert not (tmp_path / "x.html").exists()


def test_help_gives_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("(default: reports/report.html)", "(default: hidden,seq_len)", "(default: 0.1)", "RUN_DIR"):
        assert option in text, option
    assert (ROOT / "Makefile").read_text().count("bench report") >= 2
