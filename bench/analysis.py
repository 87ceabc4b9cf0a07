"""Derived columns on results tables (pandas only, no torch): LSTM/GRU cost relative to RNN."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.trial import AXES

# A trial's RNN sibling has the same value on every axis but `cell`.
SIBLING_KEYS = [a for a in AXES if a != "cell"]


def with_sibling_ratios(trials: pd.DataFrame) -> pd.DataFrame:
    """Add time/params/convergence ratios vs the RNN sibling; NaN where it did not run or converge."""
    out = trials.copy()
    keys = [k for k in SIBLING_KEYS if k in out.columns]
    rnn = out[out["cell"] == "rnn"]
    rnn = rnn[rnn["status"].isin(["ok", "not_converged"])].drop_duplicates(keys)
    base = rnn[keys + ["time_per_step_median_s", "params", "convergence_epoch"]].rename(
        columns={
            "time_per_step_median_s": "_rnn_time",
            "params": "_rnn_params",
            "convergence_epoch": "_rnn_conv",
        }
    )
    derived = ("time_ratio_vs_rnn", "params_ratio_vs_rnn", "convergence_ratio_vs_rnn", "launch_overhead_fraction")
    stale = [c for c in out.columns if c in derived]
    merged = out.drop(columns=stale).merge(base, on=keys, how="left")
    merged["time_ratio_vs_rnn"] = _ratio(merged["time_per_step_median_s"], merged["_rnn_time"])
    merged["params_ratio_vs_rnn"] = _ratio(merged["params"], merged["_rnn_params"])
    merged["convergence_ratio_vs_rnn"] = _ratio(merged["convergence_epoch"], merged["_rnn_conv"])
    merged.index = out.index
    merged = merged.drop(columns=["_rnn_time", "_rnn_params", "_rnn_conv"])
    merged["launch_overhead_fraction"] = launch_overhead_fraction(merged)
    return merged


def launch_overhead_fraction(trials: pd.DataFrame) -> pd.Series:
    """1 - graphed time / eager time, on both rows of every config that ran in both modes."""
    keys = [a for a in AXES if a != "mode" and a in trials.columns]
    timed = trials[trials["status"].isin(["ok", "not_converged"])]
    eager = timed[timed["mode"] == "eager"].drop_duplicates(keys).set_index(keys)["time_per_step_median_s"]
    graph = timed[timed["mode"] == "graph"].drop_duplicates(keys).set_index(keys)["time_per_step_median_s"]
    fraction = (1.0 - graph / eager).dropna()
    if fraction.empty:
        return pd.Series(np.nan, index=trials.index)
    index = pd.MultiIndex.from_frame(trials[keys]) if len(keys) > 1 else trials[keys[0]]
    return pd.Series(fraction.reindex(index).to_numpy(dtype=float), index=trials.index)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype(float)
    den = pd.to_numeric(den, errors="coerce").astype(float)
    return (num / den).where(den > 0, np.nan)
