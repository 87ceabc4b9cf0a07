"""`--executor dask`: run a sweep's trials on a Dask cluster; only the driver writes results.

The driver submits each trial as one Dask task holding one unit of its resource (`GPU` or
`CPU_SLOT`, see `bench.placement`), keeps no more trials in flight than the cluster has lanes
for them, and yields each `TrialResult` as it completes, so `run_sweep` writes rows exactly as
in a local run. Keeping the queue on the driver matters for faults: the scheduler counts a
worker's death against every task assigned to that worker, so a trial merely queued behind a
dying one would lose its retry. Dask is imported only here, and only when it is used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench.errors import BenchError
from bench.placement import CPU_SLOT, GPU, HostInfo, Placement, placement_from, refusal, resource_for
from bench.train import TrialOptions
from bench.trial import Trial, TrialResult

CONNECT_TIMEOUT_S = 10  # reaching a --scheduler, and waiting for its first worker
WORKER_WAIT_S = 60  # waiting for --workers N to join, or for a lane to come back after workers left
ALLOWED_FAILURES = 1  # worker deaths a trial survives: retried once, then recorded as failed
TEST_KILL_ENV = "RNNBENCH_TEST_KILL_ON"
INSTALL_HINT = "pip install 'rnnbench[dask]' (or: pip install 'dask[distributed]')"


@dataclass(frozen=True)
class WorkerRun:
    """What a worker sends back for one trial."""

    result: TrialResult
    worker: str  # the worker's address
    wall_s: float  # run_trial's wall time inside the worker


@dataclass(frozen=True)
class Completion:
    """One trial's result as the driver received it, with driver-side times (perf_counter, s)."""

    result: TrialResult
    submitted_s: float
    received_s: float
    worker_s: float  # NaN when no worker finished it

    @property
    def overhead_s(self) -> float:
        """Scheduling overhead: submit-to-result time not spent inside run_trial."""
        return self.received_s - self.submitted_s - self.worker_s


def dask_executor(args: argparse.Namespace, out: Path) -> tuple[DaskExecutor, dict]:
    """Start or reach the cluster and check placement before any trial runs; env.json info too."""
    _import_distributed()
    if args.scheduler:
        executor = DaskExecutor.connect(args.scheduler, args.workers or 1, args.allow_shared_host)
    else:
        executor = DaskExecutor.local(args.workers or 1, Path(out) / "dask-scratch", args.allow_shared_host)
    try:
        executor.check()
    except BaseException:
        executor.close()
        raise
    return executor, {"dask": executor.info()}


def _import_distributed():
    try:
        import distributed
    except ImportError as e:
        raise BenchError(
            f"--executor dask needs dask[distributed], which is not installed ({e}); {INSTALL_HINT}"
        ) from None
    return distributed


