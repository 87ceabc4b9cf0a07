"""Where the numbers come from and how far to trust them: coverage, noisy timings, failures."""

from __future__ import annotations

import pandas as pd

from bench.report.runs import TIMED
from bench.trial import AXES

IDENTITY = ("run", "trial_id", "task", "cell", "hidden", "layers", "seq_len", "batch", "device_label", "seed")


def device_coverage(trials: pd.DataFrame) -> pd.DataFrame:
    """Per device: trials, how many were timed, skipped, failed or diverged, and the first error text."""
    t = trials.assign(
        timed=trials["status"].isin(TIMED),
        skipped=trials["status"] == "skipped",
        failed=trials["status"] == "failed",
        diverged=trials["status"] == "diverged",
    )
    grouped = t.groupby("device_label", sort=True)
    table = grouped[["timed", "skipped", "failed", "diverged"]].sum().astype(int)
    table.insert(0, "trials", grouped.size())
    errors = t[t["error"].notna() & (t["error"].astype(str) != "")]
    first = errors.groupby("device_label")["error"].first()
    table["first_error"] = [str(first.get(device, "")) for device in table.index]
    return table.reset_index()


def measurement_warnings(trials: pd.DataFrame, threshold: float = 0.1) -> pd.DataFrame:
    """Timed trials whose step-time IQR exceeds `threshold` times their median, noisiest first."""
    t = trials[trials["status"].isin(TIMED)]
    median = pd.to_numeric(t["time_per_step_median_s"], errors="coerce")
    iqr = pd.to_numeric(t["time_per_step_iqr_s"], errors="coerce")
    fraction = iqr / median
    noisy = t[fraction > threshold]
    table = noisy[[c for c in IDENTITY if c in t.columns]].copy()
    table["time_per_step_median_s"] = median[noisy.index]
    table["time_per_step_iqr_s"] = iqr[noisy.index]
    table["iqr_fraction"] = fraction[noisy.index]
    return table.sort_values("iqr_fraction", ascending=False, kind="stable").reset_index(drop=True)


def problem_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Failed, skipped and diverged trials with their error text."""
    bad = trials[trials["status"].isin(("failed", "skipped", "diverged"))]
    table = bad[[c for c in IDENTITY if c in bad.columns] + ["status", "error"]].copy()
    table["error"] = table["error"].fillna("").astype(str)
    return table.reset_index(drop=True)


def trials_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Every trial and column, identity and varying axes first, constant axes last."""
    varying = [a for a in AXES if a in trials.columns and trials[a].nunique(dropna=False) > 1]
    first = [c for c in ("run", "trial_id", "status") if c in trials.columns] + varying
    return trials[first + [c for c in trials.columns if c not in first]]
