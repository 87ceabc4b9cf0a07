"""Paired timing: the training steps of one timing group, timed round-robin in one window.

A timing group is the set of trials of one configuration that differ only in `cell`, plus the
reference cell's step (the RNN unless the suite names another) and a fixed machine workload.
Every round times each member's step once, in an order shuffled afresh each round, so every
member's samples share whatever the machine was doing: the ratio of a member's round to the
reference's round in the same round cancels drift (seconds to minutes on a shared VM) that a
ratio of medians timed minutes apart does not. A step shorter than `TimingPlan.rewarm_below_s` is
called once, untimed, right before each timed call, so it does not pay for the switch from another
model (`python -m bench.benchmarks.round_design` measures why). Samples are raw seconds per step; statistics
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
    rewarm_below_s: float = 0.02  # a shorter step gets one untimed call right before each timed one (0: never)


@dataclass(frozen=True)
class Paired:
    """`time_paired`'s result: per member, its per-round seconds (index i of every member is round i) and
    whether each timed call followed an untimed call of the same step."""

    samples: dict[str, tuple[float, ...]]
    rewarmed: dict[str, bool]


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


def time_paired(steps: dict[str, Callable[[], object]], plan: TimingPlan, rng: random.Random) -> Paired:
    """Time every step of `steps` once per round, in a freshly shuffled order each round.

    Two calibration calls per step (they also absorb lazy initialisation) size the rounds (`plan_rounds`)
    and pick the short steps that are re-warmed: called once, untimed, right before each timed call.
    `plan.warmup_rounds` untimed rounds follow; the garbage collector is paused while timing, as `timeit`
    does.
    """
    names = list(steps)
    estimates = []
    for name in names:
        start = time.perf_counter()
        for _ in range(2):
            steps[name]()
        estimates.append((time.perf_counter() - start) / 2)
    rounds = plan_rounds(estimates, plan)
    rewarm = {name: est < plan.rewarm_below_s for name, est in zip(names, estimates, strict=True)}
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(plan.warmup_rounds + rounds):
            order = names[:]
            rng.shuffle(order)
            for name in order:
                step = steps[name]
                if rewarm[name]:
                    step()
                start = time.perf_counter()
                step()
                elapsed = time.perf_counter() - start
                if r >= plan.warmup_rounds:
                    samples[name].append(elapsed)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Paired({name: tuple(s) for name, s in samples.items()}, rewarm)


MACHINE_WORKLOAD = "numpy-matmul/0"  # recorded with every run's machine rounds; the gate compares only equal ones


def machine_workload(size: int = 64, repeats: int = 4) -> Callable[[], object]:
    """The fixed machine reference: small float64 numpy matmuls plus a pure-Python loop, about 0.3-0.6 ms.
    Neither torch nor rnnbench runs in it, so a torch upgrade or a slower training step leaves it unchanged.
    `make machine-reference` compares it with other torch-free candidates under deliberate load; none
    tracked the training steps consistently better (see the README), so it stays what older runs timed."""
    import numpy as np

    gen = np.random.default_rng(0)
    a = gen.standard_normal((size, size))
    b = gen.standard_normal((size, size))

    def work() -> float:
        c = a
        for _ in range(repeats):
            c = np.tanh(c @ b * 0.01)
        total = 0
        for i in range(2000):
            total += i * i
        return float(c[0, 0]) + total

    return work


def benchmark_record(samples: tuple[float, ...], name: str, fullname: str, plan: TimingPlan) -> dict:
    """pytest-benchmark's record of one benchmark (stats plus the raw `data`), for benchmark.json."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for s in samples:
        stats.update(s)
    doc = stats.as_dict()
    doc["data"] = list(samples)
    doc["iterations"] = 1
    options = {"disable_gc": True, "timer": "perf_counter", "min_rounds": plan.min_rounds,
               "max_time": plan.target_s, "min_time": 0.0, "precision": None, "confidence": None,
               "warmup": plan.warmup_rounds > 0}  # fmt: skip
    return {"group": None, "name": name, "fullname": fullname, "params": None, "param": None, "extra_info": {},
            "options": options, "stats": doc}  # fmt: skip
