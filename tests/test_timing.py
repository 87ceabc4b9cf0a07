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
    plan = TimingPlan(target_s=1e-6, min_rounds=7, max_rounds=7, warmup_rounds=3, rewarm_below_s=0)
    steps = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    paired = time_paired(steps, plan, random.Random(0))
    samples = paired.samples
    assert paired.rewarmed == {"a": False, "b": False, "c": False}
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
        plan = TimingPlan(target_s=1e-6, min_rounds=5, max_rounds=5, warmup_rounds=0, rewarm_below_s=0)
        time_paired(steps, plan, random.Random(seed))
        return calls

    assert order(1) == order(1) and order(1) != order(2)


def test_plan_rounds_uses_the_mean_member():
    plan = TimingPlan(target_s=0.1, min_rounds=15, max_rounds=2000)
    assert plan_rounds([0.001, 0.003], plan) == 50


def test_benchmark_record_is_pytest_benchmark_s_format():
    record = benchmark_record((0.003, 0.001, 0.002), "x", "suite::x", TimingPlan())
    assert record["stats"]["iterations"] == 1
    assert record["stats"]["data"] == [0.003, 0.001, 0.002]
    assert record["stats"]["median"] == 0.002 and record["stats"]["rounds"] == 3 and record["stats"]["min"] == 0.001
    assert record["name"] == "x" and record["fullname"] == "suite::x"


def test_a_short_step_gets_an_untimed_call_right_before_each_timed_one(monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now["t"])
    calls = []

    def step(name, cost):
        def run():
            calls.append(name)
            now["t"] += cost

        return run

    plan = TimingPlan(target_s=0.3, min_rounds=15, max_rounds=15, warmup_rounds=1, rewarm_below_s=0.02)
    paired = time_paired({"short": step("short", 0.002), "long": step("long", 0.05)}, plan, random.Random(0))
    assert paired.rewarmed == {"short": True, "long": False}
    assert paired.samples["short"] == pytest.approx((0.002,) * 15)  # one call timed, not the untimed one
    assert paired.samples["long"] == pytest.approx((0.05,) * 15)
    rounds = calls[4:]  # after the calibration calls: 16 rounds (one warm-up) of short, short, long in some order
    assert len(rounds) == 16 * 3 and rounds.count("short") == 32
    runs = [len(list(g)) for name, g in itertools.groupby(rounds) if name == "short"]
    assert set(runs) <= {2, 4} and sum(runs) == 32  # the untimed call and the timed one back to back
