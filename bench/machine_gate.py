"""Who may use the machine while the local executor trains in several processes.

Training is run in parallel only where it cannot touch a measurement: CPU training epochs of
different child processes share the machine as long as their torch threads fit its cores, while
a timing phase (paired rounds, a compile time) and any training on an accelerator (the
processes would share one device) have it alone. A process that wants it alone stops new epochs
from starting and waits for the running ones to end (one epoch: about a second here), so no
timed round ever runs beside another process's training, and a training epoch's wall time, which
time to solve adds up, never includes a wait. The state lives in one shared integer array:

    [0, slots)          torch threads of the epoch each slot is training now (0: none)
    slots               the slot holding the machine alone, plus one (0: nobody)
    [slots+1, 2 slots+1) 1 where that slot is waiting to hold it alone
    [2 slots+1, 3 slots+1) epochs that slot has started so far

An epoch knows whether another process's epoch ran beside it (`Hold.beside`, recorded per epoch in
curves.csv): one did if another slot was training when it started or when it ended, or started one
in between.

A child that dies mid-epoch leaves its slot's entries behind; the driver clears them
(`MachineGate.clear`) before it starts the replacement. This module imports neither torch nor pandas.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

WAIT_S = 0.01  # between looks at the shared state while waiting (rare enough not to disturb a timed round)
TEST_TRACE_ENV = "RNNBENCH_TEST_GATE_TRACE"  # TEST HOOK: a file that gets 'slot kind start end' per hold


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask: a Slurm allocation's, say)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def admits_epoch(state: Sequence[int], slot: int, slots: int, threads: int, cores: int) -> bool:
    """May `slot` start a CPU training epoch on `threads` threads? Not while anyone holds or waits for the
    machine alone; else if nobody trains, or the threads of all epochs running then fit the cores."""
    if state[slots] or any(state[slots + 1 : 2 * slots + 1]):
        return False
    busy = sum(state[i] for i in range(slots) if i != slot)
    return busy == 0 or busy + threads <= cores


def admits_alone(state: Sequence[int], slot: int, slots: int) -> bool:
    """May `slot` hold the machine alone? When nobody else holds it and no other slot's epoch runs."""
    return not state[slots] and not any(state[i] for i in range(slots) if i != slot)


@dataclass
class Hold:
    """What one training epoch learns when it ends: whether another process trained beside it."""

    beside: bool = False


class MachineGate:
    """One slot's view of the shared state; picklable into a spawned child (pass it at `Process` start)."""

    def __init__(self, state, slots: int, slot: int, cores: int) -> None:
        self.state, self.slots, self.slot, self.cores = state, slots, slot, cores

    @classmethod
    def shared(cls, ctx, slots: int, cores: int) -> list[MachineGate]:
        """Every slot's gate over one fresh array made by multiprocessing context `ctx`."""
        # A plain Lock, not the default RLock: the driver may release it for a child killed while holding it.
        state = ctx.Array("i", 3 * slots + 1, lock=ctx.Lock())
        return [cls(state, slots, i, cores) for i in range(slots)]

    @contextmanager
    def epoch(self, threads: int, on_cpu: bool = True) -> Iterator[Hold]:
        """Hold a share of the machine for one training epoch (the machine alone where not `on_cpu`)."""
        hold = Hold()
        if not on_cpu:
            with self.alone():
                yield hold
            return
        seen: list[tuple[bool, list[int]]] = []

        def take(raw) -> None:
            raw[self.slot] = max(threads, 1)
            raw[2 * self.slots + 1 + self.slot] += 1
            seen.append(self._others(raw))

        self._wait(lambda s: admits_epoch(s, self.slot, self.slots, threads, self.cores), take)
        start = time.perf_counter()
        try:
            yield hold
        finally:
            with self.state.get_lock():
                self.raw[self.slot] = 0
                busy_at_end, started_at_end = self._others(self.raw)
            busy_at_start, started_at_start = seen[0]
            hold.beside = busy_at_start or busy_at_end or started_at_end != started_at_start
            self._trace("epoch", start)

    def _others(self, raw) -> tuple[bool, list[int]]:
        """Whether another slot trains now, and how many epochs each other slot has started."""
        others = [i for i in range(self.slots) if i != self.slot]
        return any(raw[i] for i in others), [raw[2 * self.slots + 1 + i] for i in others]

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Hold the machine alone (a timing phase): no other slot's epoch runs until this ends."""
        waiting = self.slots + 1 + self.slot
        with self.state.get_lock():
            self.raw[waiting] = 1
        try:
            self._wait(lambda s: admits_alone(s, self.slot, self.slots),
                       lambda s: s.__setitem__(self.slots, self.slot + 1))  # fmt: skip
        finally:
            with self.state.get_lock():
                self.raw[waiting] = 0
        start = time.perf_counter()
        try:
            yield
        finally:
            with self.state.get_lock():
                self.raw[self.slots] = 0
            self._trace("alone", start)

    def clear(self) -> None:
        """Driver side, after this slot's process died: drop whatever it held or waited for. The lock is held
        for microseconds at a time, so one not free within a second was held by the dead process: take it over."""
        lock = self.state.get_lock()
        lock.acquire(timeout=1.0)
        try:
            raw = self.raw
            raw[self.slot] = 0
            raw[self.slots + 1 + self.slot] = 0
            if raw[self.slots] == self.slot + 1:
                raw[self.slots] = 0
        finally:
            lock.release()

    def _wait(self, admits, take) -> None:
        while True:
            with self.state.get_lock():
                if admits(self.raw):
                    take(self.raw)
                    return
            time.sleep(WAIT_S)

    @property
    def raw(self):
        """The unsynchronised array, for use under `state.get_lock()` (its own accessors take that lock again)."""
        return self.state.get_obj()

    def _trace(self, kind: str, start: float) -> None:
        path = os.environ.get(TEST_TRACE_ENV)
        if path:
            line = f"{self.slot} {kind} {start:.6f} {time.perf_counter():.6f}\n"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)


class NoGate:
    """One process alone (in-process and Dask executors): nothing to wait for."""

    @contextmanager
    def epoch(self, threads: int, on_cpu: bool = True) -> Iterator[Hold]:
        yield Hold()

    @contextmanager
    def alone(self) -> Iterator[None]:
        yield
