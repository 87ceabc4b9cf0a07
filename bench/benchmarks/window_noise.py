"""How far a paired ratio moves between timing windows: `python -m bench.benchmarks.window_noise`.

A run times each configuration's cells together in one window (`bench.timing.time_paired`); the seeds of
a configuration are further windows at other moments of the sweep. This builds the three cells' training
steps once (default: the default suite's centre, synthetic H=32 L=1 T=20 B=16, one torch thread) and times
the same models in `--windows` windows, `--gap` seconds apart, exactly as a run times a group (shuffled
rounds with the machine workload, short steps re-warmed, the run's default `--time-budget 0.1`).

Per cell it prints each window's paired ratio to the RNN, the half-width of a window's own 95% interval
(what one seed's row claims), the spread of the windows' ratios (their standard deviation in log units:
what moves between windows although the models and the computation are the same), and how many windows
a 95% interval of +-5% on the mean over windows would take at that spread (a lower bound for the report's
bootstrap of the median). Where the between-window sd is larger than a window's own interval allows (its
half-width / 1.96), the machine's state changes the ratio itself, and more windows (seeds), not more rounds
per window, narrow the interval.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np
import torch
from scipy import stats as scipy_stats

from bench.benchmarks.overhead import build_steps
from bench.stats import paired_ratio
from bench.timing import MACHINE, TimingPlan, machine_workload, time_paired
from bench.trial import Trial

CENTRE = Trial(task="synthetic", encoding="dense", input_size=2, hidden=32, layers=1, seq_len=20, batch=16, clip=1.0,
               threads=1)  # fmt: skip


def windows_needed(sd_log: float, half_width: float = 0.05, confidence: float = 0.95) -> int | None:
    """Smallest n whose t-interval of a mean over n windows, at standard deviation `sd_log`, is within
    log(1 + half_width) either side; None beyond 1000 windows or for a NaN spread. (The report's interval,
    a bootstrap of the median over seeds, is wider: read this as a lower bound.)"""
    target = math.log1p(half_width)
    for n in range(2, 1001):
        if scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * sd_log / math.sqrt(n) <= target:
            return n
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.benchmarks.window_noise",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--windows", type=int, default=12, help="timing windows (default 12)")
    p.add_argument("--gap", type=float, default=2.0, metavar="S", help="idle seconds between windows (default 2)")
    p.add_argument("--time-budget", type=float, default=0.1, metavar="S", help="as rnnbench run (default 0.1)")
    p.add_argument("--hidden", type=int, default=CENTRE.hidden)
    p.add_argument("--seq-len", type=int, default=CENTRE.seq_len)
    p.add_argument("--batch", type=int, default=CENTRE.batch)
    p.add_argument("--layers", type=int, default=CENTRE.layers)
    args = p.parse_args(argv)
    if args.windows < 3:
        p.error("--windows must be >= 3")
    if min(args.hidden, args.seq_len, args.batch, args.layers) < 1:
        p.error("--hidden, --seq-len, --batch and --layers must be >= 1")
    if not 0 < args.time_budget <= 60 or not 0 <= args.gap <= 600:
        p.error("--time-budget must be in (0, 60] s and --gap in [0, 600] s")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _measure(args)
    finally:
        torch.set_num_threads(threads)


def _measure(args: argparse.Namespace) -> int:
    trial = CENTRE.replace(hidden=args.hidden, seq_len=args.seq_len, batch=args.batch, layers=args.layers)
    steps = {**build_steps(trial), MACHINE: machine_workload()}
    plan = TimingPlan(target_s=args.time_budget)
    print(f"window noise: {trial.label()}, {args.windows} windows {args.gap:g} s apart, --time-budget "
          f"{args.time_budget:g} s, 1 torch thread; the same models in every window")  # fmt: skip
    ratios: dict[str, list[float]] = {"lstm": [], "gru": []}
    widths: dict[str, list[float]] = {"lstm": [], "gru": []}
    for w in range(args.windows):
        if w:
            time.sleep(args.gap)
        samples = time_paired(steps, plan, random.Random(w)).samples
        line = [f"window {w + 1:2d}: {len(samples['rnn'])} rounds, RNN {np.median(samples['rnn']) * 1e3:.2f} ms"]
        for cell in ratios:
            ratio, lo, hi = paired_ratio(samples[cell], samples["rnn"])
            ratios[cell].append(ratio)
            widths[cell].append((hi - lo) / 2 / ratio)
            line.append(f"{cell.upper()}/RNN {ratio:.3f} [{lo:.3f}, {hi:.3f}]")
        print("  ".join(line), flush=True)
    for cell, values in ratios.items():
        logs = np.log(values)
        sd = float(np.std(logs, ddof=1))
        spread, own = max(values) / min(values), float(np.median(widths[cell]))
        needed = windows_needed(sd)
        print(f"{cell.upper()}/RNN over windows: median {np.median(values):.3f}, max/min {spread:.3f}, sd {sd:.1%} "
              f"(log); one window's own 95% interval +-{own:.1%} (median), as an sd about {own / 1.96:.1%}; "
              f"windows for a +-5% 95% interval of their mean: {needed or 'over 1000'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
