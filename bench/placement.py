"""Where trials may run on a Dask cluster: resources, timed lanes per host, shared hosts.

Every trial carries one Dask resource requirement: `GPU: 1` on cuda or mps, else `CPU_SLOT: 1`.
A worker declares the resources it offers; a lane is one trial it can time at once
(min(threads, resource amount)). A host's devices are its CPU (one device) and its GPUs, so a
host is shared when it has more CPU lanes than 1 or more GPU lanes than GPUs: two timed
trials on one device corrupt each other's times. Pure functions over what the scheduler
reports; no dask or torch import, so they are tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.trial import Trial

CPU_SLOT = "CPU_SLOT"
GPU = "GPU"


def resource_for(trial: Trial) -> str:
    """The Dask resource one trial holds while it runs (one unit of it)."""
    return GPU if trial.device in ("cuda", "mps") else CPU_SLOT


@dataclass(frozen=True)
class WorkerInfo:
    address: str
    host: str
    nthreads: int
    cpu_slots: float = 0.0  # CPU_SLOT declared
    gpus: float = 0.0  # GPU declared

    def lanes(self, resource: str) -> int:
        """Trials needing `resource` that this worker may run at once."""
        amount = self.gpus if resource == GPU else self.cpu_slots
        return min(self.nthreads, int(amount))

    @property
    def timed_lanes(self) -> int:
        return min(self.nthreads, int(self.cpu_slots) + int(self.gpus))


@dataclass(frozen=True)
class HostInfo:
    cpus: int  # cores a worker on this host may use (its affinity mask)
    gpus: int  # GPUs on this host


@dataclass(frozen=True)
class Placement:
    """A snapshot of the cluster's timed workers and their hosts."""

    workers: tuple[WorkerInfo, ...]
    hosts: Mapping[str, HostInfo]

    def capacity(self, resource: str) -> int:
        """Trials needing `resource` the cluster may run at once."""
        return sum(w.lanes(resource) for w in self.workers)

    def total_lanes(self) -> int:
        return sum(w.timed_lanes for w in self.workers)

    def shared_hosts(self) -> dict[str, str]:
        """Host -> why it would time trials side by side; {} when every timed trial has its device."""
        shared = {}
        for host in sorted({w.host for w in self.workers}):
            on_host = [w for w in self.workers if w.host == host]
            cpu = sum(w.lanes(CPU_SLOT) for w in on_host)
            gpu = sum(w.lanes(GPU) for w in on_host)
            gpus = self.hosts[host].gpus if host in self.hosts else 0
            if cpu > 1 or gpu > gpus:
                shared[host] = (
                    f"host {host} would time {cpu + gpu} trials at once ({cpu} {CPU_SLOT} and {gpu} {GPU} lanes "
                    f"over {len(on_host)} workers) but its devices are the CPU and {gpus} GPUs"
                )
        return shared

    def torch_threads(self) -> dict[str, int]:
        """Host -> torch intra-op threads per trial: the host's cores split over its timed lanes."""
        threads = {}
        for host, info in self.hosts.items():
            lanes = sum(w.timed_lanes for w in self.workers if w.host == host)
            threads[host] = max(1, info.cpus // max(1, lanes))
        return threads


def placement_from(workers: Mapping[str, Mapping], hosts: Mapping[str, HostInfo]) -> Placement:
    """Build a `Placement` from `Client.scheduler_info()['workers']` and probed hosts."""
    infos = tuple(
        WorkerInfo(
            address,
            w["host"],
            int(w.get("nthreads", 1)),
            float(w.get("resources", {}).get(CPU_SLOT, 0)),
            float(w.get("resources", {}).get(GPU, 0)),
        )
        for address, w in sorted(workers.items())
    )
    return Placement(infos, dict(hosts))


def local_placement(workers: int, resources: Mapping[str, float], cpus: int, gpus: int) -> Placement:
    """The placement an embedded LocalCluster of `workers` one-thread workers would have."""
    infos = tuple(
        WorkerInfo(f"local-{i}", "localhost", 1, resources.get(CPU_SLOT, 0), resources.get(GPU, 0))
        for i in range(workers)
    )
    return Placement(infos, {"localhost": HostInfo(cpus, gpus)})


def refusal(shared: Mapping[str, str]) -> str:
    """The BenchError message for a cluster that would time trials side by side."""
    reasons = "; ".join(shared.values())
    return (
        f"timing fidelity: {reasons}. Trials timed side by side on one device corrupt each other's times. "
        f"Use --workers 1, or one worker per device (--nthreads 1 --resources {CPU_SLOT}=1 on one worker per "
        f"host, --resources {GPU}=1 per GPU), or pass --allow-shared-host to run anyway (rows get shared_host=True)"
    )
