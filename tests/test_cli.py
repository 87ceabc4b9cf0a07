"""End-to-end: the real CLI in a subprocess."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.results import TRIAL_COLUMNS
from tests.helpers import ROOT, cli, write

pytestmark = pytest.mark.slow

TINY = """
name = "tiny"
seeds = [0]
task = "hello"
encoding = "embedding"
hidden = 8
layers = 2
cell = ["rnn", "lstm", "gru"]
patience = 0
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    suite = write(d / "tiny.toml", TINY)
    proc = cli("run", str(suite), "--out", str(d / "run"), "--time-budget", "0.02", "--verbose", "--no-progress")
    return proc, d / "run"


def test_run_writes_every_file(tiny_run):
    proc, out = tiny_run
    assert proc.returncode == 0, proc.stderr
    assert "Predicted string: " in proc.stdout and "Epoch [15/15] loss " in proc.stdout
    assert {p.name for p in out.iterdir()} >= {"trials.csv", "curves.csv", "benchmark.json", "env.json",
                                               "suite.toml", "samples.jsonl"}  # fmt: skip
    trials = pd.read_csv(out / "trials.csv")
    assert tuple(trials.columns) == TRIAL_COLUMNS
    assert sorted(trials["cell"]) == ["gru", "lstm", "rnn"]
    assert trials.set_index("cell").loc["lstm", "params_ratio_vs_rnn"] == pytest.approx(1292 / 380)
    assert (trials["rounds"] >= 15).all() and (trials["torch_threads"] >= 1).all()
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["predicted"].str.len()) == {5}
    per_trial = curves.groupby("trial_id").size()  # 15 epochs, or fewer where early stopping ended a solved trial
    assert len(per_trial) == 3 and per_trial.max() <= 15 and per_trial.sum() == trials["epochs_run"].sum()
    env = json.loads((out / "env.json").read_text())
    assert env["schema_version"] == 1 and env["torch_version"] and "cpu" in env["devices"]
    assert "float32" in env["calibration"]["cpu"]["matmul_tflops"]
    assert (out / "suite.toml").read_text() == TINY
    resolved = json.loads((out / "suite.resolved.json").read_text())
    assert sorted(t["trial_id"] for t in resolved["trials"]) == sorted(trials["trial_id"])


def test_pytest_benchmark_compare_reads_benchmark_json(tiny_run):
    _, out = tiny_run
    proc = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out / "benchmark.json")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for cell in ("rnn", "lstm", "gru"):
        assert f"hello-{cell}-fused-H8-L2" in proc.stdout


def test_show_and_rerun_resumes(tiny_run):
    _, out = tiny_run
    show = cli("show", str(out))
    assert show.returncode == 0, show.stderr
    assert "paired time per step vs RNN" in show.stdout and "lstm on cpu" in show.stdout
    again = cli("run", str(out / "suite.toml"), "--out", str(out), "--no-progress")
    assert again.returncode == 0
    assert "0 trials run, 3 already complete" in again.stderr
    assert len(pd.read_csv(out / "trials.csv")) == 3


def test_out_folder_of_another_suite_is_refused(tiny_run, tmp_path: Path):
    _, out = tiny_run
    other = write(tmp_path / "other.toml", TINY.replace('name = "tiny"', 'name = "other"'))
    before = (out / "trials.csv").read_text()
    proc = cli("run", str(other), "--out", str(out), "--no-progress")
    assert proc.returncode == 2
    assert "holds a run of suite 'tiny', not 'other'" in proc.stderr
    assert (out / "trials.csv").read_text() == before


def test_dry_run_lists_and_writes_nothing(tmp_path: Path):
    suite = write(tmp_path / "tiny.toml", TINY)
    proc = cli("run", str(suite), "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0
    assert "3 trials of suite 'tiny': estimated" in proc.stdout and "Fitted to training steps timed on" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]


def test_failed_trial_is_recorded_and_sweep_goes_on(tmp_path: Path):
    # A 4e10-parameter model cannot be allocated: the trial fails, the other trial still runs.
    suite = write(tmp_path / "f.toml", 'task = "synthetic"\nseq_len = 2\nbatch = 1\n[[grid]]\nhidden = [200000, 4]\n')
    proc = cli("run", str(suite), "--out", str(tmp_path / "run"), "--time-budget", "0.01", "--no-progress")
    assert proc.returncode == 1, proc.stderr
    trials = pd.read_csv(tmp_path / "run" / "trials.csv").set_index("hidden")
    assert trials.loc[200000, "status"] == "failed" and "alloc" in trials.loc[200000, "error"].lower()
    assert trials.loc[4, "status"] == "ok"
    assert "failed         1" in proc.stderr


SLOW = """
name = "slow"
task = "adding"
hidden = 16
seq_len = 20
batch = 8
max_epochs = 4
steps_per_epoch = 10
cell = ["rnn", "lstm", "gru"]
seeds = [0, 1, 2, 3]
"""


def _interrupt(tmp_path: Path, sig: signal.Signals, rows: int) -> tuple[Path, Path, subprocess.Popen]:
    """Start a run of SLOW, send `sig` once trials.csv has `rows` rows; returns (suite, out, process)."""
    suite = write(tmp_path / "slow.toml", SLOW)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "bench", "run", str(suite), "--out", str(out), "--time-budget", "0.05"]
    # SIGINT as in a terminal: a shell starting a background job (as a CI runner may) sets it to ignored,
    # and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen(cmd + ["--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.time() + 120
    trials = out / "trials.csv"
    while not (trials.exists() and trials.read_text().count("\n") >= rows + 1):
        assert time.time() < deadline, f"{trials} never reached {rows} rows"
        time.sleep(0.05)
    proc.send_signal(sig)
    return suite, out, proc


def test_sigkill_mid_run_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path):
    suite, out, proc = _interrupt(tmp_path, signal.SIGKILL, 3)
    proc.wait(timeout=30)
    partial = pd.read_csv(out / "trials.csv")  # parses: no torn row
    assert 3 <= len(partial) < 12 and partial["trial_id"].is_unique
    resumed = cli("run", str(suite), "--out", str(out), "--time-budget", "0.05", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 12 and trials["trial_id"].is_unique
    assert set(partial["trial_id"]) <= set(trials["trial_id"])
    curves = pd.read_csv(out / "curves.csv")
    assert not curves.duplicated(["trial_id", "epoch"]).any()
    assert set(curves["trial_id"]) == set(trials["trial_id"])
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["extra_info"]["trial_id"] for s in samples) == sorted(trials["trial_id"])
    assert len(json.loads((out / "benchmark.json").read_text())["benchmarks"]) == 12


def test_ctrl_c_saves_complete_trials_and_says_how_to_resume(tmp_path: Path):
    suite, out, proc = _interrupt(tmp_path, signal.SIGINT, 2)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    # the resume command keeps every option of the interrupted one
    assert f"resume with: rnnbench run {suite} --time-budget 0.05 --no-progress --out {out}" in stderr
    trials = pd.read_csv(out / "trials.csv")
    assert 2 <= len(trials) < 12 and trials["trial_id"].is_unique


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks skipped rows on a machine without CUDA")
def test_device_override_gives_skipped_rows_with_reason(tmp_path: Path):
    suite = write(tmp_path / "tiny.toml", TINY)
    proc = cli("run", str(suite), "--out", str(tmp_path / "run"), "--device", "cuda", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert set(trials["device"]) == {"cuda"} and set(trials["status"]) == {"skipped"}
    assert trials["error"].str.contains("cuda not available").all()
    assert "skipped        3" in proc.stderr
