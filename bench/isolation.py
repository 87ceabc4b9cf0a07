"""Crash isolation for the local executor: timing groups run in one long-lived child process.

The child (started with `spawn`, so it shares no torch state with the driver) pays torch's start-up
and the warm-up trial once, then runs one timing group per request and reports, through a pipe,
each trial as it starts and the group's results when it ends. When the kernel kills it (out of
memory) or it crashes, the driver learns which trial was in flight, starts a fresh child, and
retries: a trial in flight at `ATTEMPTS` deaths becomes a `failed` row naming the cause, and the
sweep goes on. This is the rule the Dask executor applies to a dead worker.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


def _child_main(conn) -> None:
    """The child: warm up once, then run groups until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _exit_with_parent()
    from bench.faults import maybe_kill_for_test
    from bench.train import run_group, warm_up_process

    warm_up_process()

    def started(trial_id: str) -> None:
        conn.send(("start", trial_id))
        maybe_kill_for_test(trial_id)

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        group, options = request
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

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_main, args=(child,), daemon=True, name="rnnbench-trials")
        self.process.start()
        child.close()

    def run(self, group: list[Trial], options: TrialOptions, on_start: Callable[[str], None]):
        self.conn.send((group, options))
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
        """Close the pipe (an idle child exits on it at once); a child still busy (Ctrl-C) is killed."""
        self.conn.close()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def isolated_executor(groups: list[list[Trial]], options: TrialOptions,
                      on_start: Callable[[str], None] = lambda trial_id: None) -> Iterator[TrialResult]:  # fmt: skip
    """Run `groups` one after another in a child process; yields every trial's result."""
    worker: ChildWorker | None = None
    deaths: Counter[str] = Counter()
    pending = [list(g) for g in groups]
    try:
        while pending:
            group = pending.pop(0)
            worker = worker or ChildWorker()
            outcome = worker.run(group, options, on_start)
            if not isinstance(outcome, _Death):
                yield from outcome
                continue
            worker.close()
            worker = None
            culprits = [t for t in group if outcome.in_flight in ("", t.trial_id)]
            for trial in culprits:
                deaths[trial.trial_id] += 1
            given_up = [t for t in culprits if deaths[t.trial_id] >= ATTEMPTS]
            for trial in given_up:
                yield TrialResult(trial, "failed", error=f"the trial's process died on each of {ATTEMPTS} attempts: "
                                                         f"{outcome.cause}")  # fmt: skip
            retry = [t for t in group if t not in given_up]
            if retry:
                pending.insert(0, retry)
    finally:
        if worker is not None:
            worker.close()
