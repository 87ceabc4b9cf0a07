"""Who may use the machine while the local executor trains in several processes.

Work is run in parallel only where it cannot touch a measurement. Every piece of a child's work
outside a timing phase (its start-up and warm-up, a trial's set-up, each training epoch, the FLOP
count) holds a share of the machine, as does the driver while it writes a result; shares run side by
side as long as their torch threads fit the cores. A timing phase (the paired rounds, a compile
time), any work on an accelerator (the processes would share one device) and a group retried after
its process died have the machine alone. A process that wants it alone stops new shares from
starting and waits for the running ones to end (one epoch: about a second here), so no timed round
ever runs beside our own work, and a training epoch's wall time, which time to solve adds up, never
includes a wait. The state lives in one shared integer array, S slots (children, then the driver):

    BUSY      [0, S)        torch threads of the share each slot holds now (0: none)
    OWNER     S             the slot holding the machine alone, plus one (0: nobody)
    WAITING   [S+1, 2S+1)   1 where that slot waits to hold it alone
    EPOCHS    [2S+1, 3S+1)  training epochs that slot has started so far
    TRAINING  [3S+1, 4S+1)  1 while that slot trains an epoch
    STARTING  [4S+1, 5S+1)  1 from the driver's spawn of that slot's child until its warm-up ends
    HOLDER    5S+1          pid holding the array's lock (0: nobody)

An epoch knows whether another process's epoch ran beside it (`Hold.beside`, recorded per epoch in
curves.csv): one did if another slot was training when it started or when it ended, or started one
in between. A child that dies leaves its slot's entries behind; the driver clears them
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


WAITING, EPOCHS, TRAINING, STARTING = 1, 2, 3, 4  # the per-slot blocks after BUSY and OWNER


def _block(slots: int, k: int) -> slice:
    """Per-slot block k (WAITING, EPOCHS, TRAINING or STARTING) of the state."""
    return slice(k * slots + 1, (k + 1) * slots + 1)


def _holder(slots: int) -> int:
    """Index of HOLDER, the pid holding the array's lock."""
    return 5 * slots + 1


def admits_share(state: Sequence[int], slot: int, slots: int, threads: int, cores: int) -> bool:
    """May `slot` start a share on `threads` threads? Always while it holds the machine alone; never while
    another holds it or waits for it; else if nobody else is busy, or all threads busy then fit the cores."""
    if state[slots] == slot + 1:
        return True
    waiting = state[_block(slots, WAITING)]
    if state[slots] or any(w for i, w in enumerate(waiting) if i != slot):
        return False
    busy = sum(state[i] for i in range(slots) if i != slot)
    return busy == 0 or busy + threads <= cores


def admits_alone(state: Sequence[int], slot: int, slots: int) -> bool:
    """May `slot` hold the machine alone? When nobody else holds it, is busy, or is starting."""
    starting = state[_block(slots, STARTING)]
    others = [i for i in range(slots) if i != slot]
    return not state[slots] and not any(state[i] or starting[i] for i in others)


@dataclass
class Hold:
    """What one share learns when it ends: whether another process trained an epoch beside it."""

    beside: bool = False


