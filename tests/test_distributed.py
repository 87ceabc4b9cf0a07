"""`--executor dask`: the real CLI on a 2-worker LocalCluster of processes, and the executor's edges.

Every test points TMPDIR at its own tmp folder: Dask's scratch space and the kill hook's markers go there.
"""

import json
import math
import os
import socket
import subprocess
import sys
from argparse import Namespace
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.dask_worker import TEST_KILL_ENV, _test_kill_hook
from bench.distributed import DaskExecutor, dask_executor
from bench.errors import BenchError
from bench.placement import CPU_SLOT
from bench.suite import parse_suite
from bench.timing import TimingPlan
from bench.train import TrialOptions
from bench.trial import Trial
from tests.helpers import ROOT, cli, write

FAST = ("--time-budget", "0.01", "--warmup-rounds", "1", "--no-progress")
DASK2 = ("--executor", "dask", "--workers", "2", "--allow-shared-host")
SMOKE = str(ROOT / "suites" / "smoke.toml")
KILL_SUITE = """
name = "kill"
task = "hello"
encoding = "embedding"
hidden = 8
max_epochs = 3
cell = ["rnn", "lstm", "gru"]
"""


def _trials(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "trials.csv", dtype={"trial_id": str}).set_index("trial_id").sort_index()


@pytest.mark.slow
def test_smoke_suite_on_two_workers_matches_the_local_run(tmp_path: Path):
    env = {"TMPDIR": str(tmp_path)}
    with ThreadPoolExecutor(2) as pool:  # side by side: only statuses and epochs are compared, not times
        local = pool.submit(cli, "run", SMOKE, "--out", str(tmp_path / "local"), *FAST, env=env)
        dask = pool.submit(cli, "run", SMOKE, "--out", str(tmp_path / "dask"), *FAST, *DASK2, env=env)
        local, dask = local.result(), dask.result()
    assert local.returncode == 0, local.stderr
    assert dask.returncode == 0, dask.stderr
    a, b = _trials(tmp_path / "local"), _trials(tmp_path / "dask")
    assert list(a.index) == list(b.index) and len(a) == 12
    assert a["status"].equals(b["status"])
    assert a["convergence_epoch"].fillna(-1).equals(b["convergence_epoch"].fillna(-1))
    assert not a["shared_host"].any() and a["worker"].isna().all()
    assert b["shared_host"].all() and b["worker"].str.startswith("tcp://").all()
    assert (b["torch_threads"] >= 1).all()
    bench_a = json.loads((tmp_path / "local" / "benchmark.json").read_text())["benchmarks"]
    bench_b = json.loads((tmp_path / "dask" / "benchmark.json").read_text())["benchmarks"]
    assert sorted(x["param"] for x in bench_a) == sorted(x["param"] for x in bench_b) == list(a.index)
    info = json.loads((tmp_path / "dask" / "env.json").read_text())
    assert info["executor"] == "dask" and info["dask"]["attempts_per_trial"] == 2
    assert info["dask"]["allow_shared_host"] and len(info["dask"]["workers"]) == 2
    assert not (tmp_path / "dask" / "dask-scratch").exists()


