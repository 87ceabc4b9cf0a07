"""Figures of whether the cost pays: convergence epochs, loss curves, time to converge.

Each `draw_*` takes a prepared table from `bench.report.training` and returns a Figure; call
it through `bench.report.figures.render`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.report.figures import (
    axis_scale,
    cell_palette,
    facets,
    legend_outside,
    log_axis,
    ordered_cells,
    plain,
    scaled_time,
)
from bench.report.training import OUTCOMES

NEVER = "not converged (training time, a lower bound)"
OUTCOME_COLOURS = dict(zip(OUTCOMES, ("#1b9e77", "#7570b3", "#d95f02", "#e7298a"), strict=True))


def draw_convergence(points: pd.DataFrame) -> Figure:
    """Convergence epoch of every trial by cell, one panel per task; trials that never converged sit on top."""
    tasks = sorted(points["task"].unique())
    present = [o for o in OUTCOMES if o in set(points["outcome"])]
    axes = facets(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        part = points[points["task"] == task]
        sns.stripplot(data=part, x="cell", y="plot_epoch", hue="outcome", order=ordered_cells(part["cell"]),
                      hue_order=present, palette=OUTCOME_COLOURS,
                      jitter=0.25, size=5, alpha=0.8, ax=ax)  # fmt: skip
        _epoch_ticks(ax, int(part["max_epochs"].max()), bool((part["outcome"] != "converged").any()))
        ax.set(title=f"task {plain(task)}", xlabel="cell", ylabel="convergence epoch")
    legend_outside(axes[0].figure, "outcome")
    return axes[0].figure


def _epoch_ticks(ax, max_epochs: int, never: bool) -> None:
    """Integer epoch ticks up to `max_epochs`, and a 'never' row above them when some trial did not converge."""
    step = max(1, -(-max_epochs // 6))
    ticks = list(range(1, max_epochs + 1, step))
    labels = [str(t) for t in ticks]
    if never:
        ax.axhline(max_epochs + 0.5, color="0.6", lw=0.8, ls=":")
        ticks.append(max_epochs + 1)
        labels.append("never")
    ax.set_yticks(ticks, labels)
    ax.set_ylim(0.5, max_epochs + (1.5 if never else 0.5))


LOSS_X = {"epoch": "epoch", "steps": "training steps", "time_s": "training wall time"}


def draw_loss(bands: pd.DataFrame, baselines: pd.Series, x: str = "epoch") -> Figure:
    """Median held-out loss with its interquartile band, per task, against the trivial baseline; `x` is the
    epoch, the training steps or the training wall time (median over the trials at each epoch)."""
    tasks = sorted(bands["task"].unique())
    palette = cell_palette(bands["cell"])
    unit, scale = scaled_time(bands["time_s"]) if x == "time_s" else ("", 1.0)
    axes = facets(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        part = bands[bands["task"] == task].assign(x=lambda d: d[x] / scale)
        for cell in ordered_cells(part["cell"]):
            rows = part[part["cell"] == cell]
            ax.fill_between(rows["x"], rows["loss_q25"], rows["loss_q75"], color=palette[cell], alpha=0.2, lw=0)
        sns.lineplot(data=part, x="x", y="loss_median", hue="cell", hue_order=ordered_cells(part["cell"]),
                     palette=palette, errorbar=None, ax=ax)  # fmt: skip
        values = part[["loss_q25", "loss_q75"]].to_numpy().ravel()
        if task in baselines.index:
            ax.axhline(baselines[task], color="black", lw=1, ls="--", label="trivial baseline")
            values = np.append(values, baselines[task])
        axis_scale(ax, "y", values)
        label = f"{LOSS_X[x]} ({unit})" if unit else LOSS_X[x]
        ax.set(title=f"task {plain(task)}", xlabel=label, ylabel="held-out loss")
    legend_outside(axes[0].figure)
    return axes[0].figure


def draw_cost_benefit(points: pd.DataFrame) -> Figure:
    """Time to converge against time per step, one point per trial, one panel per task (log-log)."""
    tasks = sorted(points["task"].unique())
    palette = cell_palette(points["cell"])
    step_unit, step_scale = scaled_time(points["time_per_step_s"])
    axes = facets(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        part = points[points["task"] == task]
        unit, scale = scaled_time(part["time_to_converge_s"])
        data = part.assign(
            x=part["time_per_step_s"] / step_scale,
            y=part["time_to_converge_s"] / scale,
            outcome=part["converged"].map({True: "converged", False: NEVER}),
        )
        sns.scatterplot(data=data, x="x", y="y", hue="cell", hue_order=ordered_cells(part["cell"]), palette=palette,
                        style="outcome", markers={"converged": "o", NEVER: "X"}, style_order=["converged", NEVER],
                        s=36, alpha=0.8, ax=ax)  # fmt: skip
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set(title=f"task {plain(task)}", xlabel=f"time per step ({step_unit})", ylabel=f"time to converge ({unit})")
    legend_outside(axes[0].figure)
    return axes[0].figure
