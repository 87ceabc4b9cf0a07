"""`rnnbench report RUN_DIR [RUN_DIR ...] -o FILE`: the self-contained HTML comparison report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.cli.help import HelpFormatter
from bench.cli.show import resolve
from bench.errors import BenchError
from bench.report.options import ReportOptions
from bench.trial import AXES

DEFAULT_OUTPUT = "reports/report.html"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="render the HTML comparison report",
        description="Render one self-contained HTML file (inline plots, no scripts, readable offline) comparing "
        "LSTM and GRU against a plain RNN: headline ratios, sweeps, heatmap, convergence, cost against benefit, "
        "throughput, environment and every trial. Several runs are stacked into one report.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run folder(s), or a suite's results folder (its 'latest' run is used), e.g. results/smoke/latest",
    )
    p.add_argument("-o", "--output", metavar="FILE", default=DEFAULT_OUTPUT, help="HTML file to write")
    p.add_argument("--title", default=ReportOptions.title, help="page title")
    p.add_argument(
        "--heatmap",
        metavar="ROWS,COLS",
        default="hidden,seq_len",
        help="the two axes of the LSTM/RNN and GRU/RNN ratio heatmap",
    )
    p.add_argument(
        "--iqr-warning",
        type=float,
        metavar="FRACTION",
        default=0.1,
        help="flag trials whose step-time IQR exceeds this fraction of their median",
    )
    return p


def heatmap_axes(text: str) -> tuple[str, str]:
    """'hidden,seq_len' -> ('hidden', 'seq_len'); BenchError naming the valid axes otherwise."""
    names = [n.strip() for n in text.split(",")]
    bad = [n for n in names if n not in AXES or n in ("cell", "device", "seed")]
    if len(names) != 2 or names[0] == names[1] or bad:
        valid = ", ".join(a for a in AXES if a not in ("cell", "device", "seed"))
        raise BenchError(f"--heatmap {text!r}: give two different axes as ROWS,COLS, from: {valid}")
    return names[0], names[1]


def run(args: argparse.Namespace) -> int:
    from bench.report.build import render_report

    if args.iqr_warning <= 0:
        raise BenchError(f"--iqr-warning {args.iqr_warning}: must be a fraction > 0, e.g. 0.1")
    options = ReportOptions(args.title, heatmap_axes(args.heatmap), args.iqr_warning)
    started = time.perf_counter()
    text = render_report([resolve(d) for d in args.run_dirs], options)
    out = Path(args.output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise BenchError(f"cannot write {str(out)!r}: {e.strerror}") from None
    print(f"report: {out} ({len(text) / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)")
    return 0
