"""bench.machine_gate: who may train or time while the local executor runs several processes."""

import multiprocessing
import threading
import time

import pandas as pd
import pytest

from bench.machine_gate import TEST_TRACE_ENV, MachineGate, admits_alone, admits_epoch
from tests.helpers import cli, write

SLOTS = 2


def state(training=(0, 0), alone_slot=None, waiting=(0, 0)) -> list[int]:
    return [*training, 0 if alone_slot is None else alone_slot + 1, *waiting]


@pytest.mark.parametrize(
    ("current", "slot", "threads", "cores", "admitted"),
    [
        (state(), 0, 1, 2, True),  # nobody busy
        (state(training=(0, 1)), 0, 1, 2, True),  # 1 + 1 threads fit 2 cores
        (state(training=(0, 2)), 0, 1, 2, False),  # 2 + 1 do not
        (state(training=(0, 0)), 0, 8, 2, True),  # alone, any thread count may train
        (state(training=(0, 1)), 0, 2, 2, False),
        (state(alone_slot=1), 0, 1, 16, False),  # a timing phase holds the machine
        (state(waiting=(0, 1)), 0, 1, 16, False),  # one is waiting to: no new epoch starts
    ],
)
def test_an_epoch_is_admitted_only_while_nobody_times_and_the_threads_fit(current, slot, threads, cores, admitted):
    assert admits_epoch(current, slot, SLOTS, threads, cores) is admitted


@pytest.mark.parametrize(
    ("current", "slot", "admitted"),
    [
        (state(), 0, True),
        (state(waiting=(1, 1)), 0, True),  # waiting does not hold
        (state(training=(0, 1)), 0, False),  # another slot's epoch must end first
        (state(training=(1, 0)), 0, True),  # its own (it waits only between epochs) does not count
        (state(alone_slot=1), 0, False),
    ],
)
def test_the_machine_alone_waits_for_every_other_epoch(current, slot, admitted):
    assert admits_alone(current, slot, SLOTS) is admitted


def gates() -> list[MachineGate]:
    return MachineGate.shared(multiprocessing.get_context("spawn"), SLOTS, cores=2)


def test_an_epoch_waits_for_a_timing_phase_and_a_timing_phase_for_the_epoch():
    a, b = gates()
    events: list[str] = []
    holding = threading.Event()

    def train() -> None:
        holding.wait(5)
        with b.epoch(1):
            events.append("b epoch")

    worker = threading.Thread(target=train)
    worker.start()
    with a.alone():
        holding.set()
        time.sleep(0.2)  # b is asking now, and must not get in
        events.append("a timed")
    worker.join(5)
    assert events == ["a timed", "b epoch"]

    events.clear()
    in_epoch, asked = threading.Event(), threading.Event()

    def time_it() -> None:
        in_epoch.wait(5)
        asked.set()
        with a.alone():
            events.append("a timed")

    worker = threading.Thread(target=time_it)
    worker.start()
    with b.epoch(1):
        in_epoch.set()
        asked.wait(5)
        time.sleep(0.2)
        events.append("b epoch")
    worker.join(5)
    assert events == ["b epoch", "a timed"]
    assert list(a.raw)[: 2 * SLOTS + 1] == [0] * (2 * SLOTS + 1)


def test_an_epoch_knows_whether_another_ran_beside_it():
    a, b = gates()
    with a.epoch(1) as alone_a:
        pass
    with b.epoch(1) as alone_b:
        pass
    assert not alone_a.beside and not alone_b.beside  # one after the other
    with a.epoch(1) as first:
        with b.epoch(1) as started_inside:
            pass
    assert first.beside and started_inside.beside  # b started during a; a was running when b started
    with a.epoch(1) as before:
        pass
    assert not before.beside


def test_clear_drops_what_a_dead_slot_held_even_the_lock_itself():
    a, b = gates()
    b.raw[1] = 1  # b died mid-epoch ...
    b.raw[SLOTS] = 2  # ... holding the machine alone, as far as the state says ...
    b.state.get_lock().acquire()  # ... and inside the lock
    b.clear()
    assert list(a.raw)[: 2 * SLOTS + 1] == [0] * (2 * SLOTS + 1)
    with a.alone():  # the lock is free again
        assert a.raw[SLOTS] == 1


PARALLEL_SUITE = """
name = "par"
seeds = [0, 1]
threads = 1
cell = ["rnn", "lstm", "gru"]
task = "adding"
hidden = 16
seq_len = 10
batch = 8
lr = 0.01
steps_per_epoch = 20
max_epochs = 8
"""


@pytest.mark.slow
def test_two_training_processes_never_train_beside_a_timing_phase(tmp_path):
    """The real CLI with --train-processes 2: both children work, every trial lands once, and no epoch or
    timing phase of one child overlaps a timing phase of the other (the trace hook logs every hold)."""
    suite = write(tmp_path / "par.toml", PARALLEL_SUITE)
    trace = tmp_path / "trace.txt"
    out = tmp_path / "run"
    proc = cli("run", str(suite), "--out", str(out), "--train-processes", "2", "--time-budget", "0.05",
               "--no-progress", env={TEST_TRACE_ENV: str(trace)})  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    rows = pd.read_csv(out / "trials.csv")
    assert len(rows) == 6 and rows["trial_id"].is_unique and set(rows["status"]) <= {"ok", "not_converged"}
    assert rows["paired_ratio"].notna().all()
    curves = pd.read_csv(out / "curves.csv")
    assert curves["beside"].isin([True, False]).all() and rows["trained_beside"].between(0, 1).all()
    holds = [line.split() for line in trace.read_text().splitlines()]
    holds = [(int(slot), kind, float(start), float(end)) for slot, kind, start, end in holds]
    assert {slot for slot, *_ in holds} == {0, 1}
    alone = [h for h in holds if h[1] == "alone"]
    assert len(alone) >= 2  # each child's warm-up and its groups' timing phases
    for a in alone:
        for h in holds:
            if h[0] != a[0]:
                assert h[3] <= a[2] or a[3] <= h[2], f"{h} overlaps timing phase {a}"
