"""Figures of time to solve: survival curves (fraction of seeds solved) and learning-rate sensitivity.

Each `draw_*` takes a prepared table from `bench.solve` and returns a Figure; call it through
`bench.report.figures.render`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.report.figures import cell_palette, facets, legend_outside, log_axis, ordered_cells, plain, scaled_time

AXIS_LABELS = {"time": "training wall time", "steps": "training steps"}


def panel_title(task: object, seq_len: object) -> str:
    return f"task {plain(task)}, T = {seq_len}"


def draw_survival(events: pd.DataFrame, by: str) -> Figure:
    """Fraction of trials solved against training time or steps, a step line per cell, one panel per task
    and seq_len; a cross marks where a trial stopped unsolved (censored at its budget)."""
    panels = list(events.groupby(["task", "seq_len"]).groups)
    palette = cell_palette(events["cell"])
    unit, scale = scaled_time(events["x"]) if by == "time" else ("steps", 1.0)
    axes = facets(len(panels))
    for ax, (task, seq_len) in zip(axes, panels, strict=True):
        part = events[(events["task"] == task) & (events["seq_len"] == seq_len)]
        for cell in ordered_cells(part["cell"]):
            rows = part[part["cell"] == cell]
            x = np.concatenate([[0.0], rows["x"].to_numpy() / scale])
            y = np.concatenate([[0.0], rows["fraction"].to_numpy()])
            ax.step(x, y, where="post", color=palette[cell], label=cell, lw=1.6)
            cut = rows[~rows["solved"]]
            ax.scatter(cut["x"] / scale, cut["fraction"], marker="x", color=palette[cell], s=36,
                       label="stopped unsolved (censored)", zorder=3)  # fmt: skip
        ax.set_ylim(-0.03, 1.03)
        ax.set(title=panel_title(task, seq_len), xlabel=f"{AXIS_LABELS[by]} ({unit})", ylabel="fraction solved")
    legend_outside(axes[0].figure)
    return axes[0].figure


def draw_sensitivity(summary: pd.DataFrame) -> Figure:
    """Median time to solve against learning rate, a line per cell, one panel per task and seq_len; an lr at
    which fewer than half the seeds solved sits on the 'not solved' row at the top."""
    panels = list(summary.groupby(["task", "seq_len"]).groups)
    palette = cell_palette(summary["cell"])
    finite = summary["median_time_to_solve_s"].replace(np.inf, np.nan).dropna()
    unit, scale = scaled_time(finite if len(finite) else [1.0])
    top = (finite.max() / scale * 2) if len(finite) else 1.0
    axes = facets(len(panels))
    for ax, (task, seq_len) in zip(axes, panels, strict=True):
        part = summary[(summary["task"] == task) & (summary["seq_len"] == seq_len)]
        for cell in ordered_cells(part["cell"]):
            rows = part[part["cell"] == cell].sort_values("lr")
            y = (rows["median_time_to_solve_s"] / scale).replace(np.inf, top)
            ax.plot(rows["lr"], y, marker="o", color=palette[cell], label=cell)
        ax.axhline(top, color="0.6", lw=0.8, ls=":")
        ax.text(ax.get_xlim()[0], top, " not solved", va="bottom", fontsize=7, color="0.4")
        log_axis(ax, "x")
        ax.set(title=panel_title(task, seq_len), xlabel="learning rate", ylabel=f"median time to solve ({unit})")
    legend_outside(axes[0].figure)
    return axes[0].figure
