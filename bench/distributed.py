"""`--executor dask`: run a sweep's trials on a Dask cluster; only the driver writes results.

The driver submits each trial as one Dask task holding one unit of its resource (`GPU` or
`CPU_SLOT`, see `bench.placement`), keeps no more trials in flight than the cluster has lanes
for, and yields each `TrialResult` as it completes (done-callbacks feed a queue: as_completed
with a timeout), so `run_sweep` writes rows exactly as in a local run. The queue stays on the
driver because the scheduler counts a worker's death against every task assigned to that
worker, queued or running: a trial waiting behind a dying one would lose its retry. For the
same reason the driver, not the scheduler, retries a trial whose worker died. Dask is
imported only in this module's functions, and only for `--executor dask`.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench.dask_cluster import (
    WORKER_WAIT_S,
    connect_scheduler,
    local_gpus,
    local_resources,
    require_distributed,
    start_local_cluster,
)
from bench.dask_worker import probe_host, run_on_worker, usable_cpus
from bench.errors import BenchError
from bench.isolation import ATTEMPTS  # one retry rule for a dead worker and a dead local child
from bench.placement import (
    CPU_SLOT,
    GPU,
    HostInfo,
    Placement,
    local_placement,
    placement_from,
    refusal,
    resource_for,
)
from bench.train import TrialOptions
from bench.trial import Trial, TrialResult

REFRESH_S = 1.0  # while trials wait for a lane, re-read the cluster this often (a restarted worker's lane)
RESUME_HINT = "complete trials are saved: run again with the same --out to resume"


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
    """Check placement, start or reach the cluster, before any trial runs; plus env.json info."""
    require_distributed()
    out = Path(out)
    fresh_out = not out.exists()
    if args.scheduler:
        executor = DaskExecutor.connect(args.scheduler, args.workers or 1, args.allow_shared_host)
    else:
        workers = args.workers or 1
        shared = local_placement(workers, local_resources(), usable_cpus(), local_gpus()).shared_hosts()
        if shared and not args.allow_shared_host:  # refused before any worker starts
            raise BenchError(refusal(shared))
        executor = DaskExecutor.local(workers, out / "dask-scratch", args.allow_shared_host)
    try:
        executor.check()
    except BaseException:
        executor.close()
        if fresh_out and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    return executor, {"dask": executor.info()}


@dataclass(frozen=True)
class _Flight:
    group: list[Trial]  # one timing group: the unit of scheduling
    submitted_s: float
    shared_hosts: frozenset[str]  # hosts timing trials side by side when it was submitted


def _key(group: list[Trial]) -> str:
    return "|".join(t.trial_id for t in group)


class DaskExecutor:
    """An `Executor` over one Dask client; its one call runs the trials, then closes the cluster."""

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
        """On an embedded LocalCluster of `workers` one-thread processes, scratch space in `scratch`."""
        client, cluster, description = start_local_cluster(workers, scratch)
        return cls(client, cluster, scratch, allow_shared_host, description)

    @classmethod
    def connect(cls, address: str, workers: int, allow_shared_host: bool) -> DaskExecutor:
        """On an existing scheduler, once `workers` workers have joined it."""
        client = connect_scheduler(address, workers)
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
            "allowed_failures": self._scheduler_allowed_failures(),
            "attempts_per_trial": ATTEMPTS,
            "allow_shared_host": self.allow_shared_host,
            "shared_hosts": self.placement.shared_hosts(),
            "torch_threads": self.placement.torch_threads(),
            "hosts": {h: vars(info) for h, info in self.hosts.items()},
            "workers": [vars(w) for w in self.placement.workers],
        }

    def _scheduler_allowed_failures(self) -> int | None:
        """The scheduler's own retries of a task whose worker died (None where it will not say)."""
        try:  # a lambda travels by value: the scheduler needs no rnnbench installed
            return self.client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        except Exception:
            return None

    def refresh(self) -> None:
        """Re-read the scheduler's workers; probe hosts not seen before (cores, GPUs)."""
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
        except (OSError, TimeoutError) as e:
            raise BenchError(f"lost the Dask scheduler ({e}); {RESUME_HINT}") from None
        new = {w["host"]: address for address, w in workers.items() if w["host"] not in self.hosts}
        if new:
            probed = self.client.run(probe_host, workers=list(new.values()), on_error="return")
            for host, address in new.items():
                if isinstance(probed.get(address), HostInfo):
                    self.hosts[host] = probed[address]
        self.placement = placement_from(workers, self.hosts)

    def __call__(self, groups: list[list[Trial]], options: TrialOptions, on_start=lambda trial_id: None):
        try:
            for done in self.completions(groups, options, on_start=on_start):
                yield done.result
        finally:
            self.close()

    def completions(self, groups: list, options: TrialOptions, window: int = 0,
                    on_start=lambda trial_id: None) -> Iterator[Completion]:  # fmt: skip
        """Run timing `groups` (lists of trials; a bare Trial is a group of one), yielding each trial's
        completion as its group completes; `window` > 0 caps the groups in flight. `on_start(trial_id)`
        is called for each trial of a group when it is submitted (the runner's in-flight markers)."""
        pending = [list(g) if isinstance(g, list | tuple) else [g] for g in groups]
        for group in [g for g in pending if not self.placement.capacity(resource_for(g[0]))]:
            pending.remove(group)
            now = time.perf_counter()
            reason = f"no Dask worker offers the {resource_for(group[0])} resource this {group[0].device} trial needs"
            for trial in group:
                yield Completion(TrialResult(trial, "skipped", error=reason), now, now, float("nan"))
        finished: queue.SimpleQueue = queue.SimpleQueue()
        inflight: dict = {}  # Future -> _Flight
        attempts: Counter[str] = Counter()  # trial_id -> attempts whose worker died
        while pending or inflight:
            self._submit_ready(pending, inflight, finished, options, window, on_start)
            if not inflight:
                self._wait_for_lanes(pending)
                continue
            try:
                future = finished.get(timeout=REFRESH_S)
            except queue.Empty:
                self.refresh()
                continue
            flight = inflight.pop(future)
            done = self._collect(future, flight, attempts)
            if done is None:
                pending[:0] = self._retries(flight.group, attempts)  # they wait for a free lane like any group
            else:
                yield from done
            self.refresh()

    def _submit_ready(self, pending: list, inflight: dict, finished, options: TrialOptions, window: int,
                      on_start) -> None:  # fmt: skip
        lanes = min(self.placement.total_lanes(), window) if window else self.placement.total_lanes()
        busy = Counter(resource_for(f.group[0]) for f in inflight.values())
        threads = self.placement.torch_threads()
        shared = frozenset(self.placement.shared_hosts())
        while pending and len(inflight) < lanes:
            group = next((g for g in pending if busy[resource_for(g[0])] < self.placement.capacity(resource_for(g[0]))),
                         None)  # fmt: skip
            if group is None:
                return
            pending.remove(group)
            resource = resource_for(group[0])
            busy[resource] += 1
            for trial in group:
                on_start(trial.trial_id)
            key = f"group-{group[0].group_id}-{os.urandom(4).hex()}"  # unique on a shared scheduler
            submitted = time.perf_counter()
            future = self.client.submit(
                run_on_worker, group, options, threads, key=key, resources={resource: 1}, pure=False
            )
            inflight[future] = _Flight(group, submitted, shared)
            future.add_done_callback(finished.put)

    def _wait_for_lanes(self, pending: list) -> None:
        """Every worker offering what the pending trials need has left: wait for one to come back."""
        deadline = time.monotonic() + WORKER_WAIT_S
        while time.monotonic() < deadline:
            if any(self.placement.capacity(resource_for(g[0])) for g in pending):
                return
            time.sleep(REFRESH_S)
            self.refresh()
        needed = ", ".join(sorted({resource_for(g[0]) for g in pending}))
        raise BenchError(f"no Dask worker offered {needed} for {WORKER_WAIT_S} s; {len(pending)} trials not run; "
                         f"{RESUME_HINT}")  # fmt: skip

    @staticmethod
    def _retries(group: list[Trial], attempts: Counter[str]) -> list[list[Trial]]:
        """A group whose worker died once is retried whole. Dead twice, a group of several trials is split
        (the worker cannot say which trial killed it): each trial gets its last attempt on its own."""
        if len(group) == 1 or attempts[_key(group)] < ATTEMPTS:
            return [group]
        for trial in group:
            attempts[_key([trial])] = ATTEMPTS - 1
        return [[t] for t in group]

    def _collect(self, future, flight: _Flight, attempts: Counter[str]) -> list[Completion] | None:
        """The group's completions, or None when its worker died and it has an attempt left."""
        from distributed import KilledWorker
        from distributed.comm import get_address_host

        group = flight.group
        key = _key(group)

        def failed(error: str, worker: str = "") -> list[Completion]:
            now = time.perf_counter()
            return [Completion(TrialResult(t, "failed", error=error, worker=worker), flight.submitted_s, now,
                               float("nan")) for t in group]  # fmt: skip

        try:
            run = future.result()
        except KilledWorker as e:
            attempts[key] += e.allowed_failures + 1  # a scheduler may retry too (allowed-failures)
            if attempts[key] < ATTEMPTS or len(group) > 1:
                return None
            return failed(f"the Dask worker running this trial's timing group died (killed, out of memory or "
                          f"crashed) on each of {attempts[key]} attempts; last on {e.last_worker.address}",
                          e.last_worker.address)  # fmt: skip
        except Exception as e:
            if future.cancelled():
                raise BenchError(f"lost the Dask scheduler ({e}); {RESUME_HINT}") from None
            return failed(f"dask: {type(e).__name__}: {e}"[:500])
        received = time.perf_counter()
        host = get_address_host(run.worker)
        shared = host in flight.shared_hosts or host in self.placement.shared_hosts()
        return [Completion(replace(r, worker=run.worker, shared_host=shared), flight.submitted_s, received, run.wall_s)
                for r in run.results]  # fmt: skip

    def close(self) -> None:
        """Close the client and any embedded cluster, and remove its scratch space; idempotent."""
        client, cluster, scratch = self.client, self.cluster, self.scratch
        self.client = self.cluster = self.scratch = None
        try:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
