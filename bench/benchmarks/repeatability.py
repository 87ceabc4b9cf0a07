"""`make repeatability`: does the same code give the same answer twice?

Runs a suite twice through the real CLI (`python -m bench run SUITE --out DIR1`, then DIR2), or reads two
finished runs (--runs DIR1 DIR2), and compares them configuration by configuration (a configuration: the
trials that differ only in seed, per cell). For each it takes the median over seeds of the paired ratio
to the RNN (trials.csv `paired_ratio`, what the report plots) and of the absolute time per step, and
prints the change between the runs, with the median and p90 over configurations, against issue 11's
criteria: within a run, a configuration's seed spread of the ratio (max/min) has median <= 1.05 and
p90 <= 1.15; between runs the ratio changes by median <= 3%, p90 <= 8%; for >= 90% of configurations
the interval run 1's report gives for the time per step contains run 2's median. It also prints how training's wall time
per step changed, trial by trial (run 2 / run 1, over trials that trained the same steps in both): with
`--train-processes 1` in one run and the default in the other, what training side by side costs.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.report.runs import Results, load_results
from bench.stats import spread
from bench.trial import AXES

CONFIG_AXES = tuple(a for a in AXES if a != "seed")  # cell included: one configuration per cell
TIMED = ("ok", "not_converged")
CRITERIA = {"seed_spread_median": 1.05, "seed_spread_p90": 1.15, "ratio_change_median": 0.03,
            "ratio_change_p90": 0.08, "time_contained_min": 0.90}  # fmt: skip


@dataclass(frozen=True)
class Repeatability:
    configs: pd.DataFrame  # one row per configuration present in both runs
    summary: dict[str, float]  # the criteria's statistics, keyed as CRITERIA


def per_config(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration of one run: medians over seeds of the paired ratio (NaN for the reference
    cell, whose ratio is 1 by construction) and of the time per step, and the seed spread (max/min) of the
    paired ratio."""
    timed = _timed(trials)
    grouped = timed.groupby(list(CONFIG_AXES), dropna=False, sort=True)
    out = grouped.agg(ratio=("paired_ratio", "median"), time=("time_per_step_median_s", "median"),
                      seeds=("seed", "nunique"))  # fmt: skip
    out["seed_spread"] = grouped["paired_ratio"].agg(lambda r: spread(list(r.dropna())))
    return out.reset_index()


def trial_intervals(trials: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, the medians over seeds of each trial's interval ends (columns time_lo_s, time_hi_s
    of a trials table that has them): the interval `repeatability` uses where it is given no other."""
    grouped = _timed(trials).groupby(list(CONFIG_AXES), dropna=False, sort=True)
    return grouped.agg(time_lo_s=("time_lo_s", "median"), time_hi_s=("time_hi_s", "median")).reset_index()


def _timed(trials: pd.DataFrame) -> pd.DataFrame:
    timed = trials[trials["status"].isin(TIMED)].copy()
    timed.loc[timed["cell"] == timed["reference_cell"], "paired_ratio"] = np.nan
    return timed


def _p(values: pd.Series, q: float) -> float:
    x = values.dropna()
    return float(np.percentile(x, q)) if len(x) else float("nan")


def repeatability(first: pd.DataFrame, second: pd.DataFrame, intervals: pd.DataFrame | None = None) -> Repeatability:
    """Compare two runs' trials tables. Changes are relative: |run 2 / run 1 - 1|. `intervals` (CONFIG_AXES
    plus time_lo_s, time_hi_s) is run 1's interval of each configuration's time per step: `report_intervals`
    gives the one the report shows; by default `trial_intervals(first)`."""
    if intervals is None:
        intervals = trial_intervals(first)
    run_1 = intervals.rename(columns={"time_lo_s": "time_lo_1", "time_hi_s": "time_hi_1"})
    both = per_config(first).merge(per_config(second), on=list(CONFIG_AXES), suffixes=("_1", "_2"))
    both = both.merge(run_1, on=list(CONFIG_AXES), how="left")
    both["ratio_change"] = (both["ratio_2"] / both["ratio_1"] - 1).abs()
    both["time_change"] = (both["time_2"] / both["time_1"] - 1).abs()
    both["time_contained"] = (both["time_lo_1"] <= both["time_2"]) & (both["time_2"] <= both["time_hi_1"])
    spreads = pd.concat([both["seed_spread_1"], both["seed_spread_2"]])
    summary = {
        "configs": float(len(both)),
        "seed_spread_median": _p(spreads, 50),
        "seed_spread_p90": _p(spreads, 90),
        # Each run on its own (printed; the criteria above pool both runs' spreads).
        **{
            f"seed_spread_{q}_{i}": _p(both[f"seed_spread_{i}"], pct)
            for i in (1, 2)
            for q, pct in (("median", 50), ("p90", 90))
        },
        "ratio_change_median": _p(both["ratio_change"], 50),
        "ratio_change_p90": _p(both["ratio_change"], 90),
        "time_change_median": _p(both["time_change"], 50),
        "time_change_p90": _p(both["time_change"], 90),
        "time_contained_min": float(both["time_contained"].mean()) if len(both) else float("nan"),
    }
    train = train_step_ratios(first, second)
    summary.update({f"train_step_ratio_{name}": _p(train, q) for name, q in (("p10", 10), ("median", 50),
                                                                              ("p90", 90))})  # fmt: skip
    return Repeatability(both, summary)


def train_step_ratios(first: pd.DataFrame, second: pd.DataFrame) -> pd.Series:
    """Per trial that trained the same number of steps in both runs: run 2's training wall time per step
    over run 1's (trials.csv `train_time_s` / `steps_run`)."""
    columns = ["trial_id", "train_time_s", "steps_run"]
    if not all(c in t for t in (first, second) for c in columns):
        return pd.Series(dtype=float)
    both = first[columns].merge(second[columns], on="trial_id", suffixes=("_1", "_2"))
    both = both[(both["steps_run_1"] > 0) & (both["steps_run_1"] == both["steps_run_2"])]
    return both["train_time_s_2"] / both["train_time_s_1"]


