"""Paired timing: the training steps of one timing group, timed round-robin in one window.

A timing group is the set of trials of one configuration that differ only in `cell`, plus the
reference cell's step (the RNN unless the suite names another) and a fixed machine workload.
Every round times each member's step once, in an order shuffled afresh each round, so every
member's samples share whatever the machine was doing: the ratio of a member's round to the
reference's round in the same round cancels drift (seconds to minutes on a shared VM) that a
ratio of medians timed minutes apart does not. Samples are raw seconds per step; statistics
are derived from them in `bench.stats`. This module imports neither torch nor pandas.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

MACHINE = "__machine__"  # the member key of the machine reference workload


@dataclass(frozen=True)
class TimingPlan:
    target_s: float = 0.3  # timed seconds per member, on average, after warm-up
    min_rounds: int = 15
    max_rounds: int = 2000
    warmup_rounds: int = 5
    block_s: float = 0.01  # shortest block of consecutive calls of one member per round (0: one call)


@dataclass(frozen=True)
class Paired:
    """`time_paired`'s result: per member, its per-round seconds per call (index i of every member is
    round i) and how many consecutive calls each of its rounds timed."""

    samples: dict[str, tuple[float, ...]]
    iterations: dict[str, int]


def with_slowdown(step: Callable[[], object], factor: float) -> Callable[[], object]:
    """Make `step` (1 + factor) times slower with a busy wait proportional to its own time."""
    if factor <= 0:
        return step

    def slowed() -> object:
        start = time.perf_counter()
        out = step()
        end = time.perf_counter()
        until = end + factor * (end - start)
        while time.perf_counter() < until:
            pass
        return out

    return slowed


def plan_rounds(step_estimates_s: list[float], plan: TimingPlan) -> int:
    """Rounds so that each member is timed for about `plan.target_s` seconds on average."""
    mean = sum(step_estimates_s) / max(len(step_estimates_s), 1)
    rounds = math.ceil(plan.target_s / max(mean, 1e-7))
    return max(plan.min_rounds, min(plan.max_rounds, rounds))


def plan_blocks(step_estimates_s: list[float], plan: TimingPlan) -> tuple[list[int], int]:
    """Calls per round of each member (enough in a row to fill `plan.block_s`), and the number of rounds
    (`plan_rounds` over the blocks). A budget smaller than `plan.min_rounds` blocks is stretched to that:
    the rounds are what pairs the members, the blocks what keeps a short step's time honest."""
    calls = [max(1, math.ceil(plan.block_s / max(est, 1e-7))) if plan.block_s > 0 else 1 for est in step_estimates_s]
    rounds = plan_rounds([n * est for n, est in zip(calls, step_estimates_s, strict=True)], plan)
    return calls, rounds


def time_paired(steps: dict[str, Callable[[], object]], plan: TimingPlan, rng: random.Random) -> Paired:
    """Time a block of every step of `steps` once per round, in a freshly shuffled order each round.

    Two calibration calls per step (they also absorb lazy initialisation) size the blocks and rounds
    (`plan_blocks`); `plan.warmup_rounds` untimed rounds of one call per member follow; the garbage
    collector is paused while timing, as `timeit` does.
    """
    names = list(steps)
    estimates = []
    for name in names:
        start = time.perf_counter()
        for _ in range(2):
            steps[name]()
        estimates.append((time.perf_counter() - start) / 2)
    calls, rounds = plan_blocks(estimates, plan)
    block = dict(zip(names, calls, strict=True))
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(plan.warmup_rounds + rounds):
            order = names[:]
            rng.shuffle(order)
            for name in order:
                step, n = steps[name], block[name] if r >= plan.warmup_rounds else 1
                start = time.perf_counter()
                for _ in range(n):
                    step()
                elapsed = time.perf_counter() - start
                if r >= plan.warmup_rounds:
                    samples[name].append(elapsed / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Paired({name: tuple(s) for name, s in samples.items()}, block)


MACHINE_WORKLOAD = "numpy-rnn/1"  # recorded with every run's machine rounds; the gate compares only equal ones


def machine_workload(hidden: int = 32, seq_len: int = 10, batch: int = 16) -> Callable[[], object]:
    """The fixed machine reference: a plain RNN's forward and backward through time in numpy (float32,
    H=32, T=10, B=16; about 0.1-0.3 ms). It has the shape of the work a training step does (a Python loop
    over time steps issuing small dense ops and allocating their results) but runs neither torch nor
    rnnbench, so a torch upgrade or a slower training step leaves it unchanged. Of the candidates
    `make machine-reference` compares under deliberate load, it moved least against the training steps."""
    import numpy as np

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


def benchmark_record(
    samples: tuple[float, ...], name: str, fullname: str, plan: TimingPlan, iterations: int = 1
) -> dict:
    """pytest-benchmark's record of one benchmark (stats plus the raw `data`: seconds per call of each
    round, each round timing `iterations` consecutive calls), for benchmark.json."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for s in samples:
        stats.update(s)
    doc = stats.as_dict()
    doc["data"] = list(samples)
    doc["iterations"] = iterations
    options = {"disable_gc": True, "timer": "perf_counter", "min_rounds": plan.min_rounds,
               "max_time": plan.target_s, "min_time": 0.0, "precision": None, "confidence": None,
               "warmup": plan.warmup_rounds > 0}  # fmt: skip
    return {"group": None, "name": name, "fullname": fullname, "params": None, "param": None, "extra_info": {},
            "options": options, "stats": doc}  # fmt: skip
