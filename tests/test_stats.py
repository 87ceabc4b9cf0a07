"""Paired-ratio statistics pinned on fixed samples."""

import math

import numpy as np
import pytest

from bench import stats


def test_summary_of_fixed_samples():
    s = stats.summary([0.004, 0.001, 0.003, 0.002, 0.005])
    assert s == {"median": 0.003, "iqr": pytest.approx(0.002), "q25": 0.002, "q75": 0.004, "min": 0.001,
                 "mean": pytest.approx(0.003), "rounds": 5}  # fmt: skip
    assert stats.summary([])["rounds"] == 0 and math.isnan(stats.summary([])["median"])


def test_paired_ratios_divide_round_by_round():
    # A drift that doubles every step time half-way cancels in the paired ratio, not in a ratio of medians.
    reference = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    samples = [3.0, 3.0, 3.0, 6.0, 6.0, 6.0]
    assert list(stats.paired_ratios(samples, reference)) == [3.0] * 6
    assert stats.paired_ratio(samples, reference) == (3.0, 3.0, 3.0)
    assert len(stats.paired_ratios(samples, reference[:5])) == 0  # unpaired
    assert all(math.isnan(v) for v in stats.paired_ratio([1.0], []))


def test_median_interval_is_the_order_statistic_interval():
    assert stats.median_interval(range(1, 16)) == (4.0, 12.0)  # n=15: x(4), x(12), coverage 96.5%
    assert stats.median_interval(range(1, 101)) == (40.0, 61.0)  # n=100: x(40), x(61)
    assert stats.median_interval([5.0, 1.0, 3.0]) == (1.0, 5.0)  # too few for 95%: the range


def test_pooled_ratio_over_seeds_holds_the_seed_to_seed_spread():
    rng = np.random.default_rng(0)
    per_seed = [2.0 * (1 + 0.01 * rng.standard_normal(40)) for _ in range(3)]
    point, lo, hi = stats.pooled_ratio(per_seed)
    assert lo < point < hi and hi / lo < 1.02 and point == pytest.approx(2.0, rel=0.01)
    shifted = [per_seed[0], per_seed[1] * 1.1, per_seed[2] * 1.2]  # seeds that disagree widen the interval
    _, lo2, hi2 = stats.pooled_ratio(shifted)
    assert hi2 / lo2 > 1.1
    assert stats.pooled_ratio([per_seed[0]])[1:] == stats.median_interval(per_seed[0])


def test_spread_is_max_over_min():
    assert stats.spread([1.0, 1.5, 1.2]) == 1.5
    assert math.isnan(stats.spread([1.0]))