class DaskExecutor:
    """An `Executor` over one Dask client; the first call runs the trials, then closes the cluster."""

    def __init__(self, client, cluster, scratch: Path | None, allow_shared_host: bool, description: str) -> None:
        self.client = client
        self.cluster = cluster
        self.scratch = scratch
        self.allow_shared_host = allow_shared_host
        self.description = description
        self.hosts: dict[str, HostInfo] = {}
        self.placement = Placement((), {})
        self.refresh()

    @classmethod
    def local(cls, workers: int, scratch: Path, allow_shared_host: bool) -> DaskExecutor:
        """An embedded LocalCluster: `workers` processes of one thread each, no dashboard."""
        import dask
        from distributed import Client, LocalCluster

        resources = {CPU_SLOT: 1} | ({GPU: 1} if _has_gpu() else {})
        scratch.mkdir(parents=True, exist_ok=True)
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            cluster = LocalCluster(
                n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
                local_directory=str(scratch), resources=resources,
            )  # fmt: skip
        client = Client(cluster)
        client.wait_for_workers(workers, timeout=WORKER_WAIT_S)
        desc = f"LocalCluster(n_workers={workers}, processes=True, threads_per_worker=1, resources={resources})"
        return cls(client, cluster, scratch, allow_shared_host, desc)

    @classmethod
    def connect(cls, address: str, workers: int, allow_shared_host: bool) -> DaskExecutor:
        """An existing scheduler; BenchError when it cannot be reached or no worker joins."""
        from distributed import Client

        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            raise BenchError(
                f"--scheduler: cannot reach a Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S} s ({e}); "
                f"check the address (tcp://host:8786) and that `dask scheduler` is running"
            ) from None
        try:
            client.wait_for_workers(workers, timeout=WORKER_WAIT_S if workers > 1 else CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            n = len(client.scheduler_info(n_workers=-1)["workers"])
            client.close()
            raise BenchError(
                f"--scheduler {address}: {n} of {workers} workers joined ({type(e).__name__}); start workers with "
                f"`dask worker {address} --nthreads 1 --resources {CPU_SLOT}=1` (GPU workers: --resources {GPU}=1)"
            ) from None
        return cls(client, None, None, allow_shared_host, f"external scheduler {address}")

    def check(self) -> None:
        """Refuse a cluster with no timed worker, or one that would time trials side by side."""
        if not self.placement.total_lanes():
            raise BenchError(
                f"no Dask worker offers a {CPU_SLOT} or {GPU} resource, so no trial could run; start workers "
                f"with `--nthreads 1 --resources {CPU_SLOT}=1` (GPU workers: --resources {GPU}=1)"
            )
        shared = self.placement.shared_hosts()
        if shared and not self.allow_shared_host:
            raise BenchError(refusal(shared))

    def info(self) -> dict:
        """Provenance for env.json."""
        import distributed

        return {
            "cluster": self.description,
            "scheduler": self.client.scheduler.address,
            "distributed_version": distributed.__version__,
            "allowed_failures": self.client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures),
            "allow_shared_host": self.allow_shared_host,
            "shared_hosts": self.placement.shared_hosts(),
            "torch_threads": self.placement.torch_threads(),
            "hosts": {h: vars(info) for h, info in self.hosts.items()},
            "workers": [vars(w) for w in self.placement.workers],
        }

    def refresh(self) -> None:
        """Re-read the scheduler's workers; probe hosts not seen before (cores, GPUs)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        new = {w["host"]: address for address, w in workers.items() if w["host"] not in self.hosts}
        if new:
            probed = self.client.run(probe_host, workers=list(new.values()), on_error="return")
            for host, address in new.items():
                if isinstance(probed.get(address), HostInfo):
                    self.hosts[host] = probed[address]
        self.placement = placement_from(workers, self.hosts)

    def __call__(self, trials: list[Trial], options: TrialOptions) -> Iterator[TrialResult]:
        try:
            for done in self.completions(trials, options):
                yield done.result
        finally:
            self.close()

    def completions(self, trials: list[Trial], options: TrialOptions, window: int = 0) -> Iterator[Completion]:
        """Run `trials`, yielding each as it completes; `window` > 0 caps trials in flight."""
        from distributed import as_completed

        pending = list(trials)
        for trial in [t for t in pending if not self.placement.capacity(resource_for(t))]:
            pending.remove(trial)
            now = time.perf_counter()
            reason = f"no Dask worker offers the {resource_for(trial)} resource this {trial.device} trial needs"
            yield Completion(TrialResult(trial, "skipped", error=reason), now, now, float("nan"))
        inflight: dict = {}  # Future -> (trial, submitted_s, shared hosts at submit)
        futures = as_completed()
        while pending or inflight:
            self._submit_ready(pending, inflight, futures, options, window)
            if not inflight:
                self._wait_for_lanes(pending)
                continue
            future = next(futures)
            trial, submitted, shared = inflight.pop(future)
            yield self._collect(future, trial, submitted, shared)
            self.refresh()

    def _submit_ready(self, pending: list[Trial], inflight: dict, futures, options: TrialOptions, window: int) -> None:
        lanes = self.placement.total_lanes()
        if window:
            lanes = min(lanes, window)
        busy = Counter(resource_for(t) for t, _, _ in inflight.values())
        threads = self.placement.torch_threads()
        shared = set(self.placement.shared_hosts())
        while pending and len(inflight) < lanes:
            trial = next((t for t in pending if busy[resource_for(t)] < self.placement.capacity(resource_for(t))), None)
            if trial is None:
                return
            pending.remove(trial)
            busy[resource_for(trial)] += 1
            key = f"trial-{trial.cell}-{trial.trial_id}-{os.urandom(4).hex()}"  # unique per run on a shared cluster
            submitted = time.perf_counter()
            future = self.client.submit(
                run_on_worker, trial, options, threads, key=key, resources={resource_for(trial): 1}, pure=False
            )
            inflight[future] = (trial, submitted, shared)
            futures.add(future)

    def _wait_for_lanes(self, pending: list[Trial]) -> None:
        """Every worker offering what the pending trials need has left: wait for one to come back."""
        deadline = time.monotonic() + WORKER_WAIT_S
        while time.monotonic() < deadline:
            if any(self.placement.capacity(resource_for(t)) for t in pending):
                return
            time.sleep(0.5)
            self.refresh()
        needed = sorted({resource_for(t) for t in pending})
        raise BenchError(
            f"no Dask worker offering {', '.join(needed)} for {WORKER_WAIT_S} s; {len(pending)} trials not run. "
            f"Complete trials are saved: run again with the same --out to resume"
        )

    def _collect(self, future, trial: Trial, submitted: float, shared_at_submit: set[str]) -> Completion:
        from distributed import KilledWorker
        from distributed.comm import get_address_host

        try:
            run = future.result()
        except KilledWorker as e:
            error = (
                f"the Dask worker running this trial died (killed, out of memory or crashed) on each of "
                f"{e.allowed_failures + 1} attempts; last on {e.last_worker.address}"
            )
            result = TrialResult(trial, "failed", error=error, worker=e.last_worker.address)
            return Completion(result, submitted, time.perf_counter(), float("nan"))
        except Exception as e:
            if future.cancelled():
                raise BenchError(
                    f"lost the Dask scheduler ({e}); complete trials are saved: run again with the same --out to resume"
                ) from None
            error = f"dask: {type(e).__name__}: {e}"[:500]
            return Completion(TrialResult(trial, "failed", error=error), submitted, time.perf_counter(), float("nan"))
        received = time.perf_counter()
        host = get_address_host(run.worker)
        shared = host in shared_at_submit or host in self.placement.shared_hosts()
        return Completion(replace(run.result, worker=run.worker, shared_host=shared), submitted, received, run.wall_s)

    def close(self) -> None:
        """Close the client and any embedded cluster, and remove its scratch space; idempotent."""
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _has_gpu() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


# ---- run inside worker processes (module-level, so Dask pickles them by reference) ----


def run_on_worker(trial: Trial, options: TrialOptions, threads: dict[str, int]) -> WorkerRun:
    """Run one trial on this worker with its host's share of the cores as torch threads."""
    import torch
    from distributed import get_worker
    from distributed.comm import get_address_host

    from bench.train import run_trial

    address = get_worker().address
    # The nanny starts workers with OMP_NUM_THREADS=1; a trial's own `threads` axis still wins.
    torch.set_num_threads(threads.get(get_address_host(address), _usable_cpus()))
    _test_kill_hook(trial)
    start = time.perf_counter()
    result = run_trial(trial, options)
    return WorkerRun(result, address, time.perf_counter() - start)


def probe_host() -> HostInfo:
    """This worker's usable cores and its host's GPUs (NVIDIA's driver count, else torch's)."""
    import torch

    nvidia = Path("/proc/driver/nvidia/gpus")
    gpus = max(len(list(nvidia.iterdir())) if nvidia.is_dir() else 0, torch.cuda.device_count())
    mps = getattr(torch.backends, "mps", None)
    if not gpus and mps and mps.is_available():
        gpus = 1
    return HostInfo(_usable_cpus(), gpus)


def _usable_cpus() -> int:
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
