"""Report section on time to solve: the headline against the RNN, survival curves, the best-lr comparison."""

from __future__ import annotations

import numpy as np

from bench import solve
from bench.report.figures import render
from bench.report.options import ReportOptions
from bench.report.page import Section, details, figure, heading, note, paragraph, table
from bench.report.plots_solve import draw_sensitivity, draw_survival
from bench.report.runs import Results
from bench.report.units import fmt_number, fmt_time

HEADLINE_HEADERS = {
    "seq_len": "T", "config_label": "configuration",
    "lr": "best lr", "solved": "seeds solved", "median_time_to_solve_s": "median time to solve",
    "median_steps_to_solve": "median steps to solve", "vs_reference": "vs RNN (time to solve)",
    "budget": "budget",
}  # fmt: skip
LR_HEADERS = {
    "seq_len": "T", "config_label": "configuration",
    "lr": "lr", "seeds": "seeds", "solved": "solved", "median_time_to_solve_s": "median time to solve",
    "median_steps_to_solve": "median steps to solve", "median_final_loss": "median final loss", "best": "best",
}  # fmt: skip
TEXT = ["task", "config_label", "cell", "solved", "vs_reference", "budget", "best"]


def _time(value: object) -> str:
    return "not solved" if isinstance(value, float) and (np.isinf(value) or np.isnan(value)) else fmt_time(value)


def _steps(value: object) -> str:
    return "not solved" if isinstance(value, float) and (np.isinf(value) or np.isnan(value)) else fmt_number(value)


FORMATS = {"median_time_to_solve_s": _time, "median_steps_to_solve": _steps}


def _beside_text(outcomes) -> str:
    """How much training shared the CPU with another training process (`--train-processes`), if any did."""
    if "trained_beside" not in outcomes:
        return ""
    share = outcomes["trained_beside"].astype(float)
    shared = share[share > 0]
    if shared.empty:
        return ""
    return (
        f"{len(shared)} of {len(share)} trained trials trained beside another training process for part of "
        f"their epochs (median {shared.median():.0%} of them; --train-processes). Timing phases never ran "
        "beside training, but these wall times include whatever the neighbour cost (curves.csv marks each "
        "epoch; the README gives what it cost on a 2-core VM)."
    )


def solve_section(results: Results, options: ReportOptions) -> Section:
    outcomes = solve.solve_outcomes(results.trials)
    if outcomes.empty:
        return Section("solve", "Time to solve", note("No trial was trained: no time to solve to show."))
    best = solve.at_best_lr(outcomes)
    body = [heading("Time to solve against the RNN, each cell at its best learning rate")]
    body.append(paragraph(
        "Time to solve is training wall time (evaluation excluded) up to the convergence epoch. A trial that "
        "did not solve within its budget is censored: its time to solve is unknown and never filled in. Where "
        "both cells solved on some seeds, the ratio is the median over those seeds [min-max]; otherwise the "
        "counts are compared within the stated budget."
    ))  # fmt: skip
    beside = _beside_text(outcomes)
    if beside:
        body.append(paragraph(beside))
    body.append(table(solve.headline(outcomes), HEADLINE_HEADERS, FORMATS, cls="solve", text_columns=TEXT))
    body += _survival(best)
    body += _learning_rates(outcomes)
    return Section("solve", "Time to solve", "".join(body))


def _survival(best) -> list[str]:
    caption = (
        "Fraction of trials (seeds) solved against {what}, each cell at its best lr, one panel per task and "
        "length: the line that rises first gets there first on this machine. A cross marks a trial that "
        "stopped unsolved (censored at its budget); after one the fraction is a lower bound."
    )
    return [
        heading("Survival curves: fraction of seeds solved"),
        figure(render(draw_survival, solve.survival(best, "time"), "time"),
               caption.format(what="training wall time"), "fraction solved against training time"),
        figure(render(draw_survival, solve.survival(best, "steps"), "steps"),
               caption.format(what="training steps"), "fraction solved against training steps"),
    ]  # fmt: skip


def _learning_rates(outcomes) -> list[str]:
    summary = solve.lr_summary(outcomes)
    keys = outcomes.drop_duplicates("config").set_index("config")[["task", "seq_len", "config_label"]]
    summary = summary.join(keys, on="config")
    best = solve.best_lr(summary)
    marked = summary.merge(best[["config", "cell", "lr"]].assign(best="best"), on=["config", "cell", "lr"], how="left")
    marked["best"] = marked["best"].fillna("")
    shown = marked[["task", "seq_len", "config_label", "cell", "lr", "seeds", "solved", "median_time_to_solve_s",
                    "median_steps_to_solve", "median_final_loss", "best"]]  # fmt: skip
    tried = int(best["lrs_tried"].max()) if len(best) else 0
    body = [heading("Learning rates: each cell at its own best")]
    body.append(paragraph(
        f"Each cell's best lr per configuration (of up to {tried} tried): lowest median time to solve over seeds "
        "(fewer than half solved counts as not solved), then lowest median final loss."
    ))  # fmt: skip
    caption = (
        "Median time to solve against learning rate, per cell; an lr at which fewer than half the seeds solved "
        "sits on the 'not solved' row. A flat line means the cell is not sensitive to the lr in this range."
    )
    body.append(figure(render(draw_sensitivity, summary), caption, "time to solve against learning rate"))
    rows = table(shown, LR_HEADERS, FORMATS, cls="lr", text_columns=TEXT)
    body.append(details(f"{len(shown)} (configuration, cell, lr) rows", rows))
    return body
