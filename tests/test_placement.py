import pytest

from bench.placement import (
    CPU_SLOT,
    GPU,
    HostInfo,
    WorkerInfo,
    local_placement,
    placement_from,
    refusal,
    resource_for,
)
from bench.trial import Trial


def test_resource_for_device():
    assert resource_for(Trial(device="cpu")) == CPU_SLOT
    assert resource_for(Trial(device="cuda")) == GPU
    assert resource_for(Trial(device="mps")) == GPU


def test_lanes_are_capped_by_threads_and_by_declared_amounts():
    w = WorkerInfo("tcp://a:1", "a", nthreads=1, cpu_slots=1, gpus=1)
    assert (w.lanes(CPU_SLOT), w.lanes(GPU), w.timed_lanes) == (1, 1, 1)
    w = WorkerInfo("tcp://a:1", "a", nthreads=8, cpu_slots=1, gpus=0)
    assert (w.lanes(CPU_SLOT), w.lanes(GPU), w.timed_lanes) == (1, 0, 1)
    assert WorkerInfo("tcp://a:1", "a", nthreads=4).timed_lanes == 0  # declares nothing: runs no trial


def test_one_worker_per_device_is_not_shared():
    # One CPU worker and two GPU workers on a 2-GPU host, one CPU worker on another host.
    workers = {
        "tcp://a:1": {"host": "a", "nthreads": 1, "resources": {CPU_SLOT: 1}},
        "tcp://a:2": {"host": "a", "nthreads": 1, "resources": {GPU: 1}},
        "tcp://a:3": {"host": "a", "nthreads": 1, "resources": {GPU: 1}},
        "tcp://b:1": {"host": "b", "nthreads": 1, "resources": {CPU_SLOT: 1}},
    }
    p = placement_from(workers, {"a": HostInfo(cpus=16, gpus=2), "b": HostInfo(cpus=4, gpus=0)})
    assert p.shared_hosts() == {}
    assert (p.capacity(CPU_SLOT), p.capacity(GPU), p.total_lanes()) == (2, 2, 4)
    assert p.torch_threads() == {"a": 5, "b": 4}


@pytest.mark.parametrize(
    "resources, gpus",
    [
        ([{CPU_SLOT: 1}, {CPU_SLOT: 1}], 0),  # two CPU workers: the CPU is one device
        ([{GPU: 1}, {GPU: 1}], 1),  # two GPU workers, one GPU
        ([{GPU: 1}], 0),  # a GPU worker on a host without a GPU
        ([{CPU_SLOT: 1, GPU: 1}, {CPU_SLOT: 1}], 1),  # 3 devices' worth of lanes would be fine, but 2 CPU lanes
    ],
)
def test_more_lanes_than_devices_is_shared(resources, gpus):
    workers = {f"tcp://h:{i}": {"host": "h", "nthreads": 1, "resources": r} for i, r in enumerate(resources)}
    shared = placement_from(workers, {"h": HostInfo(cpus=8, gpus=gpus)}).shared_hosts()
    assert list(shared) == ["h"]
    assert "host h would time" in shared["h"]


def test_a_two_thread_worker_with_two_cpu_slots_is_shared():
    workers = {"tcp://h:1": {"host": "h", "nthreads": 2, "resources": {CPU_SLOT: 2}}}
    assert placement_from(workers, {"h": HostInfo(cpus=8, gpus=0)}).shared_hosts()


def test_local_placement_refuses_two_cpu_workers_and_says_how_to_go_on():
    assert local_placement(1, {CPU_SLOT: 1}, cpus=2, gpus=0).shared_hosts() == {}
    shared = local_placement(2, {CPU_SLOT: 1}, cpus=2, gpus=0).shared_hosts()
    message = refusal(shared)
    assert "2 CPU_SLOT" in message and "--allow-shared-host" in message and "--workers 1" in message
    assert local_placement(2, {CPU_SLOT: 1}, cpus=2, gpus=0).torch_threads() == {"localhost": 1}
