"""The gate's end-to-end self-test: the real CLI in subprocesses on the smoke suite.

Two runs of the same code pass `gate --normalize rnn` with the default rules; a run with every LSTM
step made 50% slower fails it, for its LSTM configurations (time is judged per configuration, its
seeds pooled) and no other. A run with every step 50% slower (a
slower torch) fails `gate --normalize machine`, its RNN trials included (--normalize rnn cannot gate
them). Every trial's rounds are timed beside an RNN step and a machine workload, so machine drift
cancels: in `make gate-calibration` (N = 10, this 2-core VM, before the machine workload existed)
same-code pairs drifted by at most 8% (p90 3.6%) under rnn and none failed. The same-code check still
gets one fresh pair before it fails, as a guard against a rare burst on a shared CI machine.
The runs use one torch thread, as the smoke suite says.
"""

import json
from pathlib import Path

import pytest

from tests.helpers import ROOT, cli

pytestmark = pytest.mark.slow


def smoke_run(out: Path, *extra: str) -> Path:
    proc = cli("run", str(ROOT / "suites" / "smoke.toml"), "--out", str(out), "--no-progress", *extra,
               env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def gate(baseline: Path, current: Path, *extra: str, normalize: str = "rnn"):
    return cli("gate", str(baseline), str(current), "--normalize", normalize, *extra)


def flagged(stdout: str) -> str:
    """The regressions table of the gate's text output ('' when there is none)."""
    return stdout.split("regressions:")[1].split("\n\n")[0] if "regressions:" in stdout else ""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gate-selftest")
    smoke_run(d / "a")
    smoke_run(d / "a2")
    smoke_run(d / "lstm_slow", "--inject-slowdown", "lstm:0.5")
    smoke_run(d / "all_slow", "--inject-slowdown", "0.5")
    return d


def test_same_code_passes(runs: Path, tmp_path: Path):
    proc = gate(runs / "a", runs / "a2", "--json", str(tmp_path / "v.json"))
    if proc.returncode == 1:  # a rare burst (see above): one fresh pair must pass
        proc = gate(smoke_run(runs / "a3"), smoke_run(runs / "a4"), "--json", str(tmp_path / "v.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS: 0 regressions" in proc.stdout
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["verdict"] == "pass" and verdict["normalize"] == "rnn"
    assert verdict["counts"]["time"]["skipped"] == 4  # the four RNN trials are the reference
    assert verdict["counts"]["convergence_epoch"]["unchanged"] == 12  # training is deterministic on CPU
    assert verdict["counts"]["final_loss"]["unchanged"] == 12


def _lstm_gate(baseline: Path, current: Path, tmp_path: Path):
    proc = gate(baseline, current, "--markdown", str(tmp_path / "summary.md"), "--json", str(tmp_path / "v.json"))
    findings = json.loads((tmp_path / "v.json").read_text())["findings"] if (tmp_path / "v.json").exists() else []
    return proc, findings, sorted(f["label"].split("-")[1] for f in findings if f["verdict"] == "regression")


def test_slower_lstm_fails(runs: Path, tmp_path: Path):
    proc, findings, regressed = _lstm_gate(runs / "a", runs / "lstm_slow", tmp_path)
    if regressed != ["lstm", "lstm"]:  # a burst of other load between the two runs: one fresh pair
        fresh = smoke_run(runs / "a6"), smoke_run(runs / "lstm_slow2", "--inject-slowdown", "lstm:0.5")
        proc, findings, regressed = _lstm_gate(*fresh, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "-lstm-" in flagged(proc.stdout), proc.stdout
    # every LSTM configuration (hello and adding, each its two seeds pooled), nothing else
    assert regressed == ["lstm", "lstm"], findings
    assert (tmp_path / "summary.md").read_text().startswith("## rnnbench gate: FAIL: ")


def test_uniformly_slower_steps_fail_under_machine(runs: Path, tmp_path: Path):
    proc = gate(runs / "a", runs / "all_slow", "--json", str(tmp_path / "v.json"), normalize="machine")
    if proc.returncode == 0:  # the two runs minutes apart under a burst of other load: one fresh pair, back to back
        fresh = smoke_run(runs / "a5"), smoke_run(runs / "all_slow2", "--inject-slowdown", "0.5")
        proc = gate(*fresh, "--json", str(tmp_path / "v.json"), normalize="machine")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = json.loads((tmp_path / "v.json").read_text())["findings"]
    regressed = {f["label"].split("-")[1] for f in findings if f["metric"] == "time" and f["verdict"] == "regression"}
    assert "rnn" in regressed, findings  # the reference cell, not time-gated under --normalize rnn
    assert "x machine workload" in proc.stdout
