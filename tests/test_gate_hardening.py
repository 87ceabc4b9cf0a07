"""The gate through the real CLI: no pass without timing data, output targets checked first, safe markdown,
--rules parsing, every figure of the output labelled."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from bench.gate import DEFAULT_RULES
from tests.helpers import ROOT, cli
from tests.test_gate import BASE, make_run, paired, result

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
    was = rows[1][status]  # ok or not_converged: a timed trial
    rows[1][status], rows[1][error] = "failed", "<script>alert(1)</script> a|b & c\nnext"
    with (run / "trials.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    proc = cli("gate", str(FIXTURE), str(run), "--markdown", str(tmp_path / "s.md"))
    assert proc.returncode == 1, proc.stderr
    md = (tmp_path / "s.md").read_text()
    assert "<script>" not in md
    assert f"{was} -&gt; failed: &lt;script&gt;alert(1)&lt;/script&gt; a\\|b &amp; c next |" in md
    assert "\\nnext" in proc.stdout  # the terminal report escapes the newline too


# --- --rules through the CLI, labelled output -------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--rules", "time:median:5%", "{a}", "{b}"],  # before the folders: one rule per flag, no swallowing
        ["{a}", "--rules", "time:median:5%", "{b}", "--rules", "final_loss:20%"],
        ["{a}", "{b}", "--rules", "time:median:5%,final_loss:20%"],
    ],
)
def test_rules_take_one_rule_per_flag_or_a_comma_list(tmp_path: Path, args):
    a, b = make_run(tmp_path / "a", result("rnn"), result("lstm")).dir, make_run(tmp_path / "b", result("rnn")).dir
    proc = cli("gate", *[x.format(a=a, b=b) for x in args], "--json", str(tmp_path / "v.json"))
    assert proc.returncode == 1, proc.stderr  # the LSTM trial is missing from b
    rules = json.loads((tmp_path / "v.json").read_text())["rules"]
    assert rules == [r for r in ("time:median:5%", "final_loss:20%") if r in " ".join(args)]
    assert f"rules: {' '.join(rules)};" in proc.stdout


def test_rules_default_and_a_bad_rule_in_a_list(tmp_path: Path):
    a = make_run(tmp_path / "a", result("rnn")).dir
    plain = cli("gate", str(a), str(a), "--json", str(tmp_path / "v.json"))
    assert plain.returncode == 0, plain.stderr
    assert json.loads((tmp_path / "v.json").read_text())["rules"] == list(DEFAULT_RULES)
    refused(cli("gate", str(a), str(a), "--rules", "time:median:5%,final_loss"), "rule 'final_loss': give one or two")
    refused(cli("gate", str(a), str(a), "--rules", "time:median:5%,"), "rule '': unknown metric ''")


def test_output_labels_units_columns_and_skips(tmp_path: Path):
    base = make_run(tmp_path / "a", paired("rnn", BASE, BASE), paired("lstm", BASE * 2, BASE)).dir
    cur = make_run(tmp_path / "b", paired("rnn", BASE * 1.25, BASE * 1.25), paired("lstm", BASE * 2.5, BASE * 1.25))
    md = tmp_path / "s.md"
    machine = cli("gate", str(base), str(cur.dir), "--normalize", "machine", "--markdown", str(md), "--json",
                  str(tmp_path / "v.json"))  # fmt: skip
    assert machine.returncode == 1, machine.stderr
    out = " ".join(machine.stdout.split())
    for text in ("time = median of round i / the machine workload's round i",
                 "x machine workload", "median step time (x machine workload; over seeds, the median of their medians)",
                 "change: current / baseline - 1",
                 "q: Benjamini-Hochberg adjusted p-value", "trials per metric and verdict"):  # fmt: skip
        assert text.lower() in out.lower() and text.lower() in " ".join(md.read_text().split()).lower(), text
    assert json.loads((tmp_path / "v.json").read_text())["time_unit"] == "x machine workload"
    rnn = cli("gate", str(base), str(cur.dir), "--normalize", "rnn", "--markdown", str(md))
    assert rnn.returncode == 0, rnn.stderr
    skipped = "skipped = not judged: time: 1 trial, the RNN reference of --normalize rnn (its own rounds are the"
    assert skipped in rnn.stdout and skipped in md.read_text()
    plain = cli("gate", str(base), str(cur.dir), "--rules", "time:median:10%")
    assert "ms" in plain.stdout.split("regressions:")[1] and "median step time (ms;" in plain.stdout