@pytest.mark.slow
def test_killed_workers_retry_once_then_fail_and_the_sweep_completes(tmp_path: Path):
    suite = write(tmp_path / "kill.toml", KILL_SUITE)
    ids = {t.cell: t.trial_id for t in parse_suite(suite, None).trials}
    # rnn's worker dies on its first attempt only (the retry runs); lstm's dies on both attempts.
    env = {"TMPDIR": str(tmp_path), TEST_KILL_ENV: f"{ids['rnn']}:once,{ids['lstm']}"}
    proc = cli("run", str(suite), "--out", str(tmp_path / "run"), *FAST, *DASK2, env=env)
    assert proc.returncode == 1, proc.stderr  # a failed trial, and the sweep went on
    trials = _trials(tmp_path / "run")
    assert sorted(trials.index) == sorted(ids.values())
    assert (tmp_path / f"rnnbench-test-kill-{ids['rnn']}").exists()
    assert trials.loc[ids["rnn"], "status"] in ("ok", "not_converged")
    assert trials.loc[ids["gru"], "status"] in ("ok", "not_converged")
    lstm = trials.loc[ids["lstm"]]
    assert lstm["status"] == "failed"
    assert "died" in lstm["error"] and "2 attempts" in lstm["error"]
    assert lstm["worker"].startswith("tcp://")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_unreachable_scheduler_exits_2_before_any_trial(tmp_path: Path):
    out = tmp_path / "run"
    address = f"tcp://127.0.0.1:{_free_port()}"
    proc = cli("run", SMOKE, "--out", str(out), "--executor", "dask", "--scheduler", address, *FAST,
               env={"TMPDIR": str(tmp_path)}, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert f"error: --scheduler: cannot reach a Dask scheduler at '{address}' within 10 s" in proc.stderr
    assert "Connection refused" in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_two_workers_on_one_cpu_are_refused_before_any_starts(tmp_path: Path):
    out = tmp_path / "run"
    proc = cli("run", SMOKE, "--out", str(out), "--executor", "dask", "--workers", "2", *FAST,
               env={"TMPDIR": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 2
    assert "error: timing fidelity: host localhost would time 2 trials at once" in proc.stderr
    assert "--allow-shared-host" in proc.stderr
    assert not out.exists()


def test_missing_dask_is_a_clear_error(monkeypatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    args = Namespace(scheduler=None, workers=1, allow_shared_host=False)
    with pytest.raises(BenchError, match=r"needs dask\[distributed\].*make install.*pip install 'dask\[distributed\]'"):
        dask_executor(args, tmp_path / "run")


def test_malformed_scheduler_address_is_a_clear_error(tmp_path: Path):
    args = Namespace(scheduler="localhost", workers=None, allow_shared_host=False)
    with pytest.raises(BenchError, match="not a scheduler address such as tcp://host:8786"):
        dask_executor(args, tmp_path / "run")


@pytest.fixture
def threaded_cluster(monkeypatch, tmp_path: Path):
    """A one-worker in-process cluster; yields a factory taking the worker's resources."""
    from distributed import Client, LocalCluster

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    threads = torch.get_num_threads()
    made = []

    def make(resources: dict) -> DaskExecutor:
        cluster = LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None,
                               resources=resources, local_directory=str(tmp_path))  # fmt: skip
        made.append(DaskExecutor(Client(cluster), cluster, None, False, "test"))
        return made[-1]

    yield make
    for executor in made:
        executor.close()
    torch.set_num_threads(threads)  # the worker thread set this process's torch threads


def test_gpu_trials_without_a_gpu_worker_are_skipped(threaded_cluster):
    executor = threaded_cluster({CPU_SLOT: 1})
    executor.check()
    cpu = Trial(encoding="embedding", max_epochs=2)
    options = TrialOptions(plan=TimingPlan(target_s=0.01, min_rounds=5, warmup_rounds=1))
    done = {d.result.trial.device: d for d in executor.completions([cpu, cpu.replace(device="cuda")], options)}
    assert done["cuda"].result.status == "skipped"
    assert "no Dask worker offers the GPU resource" in done["cuda"].result.error
    assert done["cpu"].result.status in ("ok", "not_converged")
    assert done["cpu"].result.worker == executor.placement.workers[0].address
    assert not done["cpu"].result.shared_host
    assert math.isfinite(done["cpu"].overhead_s) and done["cpu"].worker_s > 0


def test_a_cluster_without_timed_workers_is_refused(threaded_cluster):
    with pytest.raises(BenchError, match="no Dask worker offers a CPU_SLOT or GPU resource"):
        threaded_cluster({}).check()


def test_kill_hook_once_spares_the_retry(monkeypatch, tmp_path: Path):
    import tempfile

    trial = Trial()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(TEST_KILL_ENV, f"someotherid,{trial.trial_id}:once")
    marker = tmp_path / f"rnnbench-test-kill-{trial.trial_id}"
    marker.touch()  # the first attempt already died
    _test_kill_hook(trial)  # returns instead of ending this process
    assert marker.exists()  # still there: a third attempt is spared too
    assert [p.name for p in tmp_path.iterdir()] == [marker.name]


def _run_kill_hook(tmp_path: Path, kill_on: str) -> subprocess.CompletedProcess:
    """`_test_kill_hook(Trial())` in a fresh process with TMPDIR=tmp_path; prints 'survived' if it returns."""
    code = "from bench.dask_worker import _test_kill_hook; from bench.trial import Trial; "
    code += "_test_kill_hook(Trial()); print('survived')"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), TEST_KILL_ENV: kill_on}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_kill_hook_ends_the_process_on_every_attempt_without_once(tmp_path: Path):
    trial_id = Trial().trial_id
    for _ in range(2):
        proc = _run_kill_hook(tmp_path, f"someotherid,{trial_id}")
        assert proc.returncode != 0 and "survived" not in proc.stdout, (proc.returncode, proc.stdout, proc.stderr)
    assert not list(tmp_path.glob("rnnbench-test-kill-*"))  # no marker without ':once'


def test_kill_hook_once_ends_the_first_attempt_only(tmp_path: Path):
    kill_on = f"{Trial().trial_id}:once"
    first = _run_kill_hook(tmp_path, kill_on)
    assert first.returncode != 0 and "survived" not in first.stdout, (first.returncode, first.stderr)
    assert (tmp_path / f"rnnbench-test-kill-{Trial().trial_id}").exists()
    retry = _run_kill_hook(tmp_path, kill_on)
    assert retry.returncode == 0 and retry.stdout.strip() == "survived", retry.stderr
    other = _run_kill_hook(tmp_path, "someotherid")  # a trial not listed runs
    assert other.returncode == 0 and other.stdout.strip() == "survived", other.stderr


class _DiedFuture:
    """A finished future whose workers died: `result()` raises what the scheduler would."""

    def __init__(self, allowed_failures: int) -> None:
        from distributed import KilledWorker

        self.error = KilledWorker("trial-x", Namespace(address="tcp://10.0.0.7:4000"), allowed_failures)

    def result(self):
        raise self.error

    def cancelled(self) -> bool:
        return False


def test_a_dead_worker_costs_one_attempt_of_two(threaded_cluster):
    from collections import Counter

    from bench.distributed import _Flight

    executor, trial, attempts = threaded_cluster({CPU_SLOT: 1}), Trial(), Counter()
    flight = _Flight([trial], 0.0, frozenset())
    assert executor._collect(_DiedFuture(allowed_failures=0), flight, attempts) is None  # retry it
    failed = executor._collect(_DiedFuture(allowed_failures=0), flight, attempts)[0].result
    assert failed.status == "failed" and "on each of 2 attempts" in failed.error
    assert failed.worker == "tcp://10.0.0.7:4000"
    # A scheduler that retried it itself (allowed-failures 3, Dask's default) already spent 4 attempts.
    failed = executor._collect(_DiedFuture(allowed_failures=3), flight, Counter())[0].result
    assert failed.status == "failed" and "on each of 4 attempts" in failed.error


def test_a_group_dead_twice_is_split_so_each_trial_has_its_last_attempt_alone():
    from collections import Counter

    from bench.distributed import DaskExecutor, _key

    group = [Trial(cell=c) for c in ("rnn", "lstm")]
    attempts = Counter({_key(group): 1})
    assert DaskExecutor._retries(group, attempts) == [group]  # one death: retried whole
    attempts[_key(group)] = 2
    assert DaskExecutor._retries(group, attempts) == [[group[0]], [group[1]]]
    assert attempts[_key([group[1]])] == 1  # one more death and it is recorded failed


@pytest.mark.slow
def test_a_user_cell_runs_on_workers_and_one_missing_there_is_a_failed_row(tmp_path: Path):
    # `workerless` imports on the driver (where the suite is checked) but not inside a Dask worker.
    write(tmp_path / "workerless.py", "from distributed import get_worker\ntry:\n    get_worker()\nexcept ValueError:\n"
          "    pass\nelse:\n    raise ImportError('workerless is not installed on this worker')\n"
          "from examples.peephole import PeepholeLSTM as Cell\n")  # fmt: skip
    peephole = "examples.peephole:PeepholeLSTM"
    suite = write(tmp_path / "cells.toml", KILL_SUITE.replace('"gru"]', f'"{peephole}", "workerless:Cell"]'))
    env = {"TMPDIR": str(tmp_path), "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    proc = cli("run", str(suite), "--out", str(tmp_path / "run"), *FAST, *DASK2, env=env)
    assert proc.returncode == 1, proc.stderr
    trials = _trials(tmp_path / "run").set_index("cell")
    assert trials.loc[peephole, "status"] in ("ok", "not_converged") and trials.loc[peephole, "params"] == 708
    assert trials.loc["workerless:Cell", "status"] == "failed"
    assert "ImportError: workerless is not installed on this worker" in trials.loc["workerless:Cell", "error"]
    assert trials["worker"].str.startswith("tcp://").all()
