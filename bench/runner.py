"""The sweep: group a suite's trials for paired timing, shuffle the groups, run those not yet complete,
and write each result as it lands.

A timing group is the set of trials that differ only in `cell` (`Trial.group_id`); it is the unit
of scheduling for every executor. The order of groups is a seeded shuffle (`order_seed`, recorded in
suite.resolved.json), so the machine's slow drift cannot line up with an axis, and seeds of one
configuration land at different times of the sweep as repeats.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from bench.results import RunWriter, check_sweep, close_session, open_session
from bench.runfolder import InflightLog
from bench.suite import Suite
from bench.train import TrialOptions
from bench.trial import Trial, TrialResult

Executor = Callable[[list[list[Trial]], TrialOptions, Callable[[str], None]], Iterator[TrialResult]]


def timing_groups(trials: Iterable[Trial], order_seed: int) -> list[list[Trial]]:
    """Trials grouped by `group_id` (suite order inside a group), groups in a shuffled order."""
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(t.group_id, []).append(t)
    ordered = list(groups.values())
    random.Random(order_seed).shuffle(ordered)
    return ordered


def in_process_executor(groups: list[list[Trial]], options: TrialOptions,
                        on_start: Callable[[str], None] = lambda t: None) -> Iterator[TrialResult]:  # fmt: skip
    """Every group in this process, without crash isolation (tests and benchmarks)."""
    from bench.train import run_group, warm_up_process

    if groups:
        warm_up_process()
    for group in groups:
        yield from run_group(group, options, on_start)


def local_executor(groups: list[list[Trial]], options: TrialOptions, on_start: Callable[[str], None] = lambda t: None,
                   processes: int = 1) -> Iterator[TrialResult]:  # fmt: skip
    """The default: groups in crash-isolated child processes (`bench.isolation`), `processes` of them training
    side by side, each timing phase alone."""
    from bench.isolation import isolated_executor

    return isolated_executor(groups, options, on_start, processes)


@dataclass
class SweepSummary:
    out_dir: Path
    total: int
    already_done: int
    counts: Counter = field(default_factory=Counter)
    wall_s: float = 0.0
    trial_train_s: float = 0.0  # training plus timing wall time spent inside trials
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return self.counts["failed"]


def run_sweep(
    suite: Suite,
    out_dir: Path,
    env: dict,
    benchmark_meta: dict,
    options: TrialOptions,
    executor: Executor = local_executor,
    progress: bool = True,
    all_trials: list[Trial] | None = None,
) -> SweepSummary:
    """Run every trial of `suite` not yet in `out_dir`; KeyboardInterrupt ends it cleanly.

    `all_trials` (default: the suite's) is what suite.resolved.json describes: with `--extend`, the
    trials already in the folder plus the new ones."""
    check_sweep(out_dir)
    writer = RunWriter(out_dir, env, suite.text, benchmark_meta)
    groups = timing_groups(suite.trials, options.order_seed)
    slot = {t.trial_id: i for i, g in enumerate(groups) for t in g}
    writer.write_resolved(suite.name, list(all_trials or suite.trials), options.order_seed,
                          [[t.trial_id for t in g] for g in groups])  # fmt: skip
    inflight = InflightLog(out_dir)
    given_up = inflight.killed_twice(writer.done)
    todo = [[t for t in g if t.trial_id not in writer.done and t.trial_id not in given_up] for g in groups]
    todo = [g for g in todo if g]
    summary = SweepSummary(Path(out_dir), len(suite.trials), len(writer.done & set(slot)))
    session = open_session(out_dir, {"started_at": env.get("started_at"), "already_done": summary.already_done})
    start = time.perf_counter()
    bar = tqdm(total=len(suite.trials), initial=summary.already_done, unit="trial", disable=not progress,
               dynamic_ncols=True)  # fmt: skip

    def record(result: TrialResult) -> None:
        writer.append(replace(result, timing_slot=slot.get(result.trial.trial_id, -1)))
        summary.counts[result.status] += 1
        bar.set_postfix_str(f"{result.trial.cell} {result.trial.task} {result.status}", refresh=False)
        bar.update(1)

    try:
        for trial in (t for g in groups for t in g if t.trial_id in given_up):
            error = f"in flight when the whole run was killed {given_up[trial.trial_id]} times; not tried again"
            record(TrialResult(trial, "failed", error=error))
        for result in _timed(executor(todo, options, inflight.mark), summary):
            record(result)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        writer.finalize()
        inflight.clear_session(writer.done)
        summary.wall_s = time.perf_counter() - start
        close_session(out_dir, session, {
            "started_at": env.get("started_at"), "wall_s": summary.wall_s, "in_trials_s": summary.trial_train_s,
            "ran": sum(summary.counts.values()), "already_done": summary.already_done,
            "counts": dict(summary.counts), "interrupted": summary.interrupted,
        })  # fmt: skip
    return summary


def _timed(results: Iterable[TrialResult], summary: SweepSummary) -> Iterator[TrialResult]:
    it = iter(results)
    while True:
        t0 = time.perf_counter()
        try:
            result = next(it)
        except StopIteration:
            return
        summary.trial_train_s += time.perf_counter() - t0
        yield result
