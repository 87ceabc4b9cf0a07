"""Crash isolation for the local executor: timing groups run in long-lived child processes.

A child (started with `spawn`, so it shares no torch state with the driver) pays torch's start-up
and the warm-up trial once, then runs one timing group per request and reports, through a pipe,
each trial as it starts and the group's results when it ends. When the kernel kills it (out of
memory) or it crashes, the driver learns which trial was in flight, starts a fresh child, and
retries: a trial in flight at `ATTEMPTS` deaths becomes a `failed` row naming the cause, and the
sweep goes on. This is the rule the Dask executor applies to a dead worker.

With `processes` > 1, that many children take groups from one queue in the shuffled order, each fed
by a driver thread. Their CPU training epochs run side by side, but every timing phase holds the
machine alone (`bench.machine_gate`), so parallel training shortens a sweep without touching a timed
round.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.machine_gate import MachineGate, NoGate, usable_cpus
from bench.train import TrialOptions
from bench.trial import Trial, TrialResult

ATTEMPTS = 2  # a trial whose process dies is retried once, then recorded as failed
POLL_S = 0.5


def death_cause(exitcode: int | None) -> str:
    """'killed by signal 9 (SIGKILL), likely out of memory' and the like."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = ", likely out of memory (the kernel's OOM killer)" if -exitcode == signal.SIGKILL else ""
        return f"killed by signal {-exitcode} ({name}){hint}"
    return f"exited with status {exitcode}"


def _child_main(conn, gate: MachineGate | None) -> None:
    """The child: warm up once, then run groups until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _exit_with_parent()
    from bench.faults import maybe_kill_for_test
    from bench.train import run_group, use_gate, warm_up_process

    if gate is not None:
        use_gate(gate)
        gate.starting(False)  # torch is imported; the warm-up's own work holds shares like any trial's
    warm_up_process()

    def started(trial_id: str) -> None:
        conn.send(("start", trial_id))
        maybe_kill_for_test(trial_id)

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        group, options, alone = request
        # A retry after a death: nothing of ours runs beside it.
        with gate.alone() if alone and gate is not None else contextlib.nullcontext():
            conn.send(("done", run_group(group, options, on_start=started)))


def _exit_with_parent() -> None:
    """End this child when the driver is gone (kill -9), rather than train on, unseen, beside the next run."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="rnnbench-parent-watch").start()


@dataclass
class _Death:
    in_flight: str  # trial id, or '' for the group's timing phase
    cause: str


class ChildWorker:
    """One child process; `run` sends it a group and returns its results, or a `_Death`."""

    def __init__(self, gate: MachineGate | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_main, args=(child, gate), daemon=True, name="rnnbench-trials")
        self._closing = threading.Lock()
        if gate is not None:
            gate.starting(True)  # its torch import must not run beside another child's timing
        self.process.start()
        child.close()

    def run(self, group: list[Trial], options: TrialOptions, on_start: Callable[[str], None], alone: bool = False):
        self.conn.send((group, options, alone))
        in_flight = ""
        while True:
            try:
                if not self.conn.poll(POLL_S):
                    if not self.process.is_alive():
                        raise EOFError
                    continue
                kind, payload = self.conn.recv()
            except (EOFError, OSError):
                self.process.join(5)
                return _Death(in_flight, death_cause(self.process.exitcode))
            if kind == "done":
                return payload
            in_flight = payload
            on_start(payload)

    def close(self) -> None:
        """Close the pipe (an idle child exits on it at once); a child still busy (Ctrl-C) is killed. Safe to
        call from two threads at once (its feeder and the executor's shutdown)."""
        with self._closing:
            self.conn.close()
            self.process.join(2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()


def isolated_executor(groups: list[list[Trial]], options: TrialOptions,
                      on_start: Callable[[str], None] = lambda trial_id: None,
                      processes: int = 1) -> Iterator[TrialResult]:  # fmt: skip
    """Run `groups` in `processes` child processes, in their order; yields every trial's result as its
    group ends (with several processes, groups end out of order). With several, the driver holds a share of
    the machine while its caller handles a result (writing it), so that never runs beside a timing phase."""
    processes = max(1, min(processes, len(groups)))
    gates: list[MachineGate | None] = [None]
    driver: MachineGate | NoGate = NoGate()
    if processes > 1:
        *gates, driver = MachineGate.shared(multiprocessing.get_context("spawn"), processes + 1, usable_cpus())
    pool = _Pool(groups, options, on_start)
    threads = [threading.Thread(target=pool.serve, args=(g,), daemon=True, name=f"rnnbench-feed-{i}")
               for i, g in enumerate(gates)]  # fmt: skip
    for t in threads:
        t.start()
    try:
        while True:
            try:
                item = pool.results.get(timeout=POLL_S)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and pool.results.empty():
                    return
                continue
            if isinstance(item, BaseException):
                raise item
            with driver.share(1):
                yield item
    finally:
        pool.stop.set()
        pool.close_workers()
        for t in threads:
            t.join(10)


class _Pool:
    """The shared queue of groups, the death counts, and one `serve` loop per child (in a driver thread)."""

    def __init__(self, groups: list[list[Trial]], options: TrialOptions, on_start: Callable[[str], None]) -> None:
        self.pending: deque[tuple[list[Trial], bool]] = deque((list(g), False) for g in groups)
        self.options, self.on_start = options, on_start
        self.results: queue.Queue = queue.Queue()
        self.deaths: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.workers: list[ChildWorker] = []

    def _next(self) -> tuple[list[Trial], bool] | None:
        with self.lock:
            return self.pending.popleft() if self.pending and not self.stop.is_set() else None

    def _start(self, gate: MachineGate | None) -> ChildWorker | None:
        """A fresh child, registered for shutdown; None once the executor is stopping."""
        with self.lock:
            if self.stop.is_set():
                return None
            worker = ChildWorker(gate)
            self.workers.append(worker)
            return worker

    def serve(self, gate: MachineGate | None) -> None:
        worker: ChildWorker | None = None
        try:
            while (item := self._next()) is not None:
                group, retried = item
                worker = worker or self._start(gate)
                if worker is None:
                    return
                outcome = worker.run(group, self.options, self.on_start, alone=retried)
                if not isinstance(outcome, _Death):
                    for result in outcome:
                        self.results.put(result)
                    continue
                if self.stop.is_set():
                    return
                worker.close()
                if gate is not None:
                    gate.clear(worker.process.pid)
                worker = None
                self._after_death(group, outcome)
        except BaseException as e:  # surfaced in the driver's own thread
            self.results.put(e)
        finally:
            if worker is not None:
                worker.close()

    def _after_death(self, group: list[Trial], outcome: _Death) -> None:
        """Count the death against the trial in flight (all of the group's, in its timing phase); retry the
        rest first, with the machine alone: beside another child, the kernel's OOM killer may have picked
        this one for the other's appetite."""
        culprits = [t for t in group if outcome.in_flight in ("", t.trial_id)]
        with self.lock:
            for trial in culprits:
                self.deaths[trial.trial_id] += 1
            given_up = [t for t in culprits if self.deaths[t.trial_id] >= ATTEMPTS]
            retry = [t for t in group if t not in given_up]
            if retry:
                self.pending.appendleft((retry, True))
        for trial in given_up:
            self.results.put(TrialResult(trial, "failed", error=f"the trial's process died on each of {ATTEMPTS} "
                                                                f"attempts: {outcome.cause}"))  # fmt: skip

    def close_workers(self) -> None:
        with self.lock:
            workers = list(self.workers)
        for worker in workers:
            worker.close()
