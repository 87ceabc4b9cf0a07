"""What runs inside Dask worker processes: one trial, and a probe of the worker's host.

Module-level functions, so Dask pickles them by reference: workers need this rnnbench (and
torch) installed. Dask is imported inside the functions, never at import time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.faults import TEST_KILL_ENV, maybe_kill_for_test  # noqa: F401  (TEST_KILL_ENV: re-exported for tests)
from bench.machine_gate import usable_cpus
from bench.placement import HostInfo
from bench.train import TrialOptions
from bench.trial import Trial, TrialResult


@dataclass(frozen=True)
class WorkerRun:
    """What a worker sends back for one timing group."""

    results: list[TrialResult]
    worker: str  # the worker's address
    wall_s: float  # run_group's wall time inside the worker

    @property
    def result(self) -> TrialResult:
        return self.results[0]


def run_on_worker(group: list[Trial], options: TrialOptions, threads: dict[str, int]) -> WorkerRun:
    """Run one timing group on this worker, with its host's share of the cores (`threads`: host -> n)."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    from bench.faults import maybe_kill_for_test
    from bench.train import run_group, set_default_threads

    address = get_worker().address
    # The nanny starts workers with OMP_NUM_THREADS=1; a trial's own `threads` axis still wins in run_group.
    set_default_threads(threads.get(get_address_host(address), usable_cpus()))
    start = time.perf_counter()
    results = run_group(group, options, on_start=maybe_kill_for_test)
    return WorkerRun(results, address, time.perf_counter() - start)


def probe_host() -> HostInfo:
    """This worker's usable cores and its host's GPUs (the NVIDIA driver's count, else torch's)."""
    import torch

    nvidia = Path("/proc/driver/nvidia/gpus")  # every GPU of the host, whatever CUDA_VISIBLE_DEVICES says
    gpus = max(len(list(nvidia.iterdir())) if nvidia.is_dir() else 0, torch.cuda.device_count())
    mps = getattr(torch.backends, "mps", None)
    if not gpus and mps and mps.is_available():
        gpus = 1
    return HostInfo(usable_cpus(), gpus)


def _test_kill_hook(trial: Trial) -> None:
    """TEST HOOK (see bench.faults): end this worker process as if it were killed."""
    maybe_kill_for_test(trial.trial_id)
