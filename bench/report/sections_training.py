"""Report sections on benefit and provenance: convergence, cost against benefit, environment, failures."""

from __future__ import annotations

import pandas as pd

from bench.report import training
from bench.report.figures import render
from bench.report.options import ReportOptions
from bench.report.page import Section, details, figure, heading, note, paragraph, table
from bench.report.plots_training import draw_convergence, draw_cost_benefit, draw_loss
from bench.report.provenance import device_coverage, measurement_warnings, problem_trials, trials_table
from bench.report.runs import Results
from bench.report.units import fmt_number, fmt_time

SUMMARY_HEADERS = {
    "median_convergence_epoch": "median convergence epoch", "median_first_hit_epoch": "median first-hit epoch",
    "median_final_loss": "median final loss", "max_epochs": "max epochs",
}  # fmt: skip
TIME_COLUMNS = ("time_per_step_median_s", "time_per_step_iqr_s")


def convergence_section(results: Results, options: ReportOptions) -> Section:
    body = [heading("Convergence epoch by cell and task")]
    points = training.convergence_points(results.trials)
    if points.empty:
        body.append(note("No trial was trained (all failed or were skipped): no convergence to show."))
        return Section("convergence", "Convergence", "".join(body))
    body.append(table(training.convergence_summary(results.trials), SUMMARY_HEADERS, text_columns=["task", "cell"]))
    caption = (
        "Each dot is one trial (every configuration and seed): the first epoch from which it stayed solved. "
        "Lower is better; 'never' holds trials that did not converge, coloured by why."
    )
    body.append(figure(render(draw_convergence, points), caption, "convergence epoch by cell and task"))
    body.append(heading("Loss curves"))
    bands = training.loss_bands(results.trials, results.curves)
    if bands.empty:
        body.append(note("No loss curves in these results (curves.csv is missing or empty)."))
    else:
        caption = (
            "Median held-out loss per epoch over the trials of a task still training then (early stopping ends "
            "solved ones), with the 25th-75th percentile band, "
            "against {x}; the dashed line is the trivial baseline a model that learned nothing would reach."
        )
        baselines = training.task_baselines(results.trials)
        body.append(figure(render(draw_loss, bands, baselines, "steps"), caption.format(x="training steps"),
                           "loss curves against training steps"))  # fmt: skip
        time_caption = caption.format(x="training wall time (the median at each epoch, evaluation excluded)")
        time_caption += ": a cell with a costlier step sits further right here than against steps."
        body.append(figure(render(draw_loss, bands, baselines, "time_s"), time_caption,
                           "loss curves against training wall time"))  # fmt: skip
    return Section("convergence", "Convergence", "".join(body))


def cost_benefit_section(results: Results, options: ReportOptions) -> Section:
    points = training.cost_benefit_points(results.trials)
    if points.empty:
        return Section("benefit", "Cost against benefit", note("No trial was both timed and trained."))
    caption = (
        "One point per trial: a costlier cell (further right) still wins when its point sits lower, having "
        "converged in less wall time; crosses never converged and show their whole training time."
    )
    return Section(
        "benefit", "Cost against benefit", figure(render(draw_cost_benefit, points), caption, "cost vs benefit")
    )


def provenance_section(results: Results, options: ReportOptions) -> Section:
    t = results.trials
    env = results.environment.reset_index(names="field")
    body = [heading("Environment"), table(env, text_columns=list(env.columns))]
    coverage = device_coverage(t)
    body += [heading("Devices"), table(coverage, {"first_error": "first error"})]
    body.append(heading("Measurement warnings"))
    noisy = measurement_warnings(t, options.iqr_warning)
    if noisy.empty:
        body.append(paragraph(f"No timing has an IQR above {options.iqr_warning:.0%} of its median."))
    else:
        body.append(note(f"{len(noisy)} of {len(t)} trials have a step-time IQR above {options.iqr_warning:.0%} of "
                         "their median: their times and ratios are less certain."))  # fmt: skip
        formats = {c: fmt_time for c in TIME_COLUMNS} | {"iqr_fraction": lambda v: f"{v:.0%}"}
        body.append(details(f"{len(noisy)} noisy trials", table(noisy, formats=formats, text_columns=["trial_id"])))
    body.append(heading("Failed, skipped and diverged trials"))
    problems = problem_trials(t)
    if problems.empty:
        body.append(paragraph("None."))
    else:
        body.append(table(problems, text_columns=["trial_id", "error"]))
    body.append(heading("All trials"))
    shown = trials_table(t)
    formats = {c: fmt_time for c in shown.columns if c.startswith("time_per_step")}
    body.append(details(f"{len(shown)} trials, {len(shown.columns)} columns", _trials_html(shown, formats)))
    return Section("provenance", "Environment and provenance", "".join(body))


def _trials_html(shown: pd.DataFrame, formats: dict) -> str:
    text = [c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])]
    return table(shown, formats={c: formats.get(c, fmt_number) for c in shown.columns}, text_columns=text)
