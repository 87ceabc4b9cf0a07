"""Time to solve as the outcome (pandas and numpy only, no torch): censoring, best learning rate, survival.

A trial that solved has `steps_to_solve` and `time_to_solve_s` (training time up to its convergence epoch);
one that did not is censored at its budget: it ran `steps_run` steps and `train_time_s` seconds without
solving, and its time to solve is unknown (at least that), never filled in. Runs of older rnnbench versions
(no such columns) are read from `convergence_epoch`, `steps_per_epoch` and `time_to_converge_s`.

Cells are compared fairly, each at its own best learning rate per configuration (AlgoPerf, Greff et al.):
the lr with the lowest median time to solve over seeds (a censored seed counts as never), then the lowest
median final loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.trial import AXES

TRAINED = ("ok", "not_converged", "diverged")
# A configuration: every axis but the cell, the learning rate and the seed.
CONFIG_KEYS = [a for a in AXES if a not in ("cell", "lr", "seed")]
BUDGET_DEFAULTS = {"max_steps": 0, "max_time_s": 0.0, "patience": 0, "forget_bias": 0.0}


def _numbers(frame: pd.DataFrame, column: str, default: float = np.nan) -> pd.Series:
    if column not in frame:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))


def solve_outcomes(trials: pd.DataFrame) -> pd.DataFrame:
    """Trained trials with `solved`, `steps_to_solve`, `time_to_solve_s` (NaN when censored), and where a
    censored trial stopped: `steps_run`, `train_time_s`; plus `config` (the configuration's key) and `budget`."""
    t = trials[trials["status"].isin(TRAINED)].copy()
    if "epochs_run" in t:  # timing-only trials (the synthetic task) never trained: no time to solve
        t = t[pd.to_numeric(t["epochs_run"], errors="coerce").fillna(0) > 0]
    for axis, default in BUDGET_DEFAULTS.items():
        t[axis] = _numbers(t, axis, default).fillna(default)
    conv = _numbers(t, "convergence_epoch")
    per_epoch = _numbers(t, "steps_per_epoch", 1.0)
    if "solve_censored" in t:
        t["solved"] = ~_truthy(t["solve_censored"]) & t["solve_censored"].notna() & (t["status"] != "diverged")
    else:
        t["solved"] = conv.notna()
    t["steps_to_solve"] = _numbers(t, "steps_to_solve").fillna(conv * per_epoch).where(t["solved"])
    t["time_to_solve_s"] = _numbers(t, "time_to_solve_s").fillna(_numbers(t, "time_to_converge_s")).where(t["solved"])
    t["steps_run"] = _numbers(t, "steps_run").fillna(_numbers(t, "epochs_run") * per_epoch)
    t["train_time_s"] = _numbers(t, "train_time_s")
    t["final_loss"] = _numbers(t, "final_loss")
    t["config"] = _config_ids(t)
    # Seeds pair trials across cells; the same seed in two stacked runs is another pair, not the same one.
    t["pair"] = (t["run"].astype(str) + ":" if "run" in t else "") + t["seed"].astype(str)
    t["config_label"] = config_labels(t)
    t["budget_text"] = [budget_text(row) for row in t.itertuples()]
    return t.reset_index(drop=True)


def _config_ids(t: pd.DataFrame) -> pd.Series:
    keys = [k for k in CONFIG_KEYS if k in t.columns]
    if t.empty:
        return pd.Series(dtype=object)
    return pd.Series(["|".join(map(str, v)) for v in t[keys].itertuples(index=False)], index=t.index, dtype=object)


def config_labels(t: pd.DataFrame) -> pd.Series:
    """What sets a configuration apart from the others of its task and seq_len: 'hidden=64, batch=32' over
    the axes that vary there (cell, lr and seed aside); '' where the task and length have one configuration."""
    labels = pd.Series("", index=t.index, dtype=object)
    keys = [k for k in CONFIG_KEYS if k in t.columns and k not in ("task", "seq_len")]
    for _, part in t.groupby(["task", "seq_len"]):
        varying = [k for k in keys if part[k].astype(str).nunique() > 1]
        labels[part.index] = [", ".join(f"{k}={v}" for k, v in zip(varying, row, strict=True))
                              for row in part[varying].itertuples(index=False)]  # fmt: skip
    return labels


def budget_text(row) -> str:
    """The limits a trial trained under, in words: '3000 steps, 60 s, 200 epochs x 50 steps'."""
    parts = []
    if getattr(row, "max_steps", 0) > 0:
        parts.append(f"{int(row.max_steps)} steps")
    if getattr(row, "max_time_s", 0) > 0:
        parts.append(f"{row.max_time_s:g} s of training")
    parts.append(f"{int(row.max_epochs)} epochs x {int(row.steps_per_epoch)} steps")
    return ", ".join(parts)


def lr_summary(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, cell and lr: seeds, how many solved, median time/steps to solve (inf when fewer
    than half solved: a censored seed counts as never) and median final loss."""
    columns = ["config", "cell", "lr", "seeds", "solved", "median_time_to_solve_s", "median_steps_to_solve",
               "median_final_loss"]  # fmt: skip
    if outcomes.empty:
        return pd.DataFrame(columns=columns)
    data = outcomes.assign(t=outcomes["time_to_solve_s"].fillna(np.inf), s=outcomes["steps_to_solve"].fillna(np.inf))
    grouped = data.groupby(["config", "cell", "lr"])
    table = pd.DataFrame({
        "seeds": grouped.size(), "solved": grouped["solved"].sum().astype(int),
        "median_time_to_solve_s": grouped["t"].median(), "median_steps_to_solve": grouped["s"].median(),
        "median_final_loss": grouped["final_loss"].median(),
    })  # fmt: skip
    return table.reset_index()[columns]


def best_lr(summary: pd.DataFrame) -> pd.DataFrame:
    """Each (configuration, cell)'s row of `lr_summary` at its best lr: lowest median time to solve, then
    lowest median final loss (NaN last), then the smaller lr; `lrs_tried` counts the candidates."""
    if summary.empty:
        return summary.assign(lrs_tried=pd.Series(dtype=int))
    ranked = summary.assign(_loss=summary["median_final_loss"].fillna(np.inf)).sort_values(
        ["config", "cell", "median_time_to_solve_s", "_loss", "lr"], kind="mergesort"
    )
    best = ranked.groupby(["config", "cell"], sort=False).head(1).drop(columns="_loss")
    tried = summary.groupby(["config", "cell"])["lr"].nunique().rename("lrs_tried")
    return best.merge(tried.reset_index(), on=["config", "cell"]).reset_index(drop=True)


def at_best_lr(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The trials (every seed) of each configuration and cell at that cell's own best lr."""
    best = best_lr(lr_summary(outcomes))[["config", "cell", "lr"]]
    return outcomes.merge(best, on=["config", "cell", "lr"], how="inner")


def survival(outcomes: pd.DataFrame, by: str) -> pd.DataFrame:
    """Fraction of trials solved against `by` ('time' or 'steps'), per task, seq_len and cell: one row per
    event (a solve, or a censoring where a trial stopped unsolved), in order. `fraction` is of all the
    group's trials, so after a censoring it is a lower bound on the solved fraction."""
    value, stop = ("time_to_solve_s", "train_time_s") if by == "time" else ("steps_to_solve", "steps_run")
    rows = []
    for (task, seq_len, cell), part in outcomes.groupby(["task", "seq_len", "cell"]):
        x = np.where(part["solved"], part[value], part[stop]).astype(float)
        order = np.lexsort((~part["solved"].to_numpy(), x))  # at a tie, the solve first
        solved = part["solved"].to_numpy()[order]
        fraction = np.cumsum(solved) / len(part)
        for xi, ok, f in zip(x[order], solved, fraction, strict=True):
            rows.append((task, seq_len, cell, xi, bool(ok), f, len(part)))
    return pd.DataFrame(rows, columns=["task", "seq_len", "cell", "x", "solved", "fraction", "trials"])


def headline(outcomes: pd.DataFrame, reference: str = "rnn") -> pd.DataFrame:
    """Per configuration and cell (each at its best lr): solved k/n, median time to solve and, against the
    reference cell at its best lr, the per-seed ratio of times to solve (median, min-max over seeds where
    both solved) or else 'solved k/n vs j/n within <budget>'."""
    columns = ["task", "seq_len", "config_label", "cell", "lr", "solved", "median_time_to_solve_s",
               "median_steps_to_solve", "vs_reference", "budget"]  # fmt: skip
    if outcomes.empty:
        return pd.DataFrame(columns=columns)
    best = at_best_lr(outcomes)
    rows = []
    for _, part in best.groupby("config", sort=False):
        ref = part[part["cell"] == reference].set_index("pair")
        for cell, mine in part.groupby("cell", sort=False):
            rows.append(_headline_row(mine, ref, cell == reference))
    columns = ["task", "seq_len", "config_label", "cell", "lr", "solved", "median_time_to_solve_s",
               "median_steps_to_solve", "vs_reference", "budget"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).sort_values(["task", "seq_len"], kind="mergesort")


def _headline_row(mine: pd.DataFrame, ref: pd.DataFrame, is_reference: bool) -> tuple:
    first = mine.iloc[0]
    n, k = len(mine), int(mine["solved"].sum())
    budget = first["budget_text"]
    vs = "-" if is_reference else _versus(mine.set_index("pair"), ref, budget)
    median_t = mine["time_to_solve_s"].fillna(np.inf).median()  # as in lr_summary: a censored seed is never
    median_s = mine["steps_to_solve"].fillna(np.inf).median()
    return (
        first["task"],
        first["seq_len"],
        first["config_label"],
        first["cell"],
        first["lr"],
        f"{k}/{n}",
        median_t,
        median_s,
        vs,
        budget,
    )


def _versus(mine: pd.DataFrame, ref: pd.DataFrame, budget: str) -> str:
    if ref.empty:
        return "no reference trial"
    both = mine.index.intersection(ref.index)
    both = [s for s in both if bool(mine.loc[s, "solved"]) and bool(ref.loc[s, "solved"])]
    if both:
        ratios = np.array([mine.loc[s, "time_to_solve_s"] / ref.loc[s, "time_to_solve_s"] for s in both])
        spread = f" [{ratios.min():.2f}-{ratios.max():.2f}]" if len(ratios) > 1 else ""
        return f"{np.median(ratios):.2f}x the time{spread} ({len(both)} seeds both solved)"
    return f"solved {int(mine['solved'].sum())}/{len(mine)} vs {int(ref['solved'].sum())}/{len(ref)} within {budget}"
