"""How a round should time a short step: `python -m bench.benchmarks.round_design [--size 0] [--repeats 16]`.

Switching from one model to another makes the next call of a short step slower (caches refilled), a
cost a training loop never pays. This compares ways of timing one member per round, at one of
`make overhead`'s sizes (0 = the hello toy), with an identical second RNN model (`rnn2`) and the
machine workload as extra members:

    single      one timed call (before rnnbench re-warmed short steps)
    warm+1      one untimed call, then one timed call (what `bench.timing.time_paired` does for a step
                under TimingPlan.rewarm_below_s)
    blk10/blk5  a block of consecutive timed calls filling 10 / 5 ms, seconds per call
    warm+blk5   one untimed call, then a 5 ms block
    warm+2/3    two / three untimed calls, then one timed call

Per design it prints, as medians over the repeats (designs in a shuffled order each repeat): the bias,
the design's median over a bare loop's median of the same calls timed next to it (1.00 = no cost of
switching); and for rnn2/rnn, lstm/rnn and gru/rnn the spread of the paired ratio over the repeats
(IQR / median, and max / min): how tightly the design pairs.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

import numpy as np
import torch

from bench.benchmarks.overhead import SIZES, build_steps
from bench.timing import machine_workload

DESIGNS = {"single": (0.0, 0), "warm+1": (0.0, 1), "warm+2": (0.0, 2), "warm+3": (0.0, 3), "blk10": (0.01, 0),
           "blk5": (0.005, 0), "warm+blk5": (0.005, 1)}  # fmt: skip
PAIRS = ("rnn2/rnn", "lstm/rnn", "gru/rnn")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=0, choices=range(len(SIZES)), help="index into make overhead's sizes")
    p.add_argument("--repeats", type=int, default=16, help="repeats of every design (default 16)")
    p.add_argument("--rounds", type=int, default=15, help="timed rounds per design and repeat (default 15)")
    p.add_argument("--designs", nargs="+", choices=list(DESIGNS), default=list(DESIGNS), help="default: all")
    args = p.parse_args(argv)
    designs = {d: DESIGNS[d] for d in args.designs}
    torch.set_num_threads(1)
    trial = list(SIZES.values())[args.size]
    steps = build_steps(trial)
    steps["rnn2"] = build_steps(trial)["rnn"]  # an identical second RNN model: its ratio should be 1
    steps["machine"] = machine_workload()
    rng = random.Random(0)
    est = {}
    for k, f in steps.items():
        f()
        start = time.perf_counter()
        f(), f()
        est[k] = (time.perf_counter() - start) / 2

    def run(block_s: float, warm: int) -> tuple[dict[str, list[float]], dict[str, int]]:
        calls = {k: max(1, int(np.ceil(block_s / est[k]))) if block_s else 1 for k in steps}
        out: dict[str, list[float]] = {k: [] for k in steps}
        for r in range(args.rounds + 2):
            order = list(steps)
            rng.shuffle(order)
            for k in order:
                f = steps[k]
                for _ in range(warm):
                    f()
                start = time.perf_counter()
                for _ in range(calls[k]):
                    f()
                if r >= 2:
                    out[k].append((time.perf_counter() - start) / calls[k])
        return out, calls

    def bare(k: str, calls: int) -> float:
        f = steps[k]
        for _ in range(calls):
            f()
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(calls):
                f()
            times.append((time.perf_counter() - start) / calls)
        return statistics.median(times)

    bias = {d: {k: [] for k in steps} for d in designs}
    pair = {d: {name: [] for name in PAIRS} for d in designs}
    gc.disable()
    try:
        for _ in range(args.repeats):
            for d in rng.sample(list(designs), len(designs)):
                out, calls = run(*designs[d])
                loop = {k: bare(k, calls[k]) for k in rng.sample(list(steps), len(steps))}
                for k in steps:
                    bias[d][k].append(statistics.median(out[k]) / loop[k])
                for name in PAIRS:
                    a, b = name.split("/")
                    pair[d][name].append(statistics.median(np.array(out[a]) / np.array(out[b])))
    finally:
        gc.enable()
    print(f"{list(SIZES)[args.size]}, torch {torch.__version__}, 1 thread; ms per call: "
          + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in est.items()))  # fmt: skip
    print(f"{'design':10s} bias (median of design / bare loop) | paired ratio: median, IQR/median, max/min")
    for d in designs:
        b = " ".join(f"{k} {statistics.median(v):.3f}" for k, v in bias[d].items())
        q = " | ".join(f"{name} {np.median(v):.3f} {(np.percentile(v, 75) - np.percentile(v, 25)) / np.median(v):.3f} "
                       f"{max(v) / min(v):.3f}" for name, v in pair[d].items())  # fmt: skip
        print(f"{d:10s} {b} | {q}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
