"""Shared drawing machinery: one style, one palette per cell, facets, and figure -> inline PNG."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # never a window: figures only become PNG bytes

import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator  # noqa: E402

from bench.report.units import time_unit  # noqa: E402

CELL_ORDER = ("rnn", "lstm", "gru")
RC = {"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8}
DPI = 96
PANEL = (5.0, 3.4)  # inches per facet


def render(draw: Callable[..., Figure], *args: object) -> str:
    """Call `draw(*args)` under the report's style and return the figure as a PNG data URI."""
    with sns.axes_style("whitegrid"), plt.rc_context(RC):
        fig = draw(*args)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plain(text: object) -> str:
    """A results string (device or task name) as literal figure text: '$' would start TeX."""
    return str(text).replace("$", r"\$")


def facets(n: int, max_cols: int = 3, panel: tuple[float, float] = PANEL) -> list[Axes]:
    """`n` panels on a new figure, at most `max_cols` a row; unused panels are hidden."""
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def ordered_cells(cells: Iterable[str]) -> list[str]:
    present = set(cells)
    return [c for c in CELL_ORDER if c in present] + sorted(present - set(CELL_ORDER))


def cell_palette(cells: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """The same colour for a cell in every figure: rnn, lstm, gru first, then any other cell."""
    colours = sns.color_palette("colorblind", 10)
    names = list(CELL_ORDER) + sorted(set(cells) - set(CELL_ORDER))
    return {name: colours[i % len(colours)] for i, name in enumerate(names)}


def scaled_time(values: Sequence[float] | np.ndarray) -> tuple[str, float]:
    """Unit name and divisor for a figure's times (seconds): us, ms or s by the median's magnitude."""
    return time_unit(np.asarray(values, dtype=float).ravel().tolist())


def log_axis(ax: Axes, which: str, base: int = 10) -> None:
    """Log scale on `which` ('x' or 'y') with plain labels (0.5, 1, 2, 5, 10) rather than powers."""
    (ax.set_xscale if which == "x" else ax.set_yscale)("log", base=base)
    axis = ax.xaxis if which == "x" else ax.yaxis
    if base == 10:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def axis_scale(ax: Axes, which: str, values: Sequence[float] | np.ndarray, ticks: bool = False) -> None:
    """Log scale on `which` when positive values span more than 8x; with `ticks`, ticks at the values (log2)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and v.max() / v.min() > 8:
        log_axis(ax, which, base=2 if ticks else 10)
    if ticks and len(v):
        axis = ax.xaxis if which == "x" else ax.yaxis
        axis.set_major_locator(FixedLocator(sorted(set(v.tolist()))))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))


def legend_outside(fig: Figure, title: str = "") -> None:
    """One legend for the whole figure (every panel's entries, once each), right of the panels."""
    entries: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
        if ax.get_legend():
            ax.get_legend().remove()
    if entries:
        fig.legend(list(entries.values()), list(entries), title=title or None, loc="outside right upper", frameon=False)
