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
    merged = out.drop(columns=[c for c in out.columns if c.endswith("_vs_rnn")]).merge(base, on=keys, how="left")
    merged["time_ratio_vs_rnn"] = _ratio(merged["time_per_step_median_s"], merged["_rnn_time"])
    merged["params_ratio_vs_rnn"] = _ratio(merged["params"], merged["_rnn_params"])
    merged["convergence_ratio_vs_rnn"] = _ratio(merged["convergence_epoch"], merged["_rnn_conv"])
    merged.index = out.index
    return merged.drop(columns=["_rnn_time", "_rnn_params", "_rnn_conv"])


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype(float)
    den = pd.to_numeric(den, errors="coerce").astype(float)
    return (num / den).where(den > 0, np.nan)
