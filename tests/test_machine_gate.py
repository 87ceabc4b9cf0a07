"""bench.machine_gate: who may work or time while the local executor runs several processes."""

import multiprocessing
import os
import threading
import time

import pandas as pd
import pytest

from bench.machine_gate import TEST_TRACE_ENV, MachineGate, admits_alone, admits_share
from tests.helpers import cli, write

SLOTS = 2
CLEAN = [0] * (5 * SLOTS + 2)


def held(gate: MachineGate) -> list[int]:
    """The state without the EPOCHS counters: what is held, waited for or starting, and the lock's holder."""
    raw = list(gate.state.get_obj())
    return raw[: 2 * SLOTS + 1] + raw[3 * SLOTS + 1 :]


def state(busy=(0, 0), alone_slot=None, waiting=(0, 0), starting=(0, 0)) -> list[int]:
    """The shared array's layout (see bench.machine_gate): BUSY, OWNER, WAITING, EPOCHS, TRAINING, STARTING,
    HOLDER."""
    return [*busy, 0 if alone_slot is None else alone_slot + 1, *waiting, 0, 0, 0, 0, *starting, 0]


@pytest.mark.parametrize(
    ("current", "slot", "threads", "cores", "admitted"),
    [
        (state(), 0, 1, 2, True),  # nobody busy
        (state(busy=(0, 1)), 0, 1, 2, True),  # 1 + 1 threads fit 2 cores
        (state(busy=(0, 2)), 0, 1, 2, False),  # 2 + 1 do not
        (state(busy=(0, 0)), 0, 8, 2, True),  # alone, any thread count may work
        (state(busy=(0, 1)), 0, 2, 2, False),
        (state(alone_slot=1), 0, 1, 16, False),  # a timing phase holds the machine
        (state(alone_slot=0), 0, 1, 16, True),  # ... its own: a retried group works inside its hold
        (state(waiting=(0, 1)), 0, 1, 16, False),  # one is waiting to: no new share starts
        (state(waiting=(1, 0)), 0, 1, 16, True),  # its own waiting flag is not another's
        (state(starting=(0, 1)), 0, 1, 2, True),  # a child's start-up does not stop work
    ],
)
def test_a_share_is_admitted_only_while_nobody_times_and_the_threads_fit(current, slot, threads, cores, admitted):
    assert admits_share(current, slot, SLOTS, threads, cores) is admitted


@pytest.mark.parametrize(
    ("current", "slot", "admitted"),
    [
        (state(), 0, True),
        (state(waiting=(1, 1)), 0, True),  # waiting does not hold
        (state(busy=(0, 1)), 0, False),  # another slot's share must end first
        (state(busy=(1, 0)), 0, True),  # its own (a trial's set-up around a compile) does not count
        (state(alone_slot=1), 0, False),
        (state(starting=(0, 1)), 0, False),  # another child is still importing torch
        (state(starting=(1, 0)), 0, True),
    ],
)
def test_the_machine_alone_waits_for_every_other_share_and_start_up(current, slot, admitted):
    assert admits_alone(current, slot, SLOTS) is admitted


def gates() -> list[MachineGate]:
    return MachineGate.shared(multiprocessing.get_context("spawn"), SLOTS, cores=2)


def test_an_epoch_waits_for_a_timing_phase_and_a_timing_phase_for_the_epoch():
    a, b = gates()
    events: list[str] = []
    holding = threading.Event()

    def train() -> None:
        holding.wait(5)
        with b.share(1, epoch=True):
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
    with b.share(1, epoch=True):
        in_epoch.set()
        asked.wait(5)
        time.sleep(0.2)
        events.append("b epoch")
    worker.join(5)
    assert events == ["b epoch", "a timed"]
    assert held(a) == [0] * (4 * SLOTS + 2)


def test_two_one_thread_shares_run_side_by_side_on_two_cores():
    a, b = gates()
    inside = threading.Event()

    def train() -> None:
        with b.share(1, epoch=True):
            inside.set()

    with a.share(1, epoch=True) as hold:
        worker = threading.Thread(target=train)
        worker.start()
        assert inside.wait(5)  # admitted while a's share is still held
    worker.join(5)
    assert hold.beside


def test_an_epoch_knows_whether_another_ran_beside_it():
    a, b = gates()
    with a.share(1, epoch=True) as alone_a:
        pass
    with b.share(1, epoch=True) as alone_b:
        pass
    assert not alone_a.beside and not alone_b.beside  # one after the other
    with a.share(1, epoch=True) as first:
        with b.share(1, epoch=True) as started_inside:
            pass
    assert first.beside and started_inside.beside  # b started during a; a was running when b started
    with a.share(1, epoch=True) as before:
        pass
    assert not before.beside


DEAD_PID = 2**22 + 17  # above Linux's default pid_max: no live process


def test_clear_drops_what_a_dead_slot_held_even_the_lock_itself():
    a, b = gates()
    raw = b.state.get_obj()
    raw[1] = 1  # b died mid-share ...
    raw[SLOTS] = 2  # ... holding the machine alone, as far as the state says ...
    raw[4 * SLOTS + 2] = 1  # ... flagged as starting ...
    b.state.get_lock().acquire()  # ... and inside the lock
    raw[5 * SLOTS + 1] = DEAD_PID
    b.clear(DEAD_PID)
    assert list(a.state.get_obj()) == CLEAN
    with a.alone():  # the lock is free again
        assert a.state.get_obj()[SLOTS] == 1


def test_clear_does_not_take_the_lock_from_a_live_holder():
    a, b = gates()
    lock = a.state.get_lock()
    lock.acquire()
    a.state.get_obj()[5 * SLOTS + 1] = os.getpid()  # a live process holds it
    cleared = threading.Event()
    worker = threading.Thread(target=lambda: (b.clear(DEAD_PID), cleared.set()))
    worker.start()
    assert not cleared.wait(1.5)  # past clear's 1 s look, it still waits
    a.state.get_obj()[5 * SLOTS + 1] = 0
    lock.release()
    assert cleared.wait(5)
    worker.join(5)


PARALLEL_SUITE = """
name = "par"
seeds = [0, 1]
threads = 1
cell = ["rnn", "lstm", "gru"]
task = "adding"
hidden = 32
seq_len = 20
batch = 8
lr = 0.0001
steps_per_epoch = 50
max_epochs = 10
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
    assert rows["trained_beside"].between(0, 1).all() and curves["beside"].isin([True, False]).all()
    holds = [line.split() for line in trace.read_text().splitlines()]
    holds = [(int(slot), kind, float(start), float(end)) for slot, kind, start, end in holds]
    assert {slot for slot, *_ in holds} == {0, 1, 2}  # two children, and the driver writing results
    alone = [h for h in holds if h[1] == "alone"]
    assert len(alone) >= 4  # each child's warm-up, and each of the two groups' timing phase
    for a in alone:
        for h in holds:
            if h[0] != a[0]:
                assert h[3] <= a[2] or a[3] <= h[2], f"{h} overlaps timing phase {a}"
