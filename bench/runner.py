"""The sweep: run a suite's trials (skipping those already complete) and write each result as it lands."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.results import RunWriter, record_session
from bench.suite import Suite
from bench.timing import TimingPlan
from bench.train import TrialOptions, run_trial
from bench.trial import Trial, TrialResult

Executor = Callable[[list[Trial], TrialOptions], Iterator[TrialResult]]


def warm_up_process() -> None:
    """Run one tiny untimed trial so the first real trial does not pay for torch's lazy start-up
    (thread pools, oneDNN primitives, allocator pools) in its timing or its memory figure."""
    run_trial(Trial(cell="lstm", encoding="embedding", max_epochs=2), TrialOptions(plan=TimingPlan(0.001, 1, 1, 1)))


def local_executor(trials: list[Trial], options: TrialOptions) -> Iterator[TrialResult]:
    """One trial after another in this process: the most faithful timing."""
    if trials:
        warm_up_process()
    for trial in trials:
        yield run_trial(trial, options)


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
) -> SweepSummary:
    """Run every trial of `suite` not yet in `out_dir`; KeyboardInterrupt ends it cleanly."""
    writer = RunWriter(out_dir, env, suite.text, benchmark_meta)
    writer.write_resolved(suite.name, list(suite.trials))
    todo = [t for t in suite.trials if t.trial_id not in writer.done]
    summary = SweepSummary(Path(out_dir), len(suite.trials), len(suite.trials) - len(todo))
    start = time.perf_counter()
    bar = tqdm(total=len(suite.trials), initial=summary.already_done, unit="trial", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    try:
        for result in _timed(executor(todo, options), summary):
            writer.append(result)
            summary.counts[result.status] += 1
            bar.set_postfix_str(f"{result.trial.cell} {result.trial.task} {result.status}", refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        writer.finalize()
        summary.wall_s = time.perf_counter() - start
        record_session(out_dir, {
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
