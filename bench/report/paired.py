"""Per configuration: each cell's paired cost ratio with its interval, absolute time with its spread, and the
run's noise floor. Pure functions on the report's tables; they never draw.

A configuration is every axis but `cell` and `seed` (on one device). Its seeds are repeats that the
shuffled sweep timed at different moments, so their spread is this run's noise floor for the very
same computation. The ratio of a configuration pools the per-round paired ratios of its seeds
(`bench.stats.pooled_ratio`: a two-level bootstrap over seeds, then rounds). Absolute times cannot
be paired: they are given as the median over seeds, with an interval spanning the seeds' medians
widened on each side by the machine's own drift during the run (p90/p10 of the machine workload timed in
every round), so that it is where another run's median can land.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench import stats
from bench.analysis import SIBLING_KEYS
from bench.report.runs import timed

CONFIG_KEYS = ["device_label"] + [k for k in SIBLING_KEYS if k not in ("seed", "device")]
TABLE_COLUMNS = (
    "device_label", "cell", "config", "seeds", "ratio", "ratio_lo", "ratio_hi", "seed_spread", "time_s",
    "time_lo_s", "time_hi_s", "reference_time_s", "overlaps_1x",
)  # fmt: skip
UNSTEADY_DRIFT = 1.15  # machine speed varying by more than this within a run: absolute times are not comparable


def machine_drift(trials: pd.DataFrame) -> float:
    """How much the machine's speed varied over a run: p90 / p10 of the machine workload's median per
    timing group (1.0 = steady). NaN where no machine workload was timed."""
    values = pd.to_numeric(trials.get("machine_median_s", pd.Series(dtype=float)), errors="coerce")
    per_group = values.groupby(trials.get("group_id", pd.Series(index=trials.index, dtype=str))).median().dropna()
    per_group = per_group[per_group > 0]
    if len(per_group) < 3:
        return math.nan
    p10, p90 = np.percentile(per_group, [10, 90])
    return float(p90 / p10)


def config_label(row: pd.Series, varying: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in varying) or "the only configuration"


def config_table(trials: pd.DataFrame, paired: dict[tuple[str, str], np.ndarray], reference: bool = False
                 ) -> pd.DataFrame:  # fmt: skip
    """One row per configuration and cell other than the reference (with `reference`, its rows too, for their
    absolute times); `paired` holds each trial's per-round ratios by (run, trial_id). See the module doc."""
    t = timed(trials)
    if "reference_cell" not in t:
        t = t.iloc[0:0]
    elif not reference:
        t = t[t["reference_cell"].astype(str) != t["cell"].astype(str)]
    if t.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    keys = [k for k in CONFIG_KEYS if k in t.columns]
    varying = {task: [k for k in keys if k not in ("device_label", "task") and part[k].nunique(dropna=False) > 1]
               for task, part in t.groupby("task")}  # fmt: skip
    drift = {run: machine_drift(trials[trials["run"] == run]) for run in trials["run"].unique()}
    rows = []
    for (_, cell), group in _groups(t, keys):
        rounds = [paired.get((r, i), np.array([])) for r, i in zip(group["run"], group["trial_id"], strict=True)]
        ratio, lo, hi = stats.pooled_ratio(rounds)
        medians = pd.to_numeric(group["time_per_step_median_s"], errors="coerce").dropna()
        widen = max((drift.get(r, math.nan) for r in group["run"]), default=math.nan)
        # The whole p90/p10 range on each side: another run (another draw of the machine's state) can land
        # that far away; half of it on each side held the other run's median for only 77-82% of the
        # configurations of two steady runs (x1.02, x1.04) on 2026-12-07, the whole range for 91-98%.
        widen = widen if widen == widen else 1.0
        rows.append({
            "device_label": group["device_label"].iloc[0], "cell": cell,
            "config": config_label(group.iloc[0], ["task"] + varying[group["task"].iloc[0]]),
            "seeds": len(group), "ratio": ratio, "ratio_lo": lo, "ratio_hi": hi,
            "seed_spread": stats.spread(pd.to_numeric(group["paired_ratio"], errors="coerce")),
            "time_s": float(medians.median()) if len(medians) else math.nan,
            "time_lo_s": float(medians.min()) / widen if len(medians) else math.nan,
            "time_hi_s": float(medians.max()) * widen if len(medians) else math.nan,
            "reference_time_s": float(pd.to_numeric(group["reference_median_s"], errors="coerce").median()),
            "overlaps_1x": bool(lo <= 1.0 <= hi) if lo == lo else False,
            **{k: group[k].iloc[0] for k in keys if k != "device_label"},
        })  # fmt: skip
    return pd.DataFrame(rows)


def _groups(t: pd.DataFrame, keys: list[str]):
    for key, group in t.groupby([*keys, "cell"], sort=True, dropna=False):
        yield (key[:-1], key[-1]), group


def noise_floor(table: pd.DataFrame) -> tuple[float, float, int]:
    """Median and p90, over configurations with two seeds or more, of the max/min spread of the paired ratio
    across seeds (identical computations timed at different moments), and how many configurations."""
    spreads = pd.to_numeric(table.get("seed_spread", pd.Series(dtype=float)), errors="coerce").dropna()
    if spreads.empty:
        return math.nan, math.nan, 0
    return float(spreads.median()), float(np.percentile(spreads, 90)), len(spreads)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per device and cell, over configurations of different sizes: median, min and max of their ratios.
    A summary over sizes, not a measurement interval (each configuration has its own, in `table`)."""
    if table.empty:
        return pd.DataFrame(columns=["device_label", "cell", "configs", "median", "min", "max"])
    grouped = table.groupby(["device_label", "cell"], sort=False)["ratio"]
    out = grouped.agg(configs="count", median="median", min="min", max="max").reset_index()
    return out[out["configs"] > 0]
