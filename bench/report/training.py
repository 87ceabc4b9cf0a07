"""Whether the extra cost pays: convergence by cell and task, loss curves, time to converge.

Pure functions on the trials and curves tables of `bench.report.runs`. Trials that did not
converge stay in every table, marked by their outcome, rather than being dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OUTCOMES = ("converged", "not converged", "stuck at baseline", "diverged")
TRAINED = ("ok", "not_converged", "diverged")


def trained(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that trained: a trained status and at least one epoch (timing-only trials never appear as
    convergence failures)."""
    epochs = pd.to_numeric(trials.get("epochs_run", pd.Series(1, index=trials.index)), errors="coerce").fillna(1)
    return trials[trials["status"].isin(TRAINED) & (epochs > 0)]


def outcomes(trials: pd.DataFrame) -> pd.Series:
    """Each trial's training outcome, one of OUTCOMES; NaN for failed and skipped trials."""
    conv = pd.to_numeric(trials["convergence_epoch"], errors="coerce")
    stuck = trials["stuck_at_baseline"].astype(str).str.lower() == "true"
    out = np.where(conv.notna(), "converged", np.where(stuck, "stuck at baseline", "not converged"))
    out = np.where(trials["status"] == "diverged", "diverged", out)
    return pd.Series(out, index=trials.index, dtype=object).where(trials["status"].isin(TRAINED))


def convergence_points(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trained trial: task, cell, seed, outcome, convergence epoch, and the epoch to plot it at.

    A trial that never converged is plotted one epoch past its task's largest max_epochs.
    """
    t = trained(trials)
    points = t[["task", "cell", "device_label", "seed", "max_epochs"]].copy()
    points["outcome"] = outcomes(t)
    points["convergence_epoch"] = pd.to_numeric(t["convergence_epoch"], errors="coerce")
    ceiling = points.groupby("task")["max_epochs"].transform("max") + 1
    points["plot_epoch"] = points["convergence_epoch"].fillna(ceiling).astype(float)
    return points.reset_index(drop=True)


def convergence_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task and cell: how many trials reached each outcome, and the median epochs of those that converged."""
    t = trained(trials).assign(outcome=lambda d: outcomes(d))
    if t.empty:
        return pd.DataFrame(columns=["task", "cell", "trials", *OUTCOMES, "median_convergence_epoch"])
    counts = pd.crosstab([t["task"], t["cell"]], t["outcome"]).reindex(columns=list(OUTCOMES), fill_value=0)
    counts.columns = list(OUTCOMES)
    counts.insert(0, "trials", counts.sum(axis=1))
    grouped = t.groupby(["task", "cell"])
    counts["median_convergence_epoch"] = grouped["convergence_epoch"].median()
    counts["median_first_hit_epoch"] = grouped["first_hit_epoch"].median()
    counts["median_final_loss"] = grouped["final_loss"].median()
    counts["max_epochs"] = grouped["max_epochs"].max()
    return counts.reset_index()


def loss_bands(trials: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per task, cell and epoch: median held-out loss over trials with its 25th-75th percentile band, and
    the median training steps and training wall time (s, evaluation excluded) run by the end of that epoch."""
    columns = ["task", "cell", "epoch", "loss_median", "loss_q25", "loss_q75", "trials", "steps", "time_s"]
    if curves.empty:
        return pd.DataFrame(columns=columns)
    keys = trials[["run", "trial_id", "task", "cell", "steps_per_epoch"]].astype({"trial_id": str})
    data = curves.astype({"trial_id": str}).merge(keys, on=["run", "trial_id"], how="inner")
    data["loss"] = pd.to_numeric(data["loss"], errors="coerce")
    data = data.sort_values(["run", "trial_id", "epoch"])
    per_epoch = pd.to_numeric(data["steps_per_epoch"], errors="coerce")
    recorded = pd.to_numeric(data["steps"], errors="coerce") if "steps" in data else np.nan
    data["steps"] = pd.Series(recorded, index=data.index).fillna(data["epoch"] * per_epoch)  # older runs: no steps
    seconds = pd.to_numeric(data["train_time_s"], errors="coerce") if "train_time_s" in data else np.nan
    seconds = pd.Series(seconds, index=data.index, dtype=float)
    data["time_s"] = seconds.groupby([data["run"], data["trial_id"]]).cumsum()
    data = data[np.isfinite(data["loss"])]
    grouped = data.groupby(["task", "cell", "epoch"])
    loss = grouped["loss"]
    table = pd.DataFrame(
        {
            "loss_median": loss.median(),
            "loss_q25": loss.quantile(0.25),
            "loss_q75": loss.quantile(0.75),
            "trials": loss.size(),
            "steps": grouped["steps"].median(),
            "time_s": grouped["time_s"].median(),
        }
    )
    return table.reset_index()[columns]


def task_baselines(trials: pd.DataFrame) -> pd.Series:
    """Per task, the median trivial-baseline loss (predicting the prior) of its trials."""
    return pd.to_numeric(trials["baseline_loss"], errors="coerce").groupby(trials["task"]).median().dropna()


def cost_benefit_points(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trained, timed trial: time per step (s) and time to converge (s).

    A trial that did not converge gets its whole training time, a lower bound, with converged False.
    """
    t = trained(trials)
    points = t[["task", "cell", "device_label", "seed"]].copy()
    points["time_per_step_s"] = pd.to_numeric(t["time_per_step_median_s"], errors="coerce")
    ttc = pd.to_numeric(t["time_to_converge_s"], errors="coerce")
    points["converged"] = ttc.notna()
    points["time_to_converge_s"] = ttc.fillna(pd.to_numeric(t["train_time_s"], errors="coerce"))
    valid = (points["time_per_step_s"] > 0) & (points["time_to_converge_s"] > 0)
    return points[valid].reset_index(drop=True)
