"""Report sections on cost: the headline table, sweeps over each axis, the ratio heatmap, throughput.

Each section decides what it can show; a plot whose data is missing (one value on an axis,
no RNN to compare against) is replaced by a note saying why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report import cost
from bench.report.figures import render
from bench.report.options import ReportOptions
from bench.report.page import Section, figure, heading, note, paragraph, table
from bench.report.plots_cost import draw_heatmap, draw_metric_sweep, draw_ratio_sweep, draw_time_sweep
from bench.report.provenance import device_coverage
from bench.report.runs import Results, timed
from bench.report.units import fmt_ratio

HEADLINE_HEADERS = {
    "device_label": "device", "cell": "cell", "time": "time per step vs RNN [95% CI]", "time_pairs": "pairs",
    "params_ratio": "parameters vs RNN", "convergence": "convergence epochs vs RNN",
    "time_to_converge": "time to converge vs RNN", "matmul_ratio": "matmul work vs RNN (theory)",
}  # fmt: skip


def _pairs(value: float, n: int) -> str:
    return f"{fmt_ratio(value)} (n={n})" if n else "- (none converged)"


def headline_section(results: Results, options: ReportOptions) -> Section:
    t = results.trials
    body = _coverage_notes(t)
    if timed(t[t["cell"] == "rnn"]).empty:
        body.append(note("No RNN trial was timed, so there is nothing to compare LSTM and GRU against."))
        return Section("headline", "Headline: cost over a plain RNN", "".join(body))
    table_ = cost.headline_table(t, options.confidence, options.random_state)
    if table_.empty:
        body.append(note("No LSTM or GRU trial has a timed RNN sibling (same axes, same run) to compare with."))
        return Section("headline", "Headline: cost over a plain RNN", "".join(body))
    body += [paragraph(_headline_sentence(table_, device), "lead") for device in table_["device_label"].unique()]
    shown = _headline_display(table_)
    body.append(table(shown, HEADLINE_HEADERS, cls="headline", text_columns=["device_label", "cell"]))
    body.append(
        paragraph(
            "Medians over every configuration and seed that has an RNN sibling (same axes and run); above 1x the "
            "cell costs more. The interval is a percentile bootstrap of the median; the theory column counts gate "
            "matrices only, which large, compute-bound sizes approach.",
            "caption",
        )
    )
    return Section("headline", "Headline: cost over a plain RNN", "".join(body))


def _headline_display(table_: pd.DataFrame) -> pd.DataFrame:
    """`cost.headline_table` as text: ratios with their interval, pair counts beside convergence ratios."""
    rows = list(table_.itertuples())
    return pd.DataFrame(
        {
            "device_label": table_["device_label"],
            "cell": table_["cell"].str.upper(),
            "time": [fmt_ratio(r.time_ratio, r.time_ratio_lo, r.time_ratio_hi) for r in rows],
            "time_pairs": table_["time_pairs"],
            "params_ratio": table_["params_ratio"].map(fmt_ratio),
            "convergence": [_pairs(r.convergence_ratio, r.convergence_pairs) for r in rows],
            "time_to_converge": [_pairs(r.time_to_converge_ratio, r.time_to_converge_pairs) for r in rows],
            "matmul_ratio": table_["matmul_ratio"].map(fmt_ratio),
        }
    )


def _headline_sentence(table_: pd.DataFrame, device: str) -> str:
    rows = table_[table_["device_label"] == device]
    parts = [f"{fmt_ratio(r.time_ratio)} as long with {r.cell.upper()}" for r in rows.itertuples()]
    return (
        f"On {device}, a training step takes {' and '.join(parts)} as with a plain RNN "
        f"(median over {rows['time_pairs'].max()} configurations and seeds; the gate matmuls alone would give 4x "
        "and 3x)."
    )


def _coverage_notes(trials: pd.DataFrame) -> list[str]:
    coverage = device_coverage(trials)
    return [
        note(
            f"Every trial on {r.device_label} was {'skipped' if r.skipped else 'lost'} ({r.first_error or 'no error'}"
            f"); it is left out of the plots."
        )  # fmt: skip
        for r in coverage.itertuples()
        if r.timed == 0
    ]


def time_section(results: Results, options: ReportOptions) -> Section:
    body = []
    for axis in cost.SWEEP_AXES:
        block, points = cost.time_sweep(results.trials, axis)
        problem = _sweep_problem(points, axis)
        if problem:
            body.append(note(f"Time per step against {axis}: {problem}"))
            continue
        caption = (
            f"Time per step against {axis}{_at(block)}; bars span the 25th-75th percentile of timed steps. "
            "Flat lines mean fixed per-step overhead dominates; rising ones, the matrix work."
        )
        body.append(figure(render(draw_time_sweep, points, axis), caption, f"time per step against {axis}"))
    return Section("time", "Time per step", "".join(body))


def ratio_section(results: Results, options: ReportOptions) -> Section:
    body = []
    for axis in cost.SWEEP_AXES:
        block, points = cost.ratio_sweep(results.trials, axis)
        problem = _sweep_problem(points, axis) if not points.empty else "no LSTM or GRU trial with a timed RNN sibling."
        if problem:
            body.append(note(f"Cost ratio against {axis}: {problem}"))
            continue
        caption = (
            f"LSTM and GRU time per step over RNN's against {axis}{_at(block)}. Near 1x the step is overhead-bound; "
            "toward 4x (LSTM) and 3x (GRU) the gate matmuls dominate."
        )
        body.append(figure(render(draw_ratio_sweep, points, axis), caption, f"cost ratio against {axis}"))
    return Section("ratio", "Cost ratio vs RNN", "".join(body))


def heatmap_section(results: Results, options: ReportOptions) -> Section:
    rows, cols = options.heatmap
    block, long = cost.heatmap_table(results.trials, rows, cols)
    title = "Ratio heatmap"
    if long.empty:
        return Section("heatmap", title, note(f"Ratio heatmap over {rows} x {cols}: no LSTM or GRU trial with a RNN "
                                               "sibling to compare."))  # fmt: skip
    missing = [a for a in (rows, cols) if long[a].nunique() < 2]
    if missing:
        values = ", ".join(f"{a}={sorted(long[a].unique().tolist())}" for a in missing)
        return Section("heatmap", title, note(f"Ratio heatmap over {rows} x {cols}: needs two values or more on "
                                               f"each axis; the results have {values}."))  # fmt: skip
    caption = (
        f"Median time per step over RNN's for each {rows} x {cols} pair{_at(block)}. "
        "Cells that approach 4 (LSTM) or 3 (GRU) are compute-bound; cells near 1 are overhead-bound."
    )
    return Section("heatmap", title, figure(render(draw_heatmap, long, rows, cols), caption, "ratio heatmap"))


def throughput_section(results: Results, options: ReportOptions) -> Section:
    body = [heading("Achieved GFLOP/s")]
    block, points = cost.column_sweep(results.trials, "hidden", "gflops")
    problem = _sweep_problem(points, "hidden")
    if problem:
        body.append(note(f"GFLOP/s against hidden: {problem}"))
    else:
        caption = (
            f"Achieved GFLOP/s (model FLOPs per step / time per step) against hidden{_at(block)}; higher is better."
        )
        body.append(figure(render(draw_metric_sweep, points, "hidden", "gflops", "GFLOP/s"), caption, "GFLOP/s"))
    body.append(heading("Overhead and efficiency"))
    for column, label, short, why in EFFICIENCY:
        values = pd.to_numeric(results.trials.get(column, pd.Series(dtype=float)), errors="coerce")
        if not np.isfinite(values).any():
            body.append(note(f"{label}: no values in these results ({why})."))
            continue
        block, points = cost.column_sweep(results.trials, "hidden", column)
        problem = _sweep_problem(points, "hidden")
        if problem:
            body.append(note(f"{label} against hidden: {problem}"))
            continue
        caption = f"{label} against hidden{_at(block)}."
        body.append(figure(render(draw_metric_sweep, points, "hidden", column, short), caption, label))
    return Section("throughput", "Throughput and efficiency", "".join(body))


EFFICIENCY = (
    ("launch_overhead_fraction", "Launch-overhead fraction (1 - graph / eager time)", "launch overhead fraction",
     "it needs the same trial in mode = eager and mode = graph"),
    ("peak_fraction", "Fraction of the device's measured matmul peak reached", "fraction of peak",
     "it needs the device's measured matmul peak, peak_tflops"),
)  # fmt: skip


def _sweep_problem(points: pd.DataFrame, axis: str) -> str:
    if points.empty:
        return "no timed trials."
    values = sorted(points[axis].unique().tolist())
    if len(values) < 2:
        return f"only one value ({values[0]}) among trials that differ in {axis} alone, nothing to plot."
    return ""


def _at(block: cost.Slice) -> str:
    described = block.describe()
    return f" (at {described})" if described else ""
