"""Time one training step with pytest-benchmark's own machinery (pedantic mode).

The runner hands a zero-argument callable that performs one whole step (zero_grad,
forward, loss, backward, optimizer step, and a device synchronize on GPUs). Rounds are
chosen from a short calibration so each trial spends about `target_s` seconds timing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from pytest_benchmark.fixture import BenchmarkFixture
from pytest_benchmark.utils import NameWrapper


@dataclass(frozen=True)
class TimingPlan:
    target_s: float = 0.3  # timing budget per trial, after warm-up
    min_rounds: int = 15
    max_rounds: int = 2000
    warmup_rounds: int = 5


@dataclass(frozen=True)
class _Node:
    name: str
    nodeid: str


class _QuietLogger:
    def debug(self, *a, **k) -> None: ...
    def info(self, *a, **k) -> None: ...
    def warning(self, *a, **k) -> None: ...


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


def plan_rounds(step_estimate_s: float, plan: TimingPlan) -> int:
    rounds = math.ceil(plan.target_s / max(step_estimate_s, 1e-7))
    return max(plan.min_rounds, min(plan.max_rounds, rounds))


def time_step(
    step: Callable[[], object],
    name: str,
    fullname: str,
    plan: TimingPlan,
    reference: Callable[[], object] | None = None,
) -> dict:
    """Time `step` and return pytest-benchmark's benchmark record (stats plus raw `data` in s).

    With `reference`, a reference step runs, timed by perf_counter, in pytest-benchmark's untimed
    setup hook right before every round, so the two are interleaved round by round and share
    whatever the machine was doing; its samples land in extra_info["reference_data"].
    """
    start = time.perf_counter()
    for _ in range(2):
        step()  # calibration, also absorbs lazy initialisation
    estimate = (time.perf_counter() - start) / 2
    fixture = BenchmarkFixture(
        _Node(name, fullname),
        disable_gc=True,  # as timeit (and so blocked_autorange) does
        timer=NameWrapper(time.perf_counter),
        min_rounds=plan.min_rounds,
        min_time=0.0,
        max_time=plan.target_s,
        precision=None,
        confidence=None,
        warmup=False,
        warmup_iterations=0,
        calibration_precision=10,
        add_stats=lambda stats: None,
        logger=_QuietLogger(),
        warner=lambda *a, **k: None,
        disabled=False,
        cprofile=False,
        cprofile_loops=None,
        cprofile_dump=None,
        group=None,
    )
    reference_data: list[float] = []

    def time_reference() -> None:
        start = time.perf_counter()
        reference()
        reference_data.append(time.perf_counter() - start)

    rounds = plan_rounds(estimate, plan)
    setup = time_reference if reference is not None else None
    fixture.pedantic(step, setup=setup, rounds=rounds, warmup_rounds=plan.warmup_rounds, iterations=1)
    record = fixture.stats.as_dict(include_data=True)
    if reference is not None:
        record["extra_info"] = {"reference_data": reference_data[plan.warmup_rounds :]}  # drop warm-up rounds
    return record
