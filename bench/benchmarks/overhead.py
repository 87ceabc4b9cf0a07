"""`make overhead`: does the harness report the time a bare loop would measure?

For each size (the hello toy, H=128 T=50 B=32, H=256 L=2 T=100 B=32) the three cells' training steps
are built once and timed, in one process with one torch thread, two ways, in many short repeats
(which goes first is drawn afresh each repeat): by the path `rnnbench run` takes
(`bench.timing.time_paired`: the three steps and the machine workload in shuffled rounds, a short
step re-warmed by an untimed call before each timed one, exactly as `bench.train.run_group` times a
timing group that holds the RNN), and by a bare loop over the same step callable, as many calls back
to back (and torch.utils.benchmark.Timer's blocked_autorange beside it).
The machine's speed drifts by tens of percent within a minute here, so each repeat's harness median is
divided by the bare median timed next to it, and the ratio printed per cell and size is the median of
those per-repeat ratios (target 0.95-1.05) with its 95% order-statistic interval; also each cell's
ratio to the RNN both ways (what `rnnbench compare` reports). On a GPU the graphed step is compared as well.
With --run DIR it also reports a finished sweep's wall time against the time spent in its trials.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.benchmark as tbench

from bench.stats import median_interval
from bench.tasks import TASKS
from bench.timing import MACHINE, TimingPlan, machine_workload, time_paired
from bench.train import _make_step, _synced, _to, build
from bench.trial import Trial

CELLS = ("rnn", "lstm", "gru")
SIZES = {
    "hello toy (H=8, L=2, T=5, B=1)": Trial(encoding="embedding", hidden=8, layers=2),
    "H=128, T=50, B=32": Trial(task="synthetic", encoding="dense", hidden=128, seq_len=50, batch=32, input_size=32),
    "H=256, L=2, T=100, B=32": Trial(
        task="synthetic", encoding="dense", hidden=256, layers=2, seq_len=100, batch=32, input_size=128
    ),  # fmt: skip
}


@dataclass(frozen=True)
class Repeat:
    """One repeat at one size: per cell, the harness median, the bare loop's and blocked_autorange's (s)."""

    harness: dict[str, float]
    bare: dict[str, float]
    timer: dict[str, float]


def build_steps(trial: Trial) -> dict[str, Callable[[], None]]:
    """Each cell's synchronised training step at `trial`'s size, as `run_group` builds and times it."""
    steps = {}
    for cell in CELLS:
        t = trial.replace(cell=cell)
        task = TASKS.get(t.task)()
        torch.manual_seed(t.seed)
        model, opt = build(t, task)
        batch = _to(task.batch(t, t.batch, torch.Generator().manual_seed(t.seed * 7919 + 1)), t)
        step, _ = _make_step(model, opt, task, t, batch)
        steps[cell] = _synced(step, batch, t.device)
    return steps


def harness_medians(
    steps: dict[str, Callable[[], None]], plan: TimingPlan, rng: random.Random
) -> tuple[dict[str, float], int]:
    """Median seconds per step of each cell, timed by `time_paired` with the machine workload; its rounds."""
    paired = time_paired({**steps, MACHINE: machine_workload()}, plan, rng)
    return {cell: statistics.median(paired.samples[cell]) for cell in steps}, len(paired.samples[MACHINE])


def loop_median(step: Callable[[], None], calls: int) -> float:
    """A bare perf_counter loop over `step` (gc paused): 2 untimed calls, then `calls` timed back-to-back
    calls; their median. The harness's statistic over as many calls, without its rounds or its pairing."""
    for _ in range(2):
        step()
    times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(calls):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(times)


def bare_medians(steps: dict[str, Callable[[], None]], calls: int, rng: random.Random) -> dict[str, tuple]:
    """Per cell (cells in a shuffled order): the bare loop's median and blocked_autorange's median (s)."""
    out = {}
    for cell in rng.sample(list(steps), len(steps)):
        timer = tbench.Timer("step()", globals={"step": steps[cell]}, num_threads=torch.get_num_threads())
        median = loop_median(steps[cell], calls)
        out[cell] = (median, timer.blocked_autorange(min_run_time=min(calls * median, 1.0)).median)
    return out


