"""Reach a Dask cluster for `--executor dask`: start an embedded LocalCluster, or connect to a scheduler.

Every way this can fail before a trial runs (dask not installed, an address that is malformed
or unreachable, workers that never join) is a BenchError that says what to do.
"""

from __future__ import annotations

import socket
from pathlib import Path

from bench.errors import BenchError
from bench.placement import CPU_SLOT, GPU

CONNECT_TIMEOUT_S = 10  # reaching a --scheduler, and waiting for its first worker
WORKER_WAIT_S = 60  # waiting for --workers N to join, or for a lane to come back after workers left
ALLOWED_FAILURES = 0  # the embedded scheduler gives a task up at its worker's first death; the driver retries
# `make bench` installs only what a local run needs; `make install` adds Dask.
INSTALL_HINT = "in a checkout: make install; elsewhere: pip install 'dask[distributed]'"


def require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise BenchError(
            f"--executor dask needs dask[distributed], which is not installed ({e}); {INSTALL_HINT}"
        ) from None


def start_local_cluster(workers: int, scratch: Path):
    """(client, cluster, description) of an embedded LocalCluster: processes of one thread, no dashboard."""
    import dask
    from distributed import Client, LocalCluster

    resources = local_resources()
    scratch.mkdir(parents=True, exist_ok=True)
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = LocalCluster(
            n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
            local_directory=str(scratch), resources=resources,
        )  # fmt: skip
    client = Client(cluster)
    client.wait_for_workers(workers, timeout=WORKER_WAIT_S)
    return (
        client,
        cluster,
        f"LocalCluster(n_workers={workers}, processes=True, threads_per_worker=1, resources={resources})",
    )


def connect_scheduler(address: str, workers: int):
    """A client of the scheduler at `address` once `workers` workers have joined; BenchError otherwise."""
    from distributed import Client
    from distributed.comm import get_address_host_port

    try:
        host, port = get_address_host_port(address)
    except ValueError as e:
        raise BenchError(f"--scheduler: {address!r} is not a scheduler address such as tcp://host:8786 ({e})") from None
    unreachable = (
        f"--scheduler: cannot reach a Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S} s ({{}}); "
        f"check the address (tcp://host:8786) and that `dask scheduler` is running"
    )
    if address.startswith("tcp://") or "://" not in address:
        try:  # a refused connection fails here at once; Client would retry it for the whole timeout
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise BenchError(unreachable.format(e)) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise BenchError(unreachable.format(e)) from None
    try:
        client.wait_for_workers(workers, timeout=WORKER_WAIT_S if workers > 1 else CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        joined = len(client.scheduler_info(n_workers=-1)["workers"])
        client.close()
        raise BenchError(
            f"--scheduler {address}: {joined} of {workers} workers joined ({type(e).__name__}); start workers with "
            f"`dask worker {address} --nthreads 1 --resources {CPU_SLOT}=1` (GPU workers: --resources {GPU}=1)"
        ) from None
    return client


def local_resources() -> dict[str, int]:
    """What each embedded worker offers: the CPU, and the GPU where this machine has one."""
    return {CPU_SLOT: 1} | ({GPU: 1} if local_gpus() else {})


def local_gpus() -> int:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.device_count() or int(bool(mps and mps.is_available()))
