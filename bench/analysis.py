"""Derived columns on results tables (pandas only, no torch): LSTM/GRU cost relative to RNN."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.trial import AXES

# A trial's RNN sibling has the same value on every axis but `cell`.
SIBLING_KEYS = [a for a in AXES if a != "cell"]
TIMED = ("ok", "not_converged")  # statuses that have a training curve and timing samples
DERIVED = ("time_ratio_vs_rnn", "params_ratio_vs_rnn", "convergence_ratio_vs_rnn", "launch_overhead_fraction")


def rnn_siblings(trials: pd.DataFrame) -> dict[str, str]:
    """trial_id -> the trial_id of its timed RNN sibling in `trials` (an RNN trial maps to itself)."""
    table = trials.assign(trial_id=trials["trial_id"].astype(str))
    keys = [k for k in SIBLING_KEYS if k in table.columns]
    rnn = table[(table["cell"] == "rnn") & table["status"].isin(TIMED)].drop_duplicates(keys)
    merged = table[keys + ["trial_id"]].merge(
        rnn[keys + ["trial_id"]].rename(columns={"trial_id": "rnn_id"}), on=keys, how="left"
    )
    return {t: r for t, r in zip(merged["trial_id"], merged["rnn_id"], strict=True) if isinstance(r, str)}


def with_sibling_ratios(trials: pd.DataFrame) -> pd.DataFrame:
    """Add time/params/convergence ratios vs the RNN sibling; NaN where it did not run or converge.
    The time ratio is the paired one (`time_ratio_vs_rnn`), present even when the suite has no RNN trial."""
    out = trials.drop(columns=[c for c in trials.columns if c in DERIVED])
    ids = out["trial_id"].astype(str)
    by_id = out.assign(trial_id=ids).drop_duplicates("trial_id").set_index("trial_id")
    sibling = ids.map(rnn_siblings(out))

    def of_sibling(column: str) -> pd.Series:
        return sibling.map(by_id[column])

    out["time_ratio_vs_rnn"] = time_ratio_vs_rnn(out, of_sibling("time_per_step_median_s"))
    out["params_ratio_vs_rnn"] = _ratio(out["params"], of_sibling("params"))
    out["convergence_ratio_vs_rnn"] = _ratio(out["convergence_epoch"], of_sibling("convergence_epoch"))
    out["launch_overhead_fraction"] = launch_overhead_fraction(out)
    return out


def time_ratio_vs_rnn(trials: pd.DataFrame, rnn_median: pd.Series) -> pd.Series:
    """The paired ratio (median of per-round ratios to an RNN step timed in the same rounds) where the run
    timed one; else, for runs of older rnnbench versions, the ratio of the two trials' medians."""
    medians = _ratio(trials["time_per_step_median_s"], rnn_median)
    if "paired_ratio" not in trials or "reference_cell" not in trials:
        return medians
    paired = pd.to_numeric(trials["paired_ratio"], errors="coerce").astype(float)
    use = (trials["reference_cell"].astype(str) == "rnn") & paired.notna()
    return paired.where(use, medians)


def launch_overhead_fraction(trials: pd.DataFrame) -> pd.Series:
    """1 - graphed time / eager time, on both rows of every config that ran in both modes."""
    keys = [a for a in AXES if a != "mode" and a in trials.columns]
    timed = trials[trials["status"].isin(TIMED)]
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
