"""Report sections on cost: the headline table, sweeps over each axis, the ratio heatmap, throughput.

Each section decides what it can show; a plot whose data is missing (one value on an axis,
no RNN to compare against) is replaced by a note saying why.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bench.report import cost, paired
from bench.report.figures import render
from bench.report.options import ReportOptions
from bench.report.page import Section, figure, heading, note, paragraph, table
from bench.report.plots_cost import draw_heatmap, draw_metric_sweep, draw_ratio_sweep, draw_time_sweep
from bench.report.provenance import device_coverage
from bench.report.runs import Results
from bench.report.units import fmt_ratio, fmt_time

HEADLINE_HEADERS = {
    "device_label": "device", "cell": "cell", "time_pairs": "pairs",
    "params_ratio": "parameters vs RNN", "convergence": "convergence epochs vs RNN",
    "time_to_converge": "time to converge vs RNN", "matmul_ratio": "matmul work vs RNN (theory)",
}  # fmt: skip


def _pairs(value: float, n: int) -> str:
    return f"{fmt_ratio(value)} (n={n})" if n else "- (none converged)"


def headline_section(results: Results, options: ReportOptions) -> Section:
    t = results.trials
    title = "Headline: cost over a plain RNN"
    body = _coverage_notes(t)
    configs = paired.config_table(t, results.paired)
    if configs.empty:
        body.append(note("No timed trial has a paired reference step (an RNN step timed in the same rounds), so "
                         "there is nothing to compare against."))  # fmt: skip
        return Section("headline", title, "".join(body))
    overview = paired.summary(configs)
    body += [paragraph(_headline_sentence(overview, device), "lead") for device in overview["device_label"].unique()]
    body.append(paragraph(_noise_sentence(configs, t), ""))
    body.append(table(_config_display(configs), CONFIG_HEADERS, cls="headline",
                      text_columns=["device_label", "cell", "config", "overlaps"]))  # fmt: skip
    body.append(paragraph(
        "Per configuration (every axis but cell and seed): the median of the per-round ratios of the cell's training "
        "step to an RNN step timed in the same rounds, pooled over its seeds; the 95% interval is a two-level "
        "bootstrap over the seeds and the rounds within each (one seed: the order-statistic interval of its rounds). "
        "'overlaps 1x' marks a cell whose interval includes 1x: no measurable cost difference. Times are the median "
        "over seeds; their interval spans the seeds' medians widened by the machine's drift during the run.",
        "caption"))  # fmt: skip
    quality = cost.headline_table(t, options.confidence, options.random_state)
    if not quality.empty:
        body.append(heading("Parameters and convergence vs RNN"))
        body.append(table(_headline_display(quality), HEADLINE_HEADERS, cls="headline",
                          text_columns=["device_label", "cell"]))  # fmt: skip
        body.append(paragraph("Medians over every configuration and seed with an RNN sibling (same axes and run); "
                              "the theory column counts gate matrices only, which large, compute-bound sizes "
                              "approach.", "caption"))  # fmt: skip
    return Section("headline", title, "".join(body))


CONFIG_HEADERS = {
    "device_label": "device", "cell": "cell", "config": "configuration", "seeds": "seeds",
    "ratio": "time per step vs RNN [95% CI]", "time": "time per step [interval]", "reference": "RNN step",
    "spread": "seed spread", "overlaps": "",
}  # fmt: skip


def _config_display(configs: pd.DataFrame) -> pd.DataFrame:
    rows = list(configs.itertuples())
    return pd.DataFrame({
        "device_label": configs["device_label"], "cell": configs["cell"].astype(str).str.upper(),
        "config": configs["config"], "seeds": configs["seeds"],
        "ratio": [fmt_ratio(r.ratio, r.ratio_lo, r.ratio_hi) for r in rows],
        "time": [f"{fmt_time(r.time_s)} [{fmt_time(r.time_lo_s)}, {fmt_time(r.time_hi_s)}]" for r in rows],
        "reference": configs["reference_time_s"].map(fmt_time),
        "spread": [f"{(r.seed_spread - 1):.1%}" if r.seed_spread == r.seed_spread else "-" for r in rows],
        "overlaps": ["overlaps 1x" if r.overlaps_1x else "" for r in rows],
    })  # fmt: skip


def _noise_sentence(configs: pd.DataFrame, trials: pd.DataFrame) -> str:
    median, p90, n = paired.noise_floor(configs)
    parts = []
    if n:
        parts.append(f"Noise floor of this run: the same configuration timed under different seeds, at different "
                     f"moments of the shuffled sweep, gave paired ratios that differ by a median of {median - 1:.1%} "
                     f"(p90 {p90 - 1:.1%}, over {n} configurations); smaller differences are not real.")  # fmt: skip
    else:
        parts.append("This run has one seed per configuration, so its noise floor across repeats is unknown; run "
                     "more seeds to see it. Each ratio's interval still comes from its paired rounds.")  # fmt: skip
    drift = paired.machine_drift(trials)
    if drift == drift:
        steady = drift <= paired.UNSTEADY_DRIFT
        parts.append(
            f"The machine's own speed (a fixed workload timed in every round) varied by x{drift:.2f} "
            f"(p90/p10) during the run"
            + (
                ": steady, so this run's absolute times hold for the machine as it ran then (a run on a busier host "
                "can land outside their intervals; across runs, compare ratios)."
                if steady
                else ": too unsteady for absolute times to be compared with another run; compare ratios."
            )
        )
    return " ".join(parts)


def _headline_display(table_: pd.DataFrame) -> pd.DataFrame:
    """`cost.headline_table` as text: ratios with their interval, pair counts beside convergence ratios."""
    rows = list(table_.itertuples())
    return pd.DataFrame(
        {
            "device_label": table_["device_label"],
            "cell": table_["cell"].str.upper(),
            "time_pairs": table_["time_pairs"],
            "params_ratio": table_["params_ratio"].map(fmt_ratio),
            "convergence": [_pairs(r.convergence_ratio, r.convergence_pairs) for r in rows],
            "time_to_converge": [_pairs(r.time_to_converge_ratio, r.time_to_converge_pairs) for r in rows],
            "matmul_ratio": table_["matmul_ratio"].map(fmt_ratio),
        }
    )


def _headline_sentence(overview: pd.DataFrame, device: str) -> str:
    rows = overview[overview["device_label"] == device]
    parts = [f"{r.cell.upper()} {fmt_ratio(r.median)}" for r in rows.itertuples()]
    ranges = "; ".join(f"{r.cell.upper()} {fmt_ratio(r.min)} to {fmt_ratio(r.max)} over {r.configs}"
                       for r in rows.itertuples())  # fmt: skip
    theory = [f"{cell.upper()} {cost.MATMUL_RATIO[cell]:g}x" for cell in rows["cell"] if cell in cost.MATMUL_RATIO]
    return (
        f"On {device}, a training step costs {', '.join(parts)} that of a plain RNN: the median over "
        f"configurations of different sizes ({ranges}; a summary over sizes, not a measurement interval: each "
        f"configuration's own interval is in the table)"
        + (f". The gate matmuls alone would give {' and '.join(theory)}." if theory else ".")
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


def _with_intervals(points: pd.DataFrame, block: cost.Slice, results: Results, axis: str, reference: bool):
    """`points` plus each point's interval columns from `paired.config_table` of the slice's trials."""
    keys = ["device_label", "cell", axis]
    table = paired.config_table(block.trials, results.paired, reference=reference)
    if table.empty:
        return points
    wanted = ["ratio_lo", "ratio_hi", "time_lo_s", "time_hi_s", "overlaps_1x"]
    return points.merge(table[keys + wanted].drop_duplicates(keys), on=keys, how="left")


def _left_out(what: str, left_out: list[tuple[str, str]]) -> list[str]:
    """One compact line for every axis a section could not plot, grouped by reason."""
    reasons: dict[str, list[str]] = {}
    for axis, problem in left_out:
        reasons.setdefault(re.sub(r" \([^)]*\)", "", problem), []).append(axis)  # values differ per axis
    return [note(f"{what} not plotted against {', '.join(axes)}: {reason.rstrip('.')}.")
            for reason, axes in reasons.items()]  # fmt: skip


def time_section(results: Results, options: ReportOptions) -> Section:
    body, left_out = [], []
    for axis in cost.SWEEP_AXES:
        block, points = cost.time_sweep(results.trials, axis)
        points = _with_intervals(points, block, results, axis, reference=True)
        problem = _sweep_problem(points, axis)
        if problem:
            left_out.append((axis, problem))
            continue
        caption = (
            f"Time per step against {axis}{_at(block)}: median over seeds; bars span the seeds' medians widened by "
            "the machine's drift during the run (absolute times are not paired: read differences within a bar as "
            "noise). Flat lines mean fixed per-step overhead dominates; rising ones, the matrix work."
        )
        body.append(figure(render(draw_time_sweep, points, axis), caption, f"time per step against {axis}"))
    return Section("time", "Time per step", "".join(body + _left_out("Time per step", left_out)))


def ratio_section(results: Results, options: ReportOptions) -> Section:
    body, left_out = [], []
    for axis in cost.SWEEP_AXES:
        block, points = cost.ratio_sweep(results.trials, axis)
        points = _with_intervals(points, block, results, axis, reference=False)
        problem = _sweep_problem(points, axis) if not points.empty else "no trial with a paired reference step."
        if problem:
            left_out.append((axis, problem))
            continue
        caption = (
            f"Each cell's time per step over an RNN step timed in the same rounds, against {axis}{_at(block)}, with "
            "its 95% interval (paired rounds and seeds); a hollow marker's interval includes 1x. Near 1x the step "
            "is overhead-bound; toward 4x (LSTM) and 3x (GRU) the gate matmuls dominate."
        )
        body.append(figure(render(draw_ratio_sweep, points, axis), caption, f"cost ratio against {axis}"))
    return Section("ratio", "Cost ratio vs RNN", "".join(body + _left_out("Cost ratio", left_out)))


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
        return f"only one value ({values[0]}) among trials that differ in that axis alone"
    return ""


def _at(block: cost.Slice) -> str:
    described = block.describe()
    return f" (at {described})" if described else ""
