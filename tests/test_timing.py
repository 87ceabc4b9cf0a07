import itertools
import random

import pytest

from bench import timing
from bench.timing import TimingPlan, benchmark_record, plan_rounds, time_paired, with_slowdown


def test_plan_rounds_fills_the_budget_within_bounds():
    plan = TimingPlan(target_s=0.1, min_rounds=15, max_rounds=2000)
    assert plan_rounds([0.001], plan) == 100
    assert plan_rounds([1.0], plan) == 15
    assert plan_rounds([1e-9], plan) == 2000


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


def test_members_are_timed_round_robin_in_a_shuffled_order():
    calls = []
    plan = TimingPlan(target_s=1e-6, min_rounds=7, max_rounds=7, warmup_rounds=3)
    steps = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    samples = time_paired(steps, plan, random.Random(0))
    assert {k: len(v) for k, v in samples.items()} == {"a": 7, "b": 7, "c": 7}  # warm-up rounds dropped
    assert all(s >= 0 for v in samples.values() for s in v)
    calibration, rounds = calls[:6], calls[6:]
    assert calibration == ["a", "a", "b", "b", "c", "c"]
    chunks = [rounds[i : i + 3] for i in range(0, len(rounds), 3)]
    assert len(chunks) == 10 and all(sorted(c) == ["a", "b", "c"] for c in chunks)  # each member once a round
    assert len({tuple(c) for c in chunks}) > 1  # the order changes from round to round


def test_the_shuffle_is_seeded():
    def order(seed):
        calls = []
        steps = {name: (lambda n=name: calls.append(n)) for name in "abcd"}
        time_paired(steps, TimingPlan(target_s=1e-6, min_rounds=5, max_rounds=5, warmup_rounds=0), random.Random(seed))
        return calls

    assert order(1) == order(1) and order(1) != order(2)


def test_plan_rounds_uses_the_mean_member():
    plan = TimingPlan(target_s=0.1, min_rounds=15, max_rounds=2000)
    assert plan_rounds([0.001, 0.003], plan) == 50


def test_benchmark_record_is_pytest_benchmark_s_format():
    record = benchmark_record((0.003, 0.001, 0.002), "x", "suite::x", TimingPlan())
    assert record["stats"]["data"] == [0.003, 0.001, 0.002]
    assert record["stats"]["median"] == 0.002 and record["stats"]["rounds"] == 3 and record["stats"]["min"] == 0.001
    assert record["name"] == "x" and record["fullname"] == "suite::x"