def measure(trial: Trial, repeats: int, budget_s: float, seed: int = 0) -> list[Repeat]:
    """`repeats` harness/bare repeats at one size, which of the two goes first drawn each repeat. The harness
    times as a run does at `--time-budget budget_s` (at least 15 rounds), after 2 warm-up rounds; the bare
    loop times as many calls as the harness had rounds (counted by a first, discarded harness measurement)."""
    steps = build_steps(trial)
    rng = random.Random(seed)
    plan = TimingPlan(target_s=budget_s, warmup_rounds=2)
    _, rounds = harness_medians(steps, plan, rng)
    out = []
    for _ in range(repeats):
        if rng.random() < 0.5:
            harness = harness_medians(steps, plan, rng)[0]
            bare = bare_medians(steps, rounds, rng)
        else:
            bare = bare_medians(steps, rounds, rng)
            harness = harness_medians(steps, plan, rng)[0]
        out.append(Repeat(harness, {c: b[0] for c, b in bare.items()}, {c: b[1] for c, b in bare.items()}))
    return out


HEADER = (f"{'size':31s} {'mode':5s} {'cell':4s} {'harness':>9s} {'bare':>9s} {'ratio':>6s} {'[95% interval]':15s} "
          f"{'Timer':>9s} {'ratio':>6s} {'/rnn har':>8s} {'/rnn bare':>9s}")  # fmt: skip


def summary_lines(name: str, mode: str, repeats: list[Repeat]) -> tuple[list[str], float]:
    """One line per cell (median times over the repeats, in ms; ratios are medians of per-repeat ratios),
    and the largest |harness / bare loop - 1| among them."""
    lines, worst = [], 0.0
    for cell in CELLS:
        harness, bare, timer = (
            statistics.median(getattr(r, k)[cell] for r in repeats) for k in ("harness", "bare", "timer")
        )
        per_repeat = [r.harness[cell] / r.bare[cell] for r in repeats]
        ratio, (lo, hi) = statistics.median(per_repeat), median_interval(per_repeat)
        vs_timer = statistics.median(r.harness[cell] / r.timer[cell] for r in repeats)
        vs_rnn_h = statistics.median(r.harness[cell] / r.harness["rnn"] for r in repeats)
        vs_rnn_b = statistics.median(r.bare[cell] / r.bare["rnn"] for r in repeats)
        worst = max(worst, abs(ratio - 1))
        lines.append(f"{name:31s} {mode:5s} {cell:4s} {harness * 1e3:9.3f} {bare * 1e3:9.3f} {ratio:6.3f} "
                     f"[{lo:.3f}, {hi:.3f}] {timer * 1e3:9.3f} {vs_timer:6.3f} "
                     f"{vs_rnn_h:8.3f} {vs_rnn_b:9.3f}")  # fmt: skip
    return lines, worst


def sweep_overhead(run_dir: Path) -> str:
    """A finished sweep's wall time against the time spent inside its trials (training and timing)."""
    sweep = json.loads((run_dir / "sweep.json").read_text())
    wall = sum(s.get("wall_s", 0.0) for s in sweep["sessions"])
    inside = sum(s.get("in_trials_s", 0.0) for s in sweep["sessions"])
    if wall <= 0:
        return f"sweep {run_dir}: no finished session recorded"
    outside = 1 - inside / wall
    return (f"sweep {run_dir}: wall {wall:.1f} s, inside trials (training and timing) {inside:.1f} s "
            f"({inside / wall:.0%}); outside them (start-up, calibration, writing results): {outside:.0%}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20, help="harness/bare repeats per size (default 20)")
    p.add_argument("--budget", type=float, default=0.1, help="seconds of timing per cell per measurement, as "
                   "rnnbench run --time-budget (default 0.1, the run's default)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if present")
    p.add_argument("--sizes", default=None, help="comma-separated indexes of the sizes to run, e.g. 2 (default all)")
    p.add_argument("--run", type=Path, default=None, help="a finished run folder to report sweep overhead for")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    picked = [int(i) for i in args.sizes.split(",")] if args.sizes else range(len(SIZES))
    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, device {args.device}, "
          f"{args.repeats} repeats of {args.budget} s per cell, harness and bare loop interleaved")  # fmt: skip
    print(
        "ms per step (medians over repeats); ratio = median over repeats of harness / bare loop (target "
        "0.95-1.05) with its 95% interval; Timer = blocked_autorange"
    )
    print(HEADER)
    modes = ["eager", "graph"] if args.device == "cuda" else ["eager"]
    worst = 0.0
    for name, trial in (item for i, item in enumerate(SIZES.items()) if i in picked):
        for mode in modes:
            trial_here = trial.replace(device=args.device, mode=mode, threads=args.threads)
            lines, deviation = summary_lines(name, mode, measure(trial_here, args.repeats, args.budget))
            print("\n".join(lines), flush=True)
            worst = max(worst, deviation)
    print(f"largest deviation of harness / bare loop from 1: {worst:.3f} (target <= 0.05)")
    if args.run:
        print(sweep_overhead(args.run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
