"""The gate through the real CLI: no pass without timing data, output targets checked first, safe markdown."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT, cli

FIXTURE = ROOT / "tests" / "data" / "run_small"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "run"))


def refused(proc, *texts: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: "), proc.stderr
    for text in texts:
        assert text in proc.stderr, proc.stderr


def test_deleted_samples_refuse_the_time_rule(run: Path):
    (run / "samples.jsonl").unlink()
    proc = cli("gate", str(FIXTURE), str(run))
    refused(proc, f"{run}: 54 of 54 timed trials", "samples.jsonl is missing or empty", "time rule cannot be")
    assert "PASS" not in proc.stdout
    quality_only = cli("gate", str(FIXTURE), str(run), "--rules", "final_loss:20%")
    assert quality_only.returncode == 0, quality_only.stderr


def test_timed_trials_without_samples_refuse_the_time_rule(run: Path):
    lines = (run / "samples.jsonl").read_text().splitlines()
    (run / "samples.jsonl").write_text("\n".join(lines[3:]) + "\n")
    refused(cli("gate", str(run), str(FIXTURE)), f"{run}: 3 of 54 timed trials", "samples.jsonl has no record")


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_a_folder_as_output_is_refused_before_comparing(tmp_path: Path, flag):
    proc = cli("gate", str(FIXTURE), str(FIXTURE), flag, str(tmp_path))
    refused(proc, f"{flag}: '{tmp_path}' is a folder; give a file")
    assert proc.stdout == ""


def test_disk_full_on_output_is_a_clear_error():
    refused(cli("gate", str(FIXTURE), str(FIXTURE), "--json", "/dev/full"),
            "cannot write /dev/full: No space left on device")  # fmt: skip


def test_markdown_escapes_html_and_pipes_of_a_trial_error(run: Path, tmp_path: Path):
    rows = list(csv.reader((run / "trials.csv").open()))
    status, error = rows[0].index("status"), rows[0].index("error")
    rows[1][status], rows[1][error] = "failed", "<script>alert(1)</script> a|b & c\nnext"
    with (run / "trials.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    proc = cli("gate", str(FIXTURE), str(run), "--markdown", str(tmp_path / "s.md"))
    assert proc.returncode == 1, proc.stderr
    md = (tmp_path / "s.md").read_text()
    assert "<script>" not in md
    assert "ok -&gt; failed: &lt;script&gt;alert(1)&lt;/script&gt; a\\|b &amp; c next |" in md
    assert "\\nnext" in proc.stdout  # the terminal report escapes the newline too
