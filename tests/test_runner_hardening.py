"""Issue 10 through the real CLI: one writer per folder, crash isolation, in-flight markers, resume checks,
run options validated before any work."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench import SCHEMA_VERSION
from bench.errors import BenchError
from bench.faults import TEST_KILL_ENV
from bench.isolation import death_cause
from bench.runfolder import INFLIGHT, InflightLog, RunLock, new_run_folder
from bench.suite import parse_suite
from tests.helpers import ROOT, cli, write

pytestmark = pytest.mark.slow

SMALL = {"name": "small", "seeds": [0], "task": "hello", "encoding": "embedding", "hidden": 8, "max_epochs": 3,
         "threads": 1, "cell": ["rnn", "lstm"]}  # fmt: skip
FAST = ("--time-budget", "0.01", "--warmup-rounds", "1", "--no-progress")


def small_suite(d: Path, **axes) -> Path:
    return write(d / "small.toml", "".join(f"{k} = {json.dumps(v)}\n" for k, v in {**SMALL, **axes}.items()))


def ids_of(suite: Path, cell: str) -> list[str]:
    return [t.trial_id for t in parse_suite(suite).trials if t.cell == cell]


def trial_ids(out: Path) -> list[str]:
    return list(pd.read_csv(out / "trials.csv", dtype={"trial_id": str})["trial_id"])


def resolved_ids(out: Path, cell: str | None = None) -> list[str]:
    doc = json.loads((out / "suite.resolved.json").read_text())
    return [t["trial_id"] for t in doc["trials"] if cell is None or t["cell"] == cell]


def test_a_second_run_on_the_same_folder_is_refused_and_nothing_is_written_twice(tmp_path):
    suite = small_suite(tmp_path, seeds=[0, 1, 2])
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "bench", "run", str(suite), "--out", str(out), *FAST],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "env.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    second = cli("run", str(suite), "--out", str(out), *FAST)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert "another rnnbench run is writing this folder" in second.stderr and "pid" in second.stderr
    ids = trial_ids(out)
    assert len(ids) == len(set(ids)) == 6


def test_default_folders_cannot_collide(tmp_path):
    a, b = new_run_folder(tmp_path, "20260101-000000"), new_run_folder(tmp_path, "20260101-000000")
    assert a != b and a.is_dir() and b.is_dir() and b.name == "20260101-000000-2"


def test_the_lock_names_its_holder_and_is_released(tmp_path):
    lock = RunLock(tmp_path)
    lock.claim()
    with pytest.raises(BenchError, match=f"pid {os.getpid()}"):
        RunLock(tmp_path)
    lock.release()
    RunLock(tmp_path).release()


def test_a_killed_trial_is_retried_once_then_a_failed_row_and_the_sweep_goes_on(tmp_path):
    suite = small_suite(tmp_path, hidden=[8, 16])
    out = tmp_path / "run"
    victim = ids_of(suite, "lstm")[0]
    proc = cli("run", str(suite), "--out", str(out), *FAST, env={TEST_KILL_ENV: victim})
    assert proc.returncode == 1, proc.stderr
    rows = pd.read_csv(out / "trials.csv", dtype={"trial_id": str}).set_index("trial_id")
    assert len(rows) == 4 and rows.index.is_unique
    assert rows.at[victim, "status"] == "failed"
    assert "died on each of 2 attempts: killed by signal 9 (SIGKILL), likely out of memory" in rows.at[victim, "error"]
    assert (rows.drop(victim)["status"].isin(["ok", "not_converged"])).all()


def test_a_trial_killed_once_succeeds_on_its_retry(tmp_path):
    suite = small_suite(tmp_path)
    victim = ids_of(suite, "rnn")[0]
    proc = cli("run", str(suite), "--out", str(tmp_path / "run"), *FAST,
               env={TEST_KILL_ENV: f"{victim}:once", "TMPDIR": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / f"rnnbench-test-kill-{victim}").exists()  # the first attempt did die
    rows = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert len(rows) == 2 and rows["status"].isin(["ok", "not_converged"]).all()


def test_a_trial_in_flight_at_two_whole_run_kills_is_not_tried_again(tmp_path):
    suite = small_suite(tmp_path)
    victim = ids_of(suite, "lstm")[0]
    out = tmp_path / "run"
    out.mkdir()
    markers = [{"schema_version": SCHEMA_VERSION, "session": s, "trial_id": victim} for s in ("kill-1", "kill-2")]
    (out / INFLIGHT).write_text("".join(json.dumps(m) + "\n" for m in markers))
    proc = cli("run", str(suite), "--out", str(out), *FAST)
    assert proc.returncode == 1, proc.stderr
    rows = pd.read_csv(out / "trials.csv", dtype={"trial_id": str}).set_index("trial_id")
    assert rows.at[victim, "status"] == "failed"
    assert "in flight when the whole run was killed 2 times" in rows.at[victim, "error"]
    assert len(rows) == 2


def test_kill_9_of_the_driver_leaves_a_marker_and_resume_completes_each_trial_once(tmp_path):
    suite = small_suite(tmp_path, seeds=[0, 1, 2], max_epochs=40)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", str(suite), "--out", str(out), *FAST], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 90
    while not (out / INFLIGHT).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert InflightLog(out)._read(), "the killed session's marker stays"
    resumed = cli("run", str(suite), "--out", str(out), *FAST)
    assert resumed.returncode == 0, resumed.stderr
    ids = trial_ids(out)
    assert sorted(ids) == sorted(resolved_ids(out)) and len(ids) == 6
    assert not (out / INFLIGHT).exists()  # a clean end clears its markers; the killed one had no row left out
    sessions = json.loads((out / "sweep.json").read_text())["sessions"]
    assert len(sessions) == 2 and sessions[0].get("ended") is False and sessions[1].get("ended") is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--time-budget", "nan"), "--time-budget: nan must be a number of seconds"),
        (("--time-budget", "inf"), "--time-budget: inf must be a number of seconds"),
        (("--seeds", "99999999999999999999999"), "--seeds: '99999999999999999999999' must list at least one seed"),
        (("--out", ""), "--out: an empty folder name"),
        (("--order-seed", "-1"), "--order-seed: -1 must be in"),
        (("--train-processes", "0"), "--train-processes: '0' is not a count; give a whole number >= 1, or auto"),
        (("--train-processes", "two"), "--train-processes: 'two' is not a count"),
        (("--train-processes", "2", "--executor", "in-process"), "--train-processes 2 needs --executor local"),
    ],
)
def test_run_options_are_validated_before_any_work(tmp_path, args, message):
    suite = small_suite(tmp_path)
    proc = cli("run", str(suite), *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


def test_resume_with_other_trials_is_refused_unless_extend(tmp_path):
    suite = small_suite(tmp_path)
    out = tmp_path / "run"
    assert cli("run", str(suite), "--out", str(out), *FAST).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    refused = cli("run", str(suite), "--out", str(out), "--seeds", "0,1", *FAST)
    assert refused.returncode == 2
    assert "holds 2 trials of suite 'small'; this command asks for 4: 2 not in the folder" in refused.stderr
    assert "--extend" in refused.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # nothing written
    extended = cli("run", str(suite), "--out", str(out), "--seeds", "0,1", "--extend", *FAST)
    assert extended.returncode == 0, extended.stderr
    assert sorted(trial_ids(out)) == sorted(resolved_ids(out)) and len(resolved_ids(out)) == 4
    assert (out / "suite.toml").read_bytes() == before["suite.toml"] and (out / "suite.extend-1.toml").exists()


def test_death_causes_read_as_a_person_would_say_them():
    assert death_cause(-9) == "killed by signal 9 (SIGKILL), likely out of memory (the kernel's OOM killer)"
    assert death_cause(-15) == "killed by signal 15 (SIGTERM)"
    assert death_cause(3) == "exited with status 3"


@pytest.mark.parametrize("name", ["x" * 300, "bad\\u0000name", "a b"])
def test_a_suite_name_that_cannot_name_a_folder_is_refused_before_any_work(tmp_path, name):
    suite = write(tmp_path / "s.toml", f'name = "{name}"\ncell = "rnn"\n')
    proc = cli("run", str(suite), cwd=tmp_path)
    assert proc.returncode == 2 and "field 'name'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
