import itertools

import pytest

from bench import timing
from bench.timing import TimingPlan, plan_rounds, time_step, with_slowdown


def test_plan_rounds_fills_the_budget_within_bounds():
    plan = TimingPlan(target_s=0.1, min_rounds=15, max_rounds=2000)
    assert plan_rounds(0.001, plan) == 100
    assert plan_rounds(1.0, plan) == 15
    assert plan_rounds(1e-9, plan) == 2000


def test_with_slowdown_busy_waits_in_proportion_to_the_step(monkeypatch):
    clock = itertools.count(0.0, 0.001)  # a fake perf_counter: every reading advances 1 ms
    now = {"t": 0.0}

    def fake():
        now["t"] = next(clock)
        return now["t"]

    monkeypatch.setattr(timing.time, "perf_counter", fake)

    def step():
        for _ in range(99):  # 100 clock readings ~ 0.1 s of fake step time
            fake()

    start = fake()
    with_slowdown(step, 0.5)()
    assert now["t"] - start == pytest.approx(0.15, abs=0.003)
    assert with_slowdown(step, 0.0) is step


def test_reference_is_interleaved_round_by_round():
    calls = []
    plan = TimingPlan(target_s=1e-6, min_rounds=7, max_rounds=7, warmup_rounds=3)
    record = time_step(lambda: calls.append("s"), "x", "suite::x", plan, reference=lambda: calls.append("r"))
    assert record["stats"]["rounds"] == 7 and len(record["stats"]["data"]) == 7
    assert len(record["extra_info"]["reference_data"]) == 7  # warm-up rounds dropped
    timed = calls[2:]  # after the two calibration calls
    assert timed == ["r", "s"] * 10  # 3 warm-up + 7 timed rounds, each preceded by its reference


def test_without_reference_no_extra_info():
    record = time_step(lambda: None, "x", "suite::x", TimingPlan(target_s=1e-6, min_rounds=3, max_rounds=3))
    assert record["extra_info"] == {} and record["stats"]["rounds"] == 3
