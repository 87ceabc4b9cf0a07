"""`make machine-reference`: which torch-free workload tracks the speed of a training step best?

`--normalize machine` divides every round of a trial by the round of a fixed machine workload timed
beside it, so a slower machine cancels while a slower torch or rnnbench does not. That works only as
far as the workload slows down with the machine exactly as a training step does. This script measures
that for several candidate workloads (none of them runs torch): it builds the smoke suite's six training
steps (hello: H=8 L=2; adding: H=32 T=10 B=16; RNN, LSTM and GRU), then, under several load conditions
made on purpose (nothing else; busy pure-Python processes; a memory-bandwidth hog; a torch process
training beside it), times the steps and every candidate together with `bench.timing.time_paired`, as
a run does. For each candidate it prints how much each step's median over the candidate's median moves
between conditions (max/min over conditions, median and worst over the steps): 1.00 would be a perfect
machine reference; the seconds themselves (no normalisation) are shown as the first line.

Conditions repeat in a shuffled order (`--repeats`), so slow drift of the host does not line up with one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from bench.timing import MACHINE_WORKLOAD, TimingPlan, machine_workload, time_paired

HOGS = {
    "idle": [],
    "1 python hog": ["while True: pass"],
    "2 python hogs": ["while True: pass", "while True: pass"],
    "memory hog": ["import numpy as np\na = np.ones(2**24)\nwhile True: b = a.copy(); a += 1e-9"],
    "torch hog": ["import torch\ntorch.set_num_threads(1)\nm = torch.nn.LSTM(256, 256)\nx = torch.randn(50, 16, 256)\n"
                  "while True: m(x)[0].sum().backward()"],
}  # fmt: skip


def numpy_rnn(hidden: int = 32, seq_len: int = 10, batch: int = 16) -> Callable[[], object]:
    """A plain RNN's forward and backward through time in numpy (float32): the shape of the work a training
    step does (a Python loop over time steps issuing small dense ops and allocating their results)."""
    gen = np.random.default_rng(0)
    w = gen.standard_normal((hidden, hidden)).astype(np.float32) * 0.1
    u = gen.standard_normal((hidden, hidden)).astype(np.float32) * 0.1
    xs = gen.standard_normal((seq_len, batch, hidden)).astype(np.float32)

    def work() -> float:
        h, hs = np.zeros((batch, hidden), np.float32), []
        for x in xs:
            h = np.tanh(x @ u + h @ w)
            hs.append(h)
        grad, gw = np.ones_like(h), np.zeros_like(w)
        for t in range(seq_len - 1, 0, -1):
            d = grad * (1 - hs[t] * hs[t])
            gw += hs[t - 1].T @ d
            grad = d @ w.T
        return float(gw[0, 0])

    return work


def python_mix() -> Callable[[], object]:
    """Interpreter-bound work over many code paths: dicts, lists, strings, json, re, sorting."""
    doc = {"a": list(range(50)), "b": {"c": "x" * 20, "d": [1.5] * 20}}
    pattern = re.compile(r"(\d+)-(\w+)")
    text = " ".join(f"{i}-w{i}" for i in range(100))

    def work() -> int:
        s = json.dumps(doc)
        back = json.loads(s)
        found = pattern.findall(text)
        keys = sorted((str(i * 7919 % 101), i) for i in range(200))
        total = sum(len(k) for k, _ in keys) + len(found) + len(back["a"])
        for i in range(300):
            total += {"i": i}.get("i", 0)
        return total

    return work


def small_numpy_ops(n: int = 150) -> Callable[[], object]:
    """Dispatch-bound work: many numpy calls on tiny arrays (per-call overhead, like eager torch at small sizes)."""
    x = np.ones(16, dtype=np.float32)

    def work() -> float:
        y = x
        for _ in range(n):
            y = np.tanh(y * 0.5 + 0.1)
        return float(y[0])

    return work


def mixed() -> Callable[[], object]:
    """numpy RNN + small numpy ops + the Python mix, one call each."""
    parts = (numpy_rnn(), small_numpy_ops(50), python_mix())

    def work() -> None:
        for part in parts:
            part()

    return work


CANDIDATES: dict[str, Callable[[], Callable[[], object]]] = {
    f"numpy 64x64 matmuls + Python loop ({MACHINE_WORKLOAD})": machine_workload,
    "numpy RNN fwd+bwd H=32 T=10 B=16": numpy_rnn,
    "Python mix (json, re, dicts, sorting)": python_mix,
    "small numpy ops (150 calls on 16 floats)": small_numpy_ops,
    "mixed (numpy RNN + small ops + Python mix)": mixed,
}


def smoke_steps() -> dict[str, Callable[[], None]]:
    from bench.benchmarks.overhead import build_steps
    from bench.trial import Trial

    hello = Trial(encoding="embedding", hidden=8, layers=2, clip=1.0)
    adding = Trial(task="adding", encoding="dense", hidden=32, layers=1, seq_len=10, batch=16, loss="mean", clip=1.0)
    steps = {}
    for name, trial in (("hello", hello), ("adding", adding)):
        steps.update({f"{name} {cell}": step for cell, step in build_steps(trial).items()})
    return steps


def measure(steps: dict, candidates: dict, condition: str, budget_s: float, rng: random.Random) -> dict[str, float]:
    """Medians (s) of every step and candidate, timed together under `condition`'s hog processes."""
    hogs = [subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})
            for code in HOGS[condition]]  # fmt: skip
    try:
        time.sleep(0.5 if hogs else 0.0)
        plan = TimingPlan(target_s=budget_s, warmup_rounds=2)
        samples = time_paired({**steps, **candidates}, plan, rng).samples
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="times each condition is measured (default 3)")
    p.add_argument("--budget", type=float, default=0.3, help="seconds of timing per member per measurement (0.3)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    steps = smoke_steps()
    candidates = {name: make() for name, make in CANDIDATES.items()}
    rng = random.Random(0)
    order = [c for c in HOGS for _ in range(args.repeats)]
    rng.shuffle(order)
    print(f"torch {torch.__version__}, 1 torch thread, {os.cpu_count()} CPUs; conditions in this order: "
          f"{', '.join(order)}", flush=True)  # fmt: skip
    medians: dict[str, list[dict[str, float]]] = {c: [] for c in HOGS}
    for condition in order:
        medians[condition].append(measure(steps, candidates, condition, args.budget, rng))
    per = {c: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for c, ms in medians.items()}
    print("\nmedian ms per call under each condition (median over its repeats):")
    names = list(steps) + list(candidates)
    print(f"{'':44s} " + " ".join(f"{c:>14s}" for c in HOGS))
    for k in names:
        print(f"{k[:44]:44s} " + " ".join(f"{per[c][k] * 1e3:14.3f}" for c in HOGS))
    print("\nhow far step / reference moves between conditions (max/min over conditions; 1.00 = tracks perfectly):")
    print(f"{'reference':44s} {'median step':>11s} {'worst step':>10s}")
    for name in [None, *candidates]:
        moves = []
        for k in steps:
            values = [per[c][k] / (per[c][name] if name else 1.0) for c in HOGS]
            moves.append(max(values) / min(values))
        print(f"{(name or 'none (seconds)')[:44]:44s} {statistics.median(moves):11.3f} {max(moves):10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
