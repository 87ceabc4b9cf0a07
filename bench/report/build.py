"""Run folders -> the report's HTML text (the CLI writes it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench import __version__
from bench.report.options import ReportOptions
from bench.report.page import page
from bench.report.runs import Results, load_results
from bench.report.sections_cost import (
    headline_section,
    heatmap_section,
    ratio_section,
    throughput_section,
    time_section,
)
from bench.report.sections_solve import solve_section
from bench.report.sections_training import convergence_section, cost_benefit_section, provenance_section

SECTIONS = (
    headline_section, time_section, ratio_section, heatmap_section, convergence_section, solve_section,
    cost_benefit_section,
    throughput_section, provenance_section,
)  # fmt: skip


DEFAULTS = ReportOptions()


def render_report(run_dirs: Sequence[str | Path], options: ReportOptions = DEFAULTS) -> str:
    """The self-contained HTML report of one or more run folders; BenchError for a missing or unreadable one."""
    results = load_results(run_dirs)
    return page(options.title, subtitle(results), [section(results, options) for section in SECTIONS])


def subtitle(results: Results) -> str:
    t = results.trials
    env = results.environment
    suites = sorted({str(v) for v in env.loc["suite"]}) if "suite" in env.index else []
    dates = sorted({str(v) for v in env.loc["started_at"]}) if "started_at" in env.index else []
    runs = ", ".join(env.columns)
    return (
        f"{len(t)} trials from {len(env.columns)} run(s): {runs}; suite {', '.join(suites) or '?'}; "
        f"started {', '.join(dates) or '?'}; rnnbench {__version__}"
    )
