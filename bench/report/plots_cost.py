"""Figures of what each cell costs: time per step, ratio vs RNN, heatmaps, achieved throughput.

Each `draw_*` takes a prepared table from `bench.report.cost` and returns a Figure; call it
through `bench.report.figures.render`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.report.cost import MATMUL_RATIO, heatmap_pivot
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

MEDIAN, Q25, Q75 = "time_per_step_median_s", "time_per_step_q25_s", "time_per_step_q75_s"


def draw_time_sweep(points: pd.DataFrame, axis: str) -> Figure:
    """Time per step against `axis`, one panel per device, hue = cell, bars from the 25th to 75th percentile."""
    devices = sorted(points["device_label"].unique())
    unit, scale = scaled_time(points[MEDIAN])
    palette = cell_palette(points["cell"])
    axes = facets(len(devices))
    for ax, device in zip(axes, devices, strict=True):
        part = points[points["device_label"] == device]
        lo, hi = ("time_lo_s", "time_hi_s") if "time_lo_s" in part else (Q25, Q75)
        for cell in ordered_cells(part["cell"]):
            rows = part[part["cell"] == cell]
            low = np.clip(rows[MEDIAN] - rows[lo].fillna(rows[MEDIAN]), 0, None) / scale
            high = np.clip(rows[hi].fillna(rows[MEDIAN]) - rows[MEDIAN], 0, None) / scale
            ax.errorbar(rows[axis], rows[MEDIAN] / scale, yerr=[low, high], fmt="none", ecolor=palette[cell], capsize=3)
        data = part.assign(y=part[MEDIAN] / scale)
        sns.lineplot(data=data, x=axis, y="y", hue="cell", hue_order=ordered_cells(part["cell"]), palette=palette,
                     marker="o", errorbar=None, ax=ax)  # fmt: skip
        axis_scale(ax, "x", part[axis], ticks=True)
        axis_scale(ax, "y", data["y"])
        ax.set(title=plain(device), xlabel=axis, ylabel=f"time per step ({unit})")
    legend_outside(axes[0].figure, "cell")
    return axes[0].figure


def _reference_lines(ax, palette: dict) -> None:
    ax.axhline(1.0, color="0.3", lw=1, ls="-")
    ax.text(1.0, 1.0, " 1x", transform=ax.get_yaxis_transform(), va="center", fontsize=7, color="0.3")
    for cell, ratio in MATMUL_RATIO.items():
        ax.axhline(ratio, color=palette[cell], lw=1, ls="--", alpha=0.8)
        ax.text(1.0, ratio, f" {ratio:g}x {cell}", transform=ax.get_yaxis_transform(), va="center", fontsize=7,
                color=palette[cell])  # fmt: skip


def draw_ratio_sweep(points: pd.DataFrame, axis: str) -> Figure:
    """LSTM/GRU time per step over RNN's against `axis`, per device, with lines at 1x, 3x and 4x."""
    devices = sorted(points["device_label"].unique())
    palette = cell_palette(points["cell"])
    axes = facets(len(devices))
    top = max(4.6, float(points["time_ratio_vs_rnn"].max()) * 1.1)
    for ax, device in zip(axes, devices, strict=True):
        part = points[points["device_label"] == device]
        sns.lineplot(data=part, x=axis, y="time_ratio_vs_rnn", hue="cell", hue_order=ordered_cells(part["cell"]),
                     palette=palette, marker="o", errorbar=None, ax=ax)  # fmt: skip
        _ratio_intervals(ax, part, axis, palette)
        _reference_lines(ax, palette)
        axis_scale(ax, "x", part[axis], ticks=True)
        if top > 12:
            log_axis(ax, "y")
        else:
            ax.set_ylim(0, top)
        ax.set(title=plain(device), xlabel=axis, ylabel="time per step / RNN's (x)")
    legend_outside(axes[0].figure, "cell")
    return axes[0].figure


def _ratio_intervals(ax, part: pd.DataFrame, axis: str, palette: dict) -> None:
    """95% interval bars on each ratio point; a hollow marker where the interval includes 1x."""
    if "ratio_lo" not in part:
        return
    for cell in ordered_cells(part["cell"]):
        rows = part[(part["cell"] == cell) & part["ratio_lo"].notna()]
        y = rows["time_ratio_vs_rnn"]
        yerr = [np.clip(y - rows["ratio_lo"], 0, None), np.clip(rows["ratio_hi"] - y, 0, None)]
        ax.errorbar(rows[axis], y, yerr=yerr, fmt="none", ecolor=palette[cell], capsize=3)
        overlap = rows[rows["overlaps_1x"].astype(bool)]
        ax.scatter(overlap[axis], overlap["time_ratio_vs_rnn"], s=40, facecolors="white", edgecolors=palette[cell],
                   zorder=5)  # fmt: skip


def draw_heatmap(long: pd.DataFrame, rows: str, cols: str) -> Figure:
    """The time ratio vs RNN over `rows` x `cols`: one panel per device and compared cell, shared colour scale."""
    devices = sorted(long["device_label"].unique())
    cells = ordered_cells(long["cell"])
    axes = facets(len(devices) * len(cells), max_cols=len(cells), panel=(4.6, 3.4))
    vmin, vmax = float(long["time_ratio_vs_rnn"].min()), float(long["time_ratio_vs_rnn"].max())
    panels = [(d, c) for d in devices for c in cells]
    for ax, (device, cell) in zip(axes, panels, strict=True):
        grid = heatmap_pivot(long, device, cell, rows, cols)
        if grid.empty:
            ax.set_visible(False)
            continue
        sns.heatmap(grid, annot=True, fmt=".2g", cmap="viridis", vmin=vmin, vmax=vmax, ax=ax,
                    cbar_kws={"label": "time per step / RNN's (x)"})  # fmt: skip
        ax.set(title=plain(f"{cell.upper()} / RNN, {device}"), xlabel=cols, ylabel=rows)
    return axes[0].figure


def draw_metric_sweep(points: pd.DataFrame, axis: str, column: str, label: str) -> Figure:
    """Any per-trial metric (median over seeds) against `axis`, one panel per device, hue = cell."""
    devices = sorted(points["device_label"].unique())
    palette = cell_palette(points["cell"])
    axes = facets(len(devices))
    for ax, device in zip(axes, devices, strict=True):
        part = points[points["device_label"] == device]
        sns.lineplot(data=part, x=axis, y=column, hue="cell", hue_order=ordered_cells(part["cell"]),
                     palette=palette, marker="o", errorbar=None, ax=ax)  # fmt: skip
        axis_scale(ax, "x", part[axis], ticks=True)
        axis_scale(ax, "y", part[column])
        ax.set(title=plain(device), xlabel=axis, ylabel=label)
    legend_outside(axes[0].figure, "cell")
    return axes[0].figure
