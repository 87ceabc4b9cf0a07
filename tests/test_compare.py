"""`rnnbench compare` (timing at sizes given as options) and `rnnbench run --set AXIS=V1,V2`."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import build_parser
from bench.cli.compare import CellTime, build_trials, comparison_lines, suite_text
from bench.suite import parse_suite
from tests.helpers import cli, write

TINY = ("--hidden", "4", "--seq-len", "3", "--batch", "2", "--threads", "1", "--time-budget", "0.05")
SUITE = """name = "s"
cell = ["rnn", "lstm"]
task = "synthetic"
hidden = 8
"""


def _args(*argv: str):
    return build_parser().parse_args(["compare", *argv])


def test_every_axis_is_an_option_and_the_saved_suite_expands_to_the_same_trials(tmp_path: Path):
    args = _args("--hidden", "64", "--seq-len", "20", "--layers", "2", "--input-size", "16", "--lr", "0.01",
                 "--optimizer", "sgd", "--cells", "lstm,gru")  # fmt: skip
    trials = build_trials(args)
    assert [t.cell for t in trials] == ["lstm", "gru"]
    assert {(t.task, t.hidden, t.seq_len, t.layers, t.input_size, t.lr, t.optimizer, t.batch) for t in trials} == {
        ("synthetic", 64, 20, 2, 16, 0.01, "sgd", 32)
    }
    suite = parse_suite(write(tmp_path / "compare.toml", suite_text(trials, "rnnbench compare ...")))
    assert [t.trial_id for t in suite.trials] == [t.trial_id for t in trials]


def test_comparison_lines_print_times_ratios_and_the_resolution():
    rows = [
        CellTime("rnn", "ok", 0.002, 0.0019, 0.0021, 1.0, 1.0, 1.0, 40, 1),
        CellTime("lstm", "ok", 0.005, 0.0049, 0.0052, 2.5, 2.45, 2.55, 40, 1),
        CellTime("gru", "failed", float("nan"), float("nan"), float("nan"), float("nan"), float("nan"),
                 float("nan"), 0, 1, "RuntimeError: boom"),
    ]  # fmt: skip
    lines = comparison_lines(rows, "header")
    assert lines[0] == "header"
    assert lines[2].split()[:6] == ["rnn", "2", "ms", "[1.9", "ms,", "2.1"]
    assert "1 (the reference)" in lines[2]
    assert "2.500x [2.450, 2.550] +-2.0%" in lines[3] and "5 ms [4.9 ms, 5.2 ms]" in lines[3]
    assert lines[4].startswith("gru") and "failed: RuntimeError: boom" in lines[4]
    assert lines[5].startswith("resolution: ratios to +-2.0%") and "times to +-5.0%" in lines[5]


@pytest.mark.slow
def test_compare_cli_prints_every_cell_and_saves_a_run_folder(tmp_path: Path):
    out = tmp_path / "cmp"
    proc = cli("compare", *TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.split()}
    assert lines["synthetic:"].startswith("synthetic: H=4 L=1 T=3 B=2") and "1 torch threads" in lines["synthetic:"]
    assert "1 (the reference)" in lines["rnn"]
    for cell in ("lstm", "gru"):
        ratio, lo, hi = map(float, re.search(r"(\d+\.\d+)x \[(\d+\.\d+), (\d+\.\d+)\]", lines[cell]).groups())
        assert 0 < lo <= ratio <= hi
    assert lines["resolution:"].startswith("resolution:")
    trials = pd.read_csv(out / "trials.csv")
    assert sorted(trials["cell"]) == ["gru", "lstm", "rnn"] and set(trials["task"]) == {"synthetic"}
    resumed = parse_suite(out / "suite.toml")
    assert {t.trial_id for t in resumed.trials} == set(trials["trial_id"])
    assert cli("show", str(out)).returncode == 0


@pytest.mark.parametrize(
    "argv, words",
    [
        (("--device", "tpu"), ["--device", "'tpu'", "cpu, cuda, mps"]),
        (("--cells", "rnn,lstn"), ["--cells", "'lstn'", "rnn, lstm, gru"]),
        (("--hidden", "0"), ["--hidden", "0", ">= 1"]),
        (("--seq-len", "ten"), ["--seq-len", "'ten'", "integer"]),
        (("--hidden", "8,16"), ["--hidden", "one value"]),
        (("--time-budget", "0"), ["--time-budget"]),
    ],
)
def test_compare_bad_option_exits_2_and_writes_nothing(tmp_path: Path, argv, words):
    out = tmp_path / "cmp"
    proc = cli("compare", *argv, "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    for word in words:
        assert word in proc.stderr
    assert not out.exists()


def _dry_run(tmp_path: Path, *argv: str):
    return cli("run", str(write(tmp_path / "s.toml", SUITE)), "--dry-run", *argv)


def _table(stdout: str) -> pd.DataFrame:
    rows = [line.split() for line in stdout.splitlines()]
    header = rows[0]
    return pd.DataFrame([r for r in rows[1:] if len(r) == len(header)], columns=header)


def test_set_replaces_an_axis_in_every_trial_and_crosses_its_values(tmp_path: Path):
    proc = _dry_run(tmp_path, "--set", "hidden=16,32", "--set", "cell=gru")
    assert proc.returncode == 0, proc.stderr
    table = _table(proc.stdout)
    assert sorted(table["hidden"].astype(int)) == [16, 32] and set(table["cell"]) == {"gru"}
    assert "2 trials of suite 's'" in proc.stdout


def test_set_values_are_typed_by_the_axis(tmp_path: Path):
    proc = _dry_run(tmp_path, "--set", "seq_len=7", "--set", "lr=1")
    assert proc.returncode == 0, proc.stderr
    assert set(_table(proc.stdout)["seq_len"]) == {"7"}


@pytest.mark.parametrize(
    "argv, words",
    [
        (("--set", "hiden=4"), ["unknown axis 'hiden'", "did you mean 'hidden'", "seq_len"]),
        (("--set", "device=tpu"), ["--set device", "'tpu'", "cpu, cuda, mps"]),
        (("--set", "hidden=8,x"), ["--set hidden", "'x' is not an integer"]),
        (("--set", "hidden"), ["AXIS=VALUE"]),
        (("--set", "hidden=4", "--set", "hidden=8"), ["given twice"]),
        (("--set", "task=hello", "--set", "encoding=dense"), ["--set: trial", "feeds token ids"]),
    ],
)
def test_set_bad_axis_or_value_exits_2(tmp_path: Path, argv, words):
    proc = _dry_run(tmp_path, *argv)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    for word in words:
        assert word in proc.stderr