def verdicts(summary: dict[str, float]) -> dict[str, bool]:
    """Each criterion: met (True) or not; a NaN statistic (e.g. one seed only) is not met."""
    out = {}
    for key, bound in CRITERIA.items():
        value = summary[key]
        out[key] = value >= bound if key == "time_contained_min" else value <= bound
    return out


def report_intervals(results: Results) -> pd.DataFrame:
    """The interval the report gives for each configuration's time per step (`bench.report.paired`: the
    seeds' medians, widened by the machine's drift during the run)."""
    from bench.report.paired import config_table

    table = config_table(results.trials, results.paired, reference=True)
    table["device"] = table["device_label"].astype(str).str.split(" ").str[0]
    return table[[*CONFIG_AXES, "time_lo_s", "time_hi_s"]]


def run_suite(suite: str, out: Path, extra: list[str]) -> int:
    command = [sys.executable, "-m", "bench", "run", suite, "--out", str(out), "--no-progress", *extra]
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command).returncode


def print_result(result: Repeatability) -> None:
    both = result.configs
    varying = [a for a in CONFIG_AXES if a != "cell" and both[a].nunique() > 1]
    pd.set_option("display.width", 220)
    shown = both[[*varying, "cell", "seeds_1", "ratio_1", "ratio_2", "ratio_change", "seed_spread_1", "seed_spread_2",
                  "time_1", "time_2", "time_change", "time_contained"]]  # fmt: skip
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    met = verdicts(result.summary)
    for key, value in result.summary.items():
        bound = CRITERIA.get(key)
        verdict = "" if bound is None else f"  ({'>=' if key == 'time_contained_min' else '<='} {bound:g}: "
        verdict += "" if bound is None else ("met)" if met[key] else "NOT met)")
        print(f"{key:22s} {value:.4g}{verdict}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", nargs="?", default="suites/smoke.toml", help="suite to run twice (default smoke)")
    p.add_argument("--runs", nargs=2, type=Path, metavar=("DIR1", "DIR2"), help="analyse two finished runs")
    p.add_argument("--out", type=Path, default=None, help="folder for run1/ and run2/ (default results/repeatability/"
                   "<UTC time>)")  # fmt: skip
    args, extra = p.parse_known_args(argv)
    if args.runs:
        dirs = args.runs
    else:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        base = args.out or Path("results") / "repeatability" / stamp
        dirs = [base / "run1", base / "run2"]
        for d in dirs:
            if run_suite(args.suite, d, extra) not in (0, 1):  # 1: some trials failed; still comparable
                print(f"error: the run into {d} did not finish", file=sys.stderr)
                return 2
    try:
        first, second = (load_results([d]) for d in dirs)
        result = repeatability(first.trials, second.trials, report_intervals(first))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"run 1: {dirs[0]}\nrun 2: {dirs[1]}")
    print_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
