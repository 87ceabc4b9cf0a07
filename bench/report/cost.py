"""What LSTM and GRU cost over a plain RNN: headline ratios, sweeps over one axis, heatmaps.

Pure functions on the trials table that `bench.report.runs` builds; they return plot-ready
DataFrames and never draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bench.analysis import SIBLING_KEYS
from bench.report.runs import timed
from bench.trial import AXES

# Gate matrices per step relative to an RNN's one: the matmul-FLOP ratio if nothing else costs.
MATMUL_RATIO = {"lstm": 4.0, "gru": 3.0}
SWEEP_AXES = ("hidden", "layers", "seq_len", "batch")
FREE_AXES = ("cell", "device", "seed")  # vary inside every plot: hue, facet, pooled over
HEADLINE_COLUMNS = (
    "device_label", "cell", "time_ratio", "time_ratio_lo", "time_ratio_hi", "time_pairs", "params_ratio",
    "convergence_ratio", "convergence_pairs", "time_to_converge_ratio", "time_to_converge_pairs", "matmul_ratio",
)  # fmt: skip


@dataclass(frozen=True)
class Slice:
    """A block of trials in which only some axes (and cell, device, seed) vary."""

    trials: pd.DataFrame
    fixed: tuple[tuple[str, object], ...]  # axes held fixed here that vary elsewhere in the table

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.fixed)


def compared_cells(trials: pd.DataFrame) -> list[str]:
    """Cells other than rnn present in `trials`: lstm, gru first, then any other, sorted."""
    present = set(trials["cell"].astype(str)) - {"rnn"}
    return [c for c in MATMUL_RATIO if c in present] + sorted(present - set(MATMUL_RATIO))


def sibling_ratio(trials: pd.DataFrame, column: str) -> pd.Series:
    """`column` over the same run's RNN trial of identical axes (but cell); NaN without one or if <= 0."""
    keys = ["run"] + [k for k in SIBLING_KEYS if k in trials.columns]
    rnn = trials[trials["cell"] == "rnn"].drop_duplicates(keys)[keys + [column]]
    merged = trials[keys].merge(rnn.rename(columns={column: "_rnn"}), on=keys, how="left")
    num = pd.to_numeric(trials[column], errors="coerce").to_numpy(dtype=float)
    den = pd.to_numeric(merged["_rnn"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / den, np.nan)
    return pd.Series(ratio, index=trials.index, dtype=float)


def median_interval(values: np.ndarray, confidence: float = 0.95, random_state: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median (scipy.stats.bootstrap, 9999 resamples); NaN below 2 values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.nan, np.nan
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (values,), np.median, confidence_level=confidence, method="percentile", random_state=random_state
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def headline_table(trials: pd.DataFrame, confidence: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """Per device and compared cell: median ratios vs the RNN sibling, with a bootstrap interval on time.

    Each ratio pools every configuration and seed that has an RNN sibling; `*_pairs` counts them.
    Time to converge compares trials where both cells converged.
    """
    t = trials.assign(time_to_converge_ratio=sibling_ratio(trials, "time_to_converge_s"))
    t = t[t["status"].isin(("ok", "not_converged"))]
    rows = []
    for device in sorted(t["device_label"].unique()):
        for cell in compared_cells(t):
            rows.append(_headline_row(t[(t["device_label"] == device) & (t["cell"] == cell)], confidence, random_state))
    table = pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))
    return table[table["time_pairs"] > 0].reset_index(drop=True)


def _headline_row(t: pd.DataFrame, confidence: float, random_state: int) -> dict:
    def finite(column: str) -> np.ndarray:
        values = pd.to_numeric(t[column], errors="coerce").to_numpy(dtype=float)
        return values[np.isfinite(values)]

    time, conv, ttc = finite("time_ratio_vs_rnn"), finite("convergence_ratio_vs_rnn"), finite("time_to_converge_ratio")
    lo, hi = median_interval(time, confidence, random_state)
    params = finite("params_ratio_vs_rnn")
    cell = str(t["cell"].iloc[0]) if len(t) else ""
    return {
        "device_label": str(t["device_label"].iloc[0]) if len(t) else "",
        "cell": cell,
        "time_ratio": _median(time),
        "time_ratio_lo": lo,
        "time_ratio_hi": hi,
        "time_pairs": len(time),
        "params_ratio": _median(params),
        "convergence_ratio": _median(conv),
        "convergence_pairs": len(conv),
        "time_to_converge_ratio": _median(ttc),
        "time_to_converge_pairs": len(ttc),
        "matmul_ratio": MATMUL_RATIO.get(cell, np.nan),
    }


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else np.nan


def sweep_slice(trials: pd.DataFrame, axes: Sequence[str]) -> Slice:
    """The largest block of timed trials in which only `axes` (and cell, device, seed) vary.

    Trials are grouped by every other axis; the group with the most distinct values of `axes`
    wins (ties: the most trials, then the first in sort order). In an [[around]] suite this is
    the one-at-a-time sweep through the centre; in a grid, one line of it.
    """
    t = timed(trials)
    rest = [a for a in AXES if a in t.columns and a not in axes and a not in FREE_AXES]
    if t.empty:
        return Slice(t, ())
    groups = [g for _, g in t.groupby(rest, dropna=False, sort=True)] if rest else [t]
    best = max(groups, key=lambda g: (len(g[list(axes)].drop_duplicates()), len(g)))
    # Name the task if there are several, and the axes that vary within that task.
    same_task = t[t["task"] == best["task"].iloc[0]] if "task" in rest else t
    fixed = tuple((a, best[a].iloc[0]) for a in rest if (t if a == "task" else same_task)[a].nunique(dropna=False) > 1)
    return Slice(best, fixed)


def per_point(block: pd.DataFrame, axes: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Median of each of `columns` per device, cell and value of `axes`, with the number of trials."""
    keys = ["device_label", "cell", *axes]
    data = block[keys].copy()
    for c in columns:
        data[c] = pd.to_numeric(block[c], errors="coerce").astype(float)
    data = data.dropna(subset=list(columns), how="all")
    grouped = data.groupby(keys, sort=True)
    table = grouped[list(columns)].median()
    table["trials"] = grouped.size()
    return table.reset_index()


def time_sweep(trials: pd.DataFrame, axis: str) -> tuple[Slice, pd.DataFrame]:
    """Time per step (s) against `axis`: median over seeds, bars at the median trial's 25th/75th percentile."""
    block = sweep_slice(trials, [axis])
    columns = ["time_per_step_median_s", "time_per_step_q25_s", "time_per_step_q75_s"]
    return block, per_point(block.trials, [axis], columns)


def ratio_sweep(trials: pd.DataFrame, axis: str) -> tuple[Slice, pd.DataFrame]:
    """LSTM/GRU time per step over the RNN sibling's against `axis` (median over seeds)."""
    block = sweep_slice(trials, [axis])
    compared = block.trials[block.trials["cell"] != "rnn"]
    return block, per_point(compared, [axis], ["time_ratio_vs_rnn"]).dropna(subset=["time_ratio_vs_rnn"])


def column_sweep(trials: pd.DataFrame, axis: str, column: str) -> tuple[Slice, pd.DataFrame]:
    """Any outcome column (e.g. gflops, peak_fraction) against `axis`, median over seeds; NaN rows dropped."""
    block = sweep_slice(trials, [axis])
    return block, per_point(block.trials, [axis], [column]).dropna(subset=[column])


def heatmap_table(trials: pd.DataFrame, rows: str, cols: str) -> tuple[Slice, pd.DataFrame]:
    """Median time ratio vs RNN per device, compared cell and (`rows`, `cols`) pair, in long form."""
    block = sweep_slice(trials, [rows, cols])
    compared = block.trials[block.trials["cell"] != "rnn"]
    return block, per_point(compared, [rows, cols], ["time_ratio_vs_rnn"]).dropna(subset=["time_ratio_vs_rnn"])


def heatmap_pivot(long: pd.DataFrame, device: str, cell: str, rows: str, cols: str) -> pd.DataFrame:
    """One device and cell of `heatmap_table` as a `rows` x `cols` grid (rows descending, as on a y axis)."""
    part = long[(long["device_label"] == device) & (long["cell"] == cell)]
    grid = part.pivot(index=rows, columns=cols, values="time_ratio_vs_rnn")
    return grid.sort_index(ascending=False).sort_index(axis=1)
