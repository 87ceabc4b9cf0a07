"""Every timing statistic, derived on demand from raw per-round samples (numpy and scipy; no torch, no pandas).

Paired statistics divide a member's round i by the reference's round i, timed in the same round of
the same timing window (`bench.timing`); that ratio is what the report plots, `show` prints and the
gate tests. Intervals are distribution-free: the order-statistic interval of a median (from the
binomial distribution of how many samples fall below it), and a two-level bootstrap (seeds, then
rounds within a seed) where a configuration was timed under several seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95


def summary(samples: Sequence[float]) -> dict[str, float]:
    """median, iqr, q25, q75, min, mean (s) and rounds of raw samples; NaNs (and 0 rounds) when empty."""
    x = np.asarray(samples, dtype=float)
    if not len(x):
        nan = math.nan
        return {"median": nan, "iqr": nan, "q25": nan, "q75": nan, "min": nan, "mean": nan, "rounds": 0}
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    return {"median": float(median), "iqr": float(q75 - q25), "q25": float(q25), "q75": float(q75),
            "min": float(x.min()), "mean": float(x.mean()), "rounds": len(x)}  # fmt: skip


def paired_ratios(samples: Sequence[float], reference: Sequence[float]) -> np.ndarray:
    """Round-by-round ratios samples[i] / reference[i]; empty when the two are not paired (lengths differ)."""
    a, b = np.asarray(samples, dtype=float), np.asarray(reference, dtype=float)
    if not len(a) or len(a) != len(b) or not np.all(b > 0):
        return np.array([])
    return a / b


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free interval of the median: sorted samples x(k) and x(n-k+1), with k the largest
    order whose coverage 1 - 2 P(Binomial(n, 1/2) <= k-1) is still >= `confidence`; (min, max) when n is too
    small for any (below 6 samples at 95%)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan
    k = 1
    while k < n - k + 1 and 1 - 2 * scipy_stats.binom.cdf(k, n, 0.5) >= confidence:
        k += 1
    return float(x[k - 1]), float(x[n - k])


def paired_ratio(samples: Sequence[float], reference: Sequence[float]) -> tuple[float, float, float]:
    """Median per-round ratio with its order-statistic 95% interval; NaNs when unpaired."""
    r = paired_ratios(samples, reference)
    if not len(r):
        return math.nan, math.nan, math.nan
    lo, hi = median_interval(r)
    return float(np.median(r)), lo, hi


def pooled_ratio(per_seed: Sequence[np.ndarray], confidence: float = CONFIDENCE, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:  # fmt: skip
    """A configuration's ratio over its seeds: the median of the per-seed paired medians, with a two-level
    bootstrap interval (resample seeds, then rounds within each) that holds both sources of noise."""
    groups = [np.asarray(g, dtype=float) for g in per_seed if len(g)]
    if not groups:
        return math.nan, math.nan, math.nan
    point = float(np.median([np.median(g) for g in groups]))
    if len(groups) == 1:
        lo, hi = median_interval(groups[0], confidence)
        return point, lo, hi
    rng = np.random.default_rng(seed)
    # Row g holds `resamples` bootstrap medians of seed g's rounds; each draw then resamples the seeds.
    within = np.stack([np.median(rng.choice(g, (resamples, len(g))), axis=1) for g in groups])
    picked = rng.integers(0, len(groups), (resamples, len(groups)))
    draws = np.median(within[picked, np.arange(resamples)[:, None]], axis=1)
    lo, hi = np.percentile(draws, [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2])
    return point, float(lo), float(hi)


def spread(values: Sequence[float]) -> float:
    """max / min of positive values (1.0 = identical); NaN with fewer than two."""
    x = np.asarray([v for v in values if v == v and v > 0], dtype=float)
    return float(x.max() / x.min()) if len(x) >= 2 else math.nan
