"""What runs inside Dask worker processes: one trial, and a probe of the worker's host.

Module-level functions, so Dask pickles them by reference: workers need this rnnbench (and
torch) installed. Dask is imported inside the functions, never at import time.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.placement import HostInfo
from bench.train import TrialOptions
from bench.trial import Trial, TrialResult

TEST_KILL_ENV = "RNNBENCH_TEST_KILL_ON"


@dataclass(frozen=True)
class WorkerRun:
    """What a worker sends back for one trial."""

    result: TrialResult
    worker: str  # the worker's address
    wall_s: float  # run_trial's wall time inside the worker


def run_on_worker(trial: Trial, options: TrialOptions, threads: dict[str, int]) -> WorkerRun:
    """Run one trial on this worker, with its host's share of the cores (`threads`: host -> n) for torch."""
    import torch
    from distributed import get_worker
    from distributed.comm import get_address_host

    from bench.train import run_trial

    address = get_worker().address
    # The nanny starts workers with OMP_NUM_THREADS=1; a trial's own `threads` axis still wins in run_trial.
    torch.set_num_threads(threads.get(get_address_host(address), usable_cpus()))
    _test_kill_hook(trial)
    start = time.perf_counter()
    result = run_trial(trial, options)
    return WorkerRun(result, address, time.perf_counter() - start)


def probe_host() -> HostInfo:
    """This worker's usable cores and its host's GPUs (the NVIDIA driver's count, else torch's)."""
    import torch

    nvidia = Path("/proc/driver/nvidia/gpus")  # every GPU of the host, whatever CUDA_VISIBLE_DEVICES says
    gpus = max(len(list(nvidia.iterdir())) if nvidia.is_dir() else 0, torch.cuda.device_count())
    mps = getattr(torch.backends, "mps", None)
    if not gpus and mps and mps.is_available():
        gpus = 1
    return HostInfo(usable_cpus(), gpus)


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask: a Slurm allocation's, say)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _test_kill_hook(trial: Trial) -> None:
    """TEST HOOK, for tests/test_distributed.py only: end this worker process as if it were killed.

    RNNBENCH_TEST_KILL_ON is a comma-separated list of trial ids, each optionally with ':once'.
    A worker starting a listed trial exits at once (os._exit(1)); with ':once' only on the first
    attempt (a marker file in the temp folder records it), so the retry runs. Unset in real runs.
    """
    for item in os.environ.get(TEST_KILL_ENV, "").split(","):
        target, _, mode = item.strip().partition(":")
        if target != trial.trial_id:
            continue
        if mode == "once":
            try:
                (Path(tempfile.gettempdir()) / f"rnnbench-test-kill-{trial.trial_id}").touch(exist_ok=False)
            except FileExistsError:
                return
        os._exit(1)