class MachineGate:
    """One slot's view of the shared state; picklable into a spawned child (pass it at `Process` start)."""

    def __init__(self, state, slots: int, slot: int, cores: int) -> None:
        self.state, self.slots, self.slot, self.cores = state, slots, slot, cores
        self._alone_depth = 0  # this process's own nesting (a retried group's timing inside its alone)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_alone_depth": 0}

    @classmethod
    def shared(cls, ctx, slots: int, cores: int) -> list[MachineGate]:
        """Every slot's gate over one fresh array made by multiprocessing context `ctx`."""
        # A plain Lock, not the default RLock: the driver may take it over from a child killed while holding it.
        state = ctx.Array("i", _holder(slots) + 1, lock=ctx.Lock())
        return [cls(state, slots, i, cores) for i in range(slots)]

    @contextmanager
    def share(self, threads: int, on_cpu: bool = True, epoch: bool = False) -> Iterator[Hold]:
        """Hold a share of the machine on `threads` threads (the machine alone where not `on_cpu`); an `epoch`
        is counted for the others' `beside` and learns its own."""
        hold = Hold()
        if not on_cpu:
            with self.alone():
                yield hold
            return
        seen: list[tuple[bool, list[int]]] = []

        def take(raw) -> None:
            raw[self.slot] = max(threads, 1)
            if epoch:
                raw[self._mine(EPOCHS)] += 1
                raw[self._mine(TRAINING)] = 1
            seen.append(self._others_training(raw))

        self._wait(lambda s: admits_share(s, self.slot, self.slots, threads, self.cores), take)
        start = time.perf_counter()
        try:
            yield hold
        finally:
            with self._locked() as raw:
                raw[self.slot] = 0
                raw[self._mine(TRAINING)] = 0
                at_end = self._others_training(raw)
                end = time.perf_counter()
            hold.beside = epoch and (seen[0][0] or at_end[0] or seen[0][1] != at_end[1])
            self._trace("epoch" if epoch else "share", start, end)

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Hold the machine alone: no other slot's share runs until this ends. Nested holds are one hold."""
        if self._alone_depth:
            self._alone_depth += 1
            try:
                yield
            finally:
                self._alone_depth -= 1
            return
        waiting = self._mine(WAITING)
        with self._locked() as raw:
            raw[waiting] = 1
        try:
            self._wait(lambda s: admits_alone(s, self.slot, self.slots),
                       lambda s: s.__setitem__(self.slots, self.slot + 1))  # fmt: skip
        finally:
            with self._locked() as raw:
                raw[waiting] = 0
        self._alone_depth = 1
        start = time.perf_counter()
        try:
            yield
        finally:
            self._alone_depth = 0
            with self._locked() as raw:
                raw[self.slots] = 0
                end = time.perf_counter()
            self._trace("alone", start, end)

    def starting(self, value: bool) -> None:
        """Mark this slot's child as starting (driver, before the spawn) or started (child, after warm-up)."""
        with self._locked() as raw:
            raw[self._mine(STARTING)] = int(value)

    def clear(self, dead_pid: int) -> None:
        """Driver side, after this slot's process `dead_pid` died: drop whatever it held, waited for or was
        starting. Where the dead process died holding the array's lock, take the lock over."""
        lock = self.state.get_lock()
        raw = self.state.get_obj()
        holder = _holder(self.slots)
        while not lock.acquire(timeout=1.0):
            if raw[holder] == dead_pid:
                break  # it will never release it: it is ours now
        try:
            raw[holder] = os.getpid()
            raw[self.slot] = 0
            for k in (WAITING, TRAINING, STARTING):
                raw[self._mine(k)] = 0
            if raw[self.slots] == self.slot + 1:
                raw[self.slots] = 0
        finally:
            raw[holder] = 0
            lock.release()

    @contextmanager
    def _locked(self) -> Iterator:
        """The unsynchronised array under the lock (its own accessors would take the lock again), with this
        process's pid recorded as the holder."""
        lock = self.state.get_lock()
        lock.acquire()
        raw = self.state.get_obj()
        raw[_holder(self.slots)] = os.getpid()
        try:
            yield raw
        finally:
            raw[_holder(self.slots)] = 0
            lock.release()

    def _mine(self, k: int) -> int:
        """Index of this slot's entry in per-slot block k."""
        return _block(self.slots, k).start + self.slot

    def _others_training(self, raw) -> tuple[bool, list[int]]:
        """Whether another slot trains an epoch now, and how many epochs each other slot has started."""
        others = [i for i in range(self.slots) if i != self.slot]
        training, epochs = _block(self.slots, TRAINING).start, _block(self.slots, EPOCHS).start
        return any(raw[training + i] for i in others), [raw[epochs + i] for i in others]

    def _wait(self, admits, take) -> None:
        while True:
            with self._locked() as raw:
                if admits(raw):
                    take(raw)
                    return
            time.sleep(WAIT_S)

    def _trace(self, kind: str, start: float, end: float) -> None:
        path = os.environ.get(TEST_TRACE_ENV)
        if path:
            line = f"{self.slot} {kind} {start:.6f} {end:.6f}\n"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)


class NoGate:
    """One process alone (in-process and Dask executors): nothing to wait for."""

    @contextmanager
    def share(self, threads: int, on_cpu: bool = True, epoch: bool = False) -> Iterator[Hold]:
        yield Hold()

    @contextmanager
    def alone(self) -> Iterator[None]:
        yield

    def starting(self, value: bool) -> None:
        pass
