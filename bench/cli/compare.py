"""`rnnbench compare`: time the cells at one size given on the command line, no suite file needed.

Like PyTorch's fastrnns benchmark, the sizes are options (--hidden 512 --seq-len 100 --batch 64 ...): one
option per suite axis, read from `bench.trial.AXIS_FIELDS`. The trials (one per cell, task `synthetic`:
timing only) form one timing group and go through the same runner and results code as `rnnbench run`,
into a temporary run folder, or into --out DIR, a normal run folder that `report` and `gate` read.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

# Where compare's defaults differ from a Trial's: a size worth timing, and the timing-only task.
DEFAULTS = {"task": "synthetic", "hidden": 128, "seq_len": 50, "batch": 32}
DEFAULT_CELLS = "rnn,lstm,gru"
DEFAULT_TIME_BUDGET_S = 2.5
SUITE_NAME = "compare"


def _option(axis: str) -> str:
    return "--" + axis.replace("_", "-")


def add_parser(subparsers) -> argparse.ArgumentParser:
    from bench.trial import AXIS_FIELDS

    p = subparsers.add_parser(
        "compare",
        help="time the cells at one size given as options (no suite file)",
        description="Time every cell's training step at one configuration, paired with the RNN in shuffled "
        "rounds, and print each cell's time per step and its ratio to the RNN with 95% intervals. "
        "Each suite axis is an option (--hidden 256 --layers 2 --seq-len 100 --batch 32 --device cuda ...).",
    )
    p.add_argument("--cells", default=DEFAULT_CELLS, metavar="LIST", help=f"cells to time (default {DEFAULT_CELLS})")
    axes = p.add_argument_group("axes", "one value each; default: a Trial's default unless shown")
    for axis, f in AXIS_FIELDS.items():
        if axis == "cell":
            continue
        default = DEFAULTS.get(axis, f.default)
        choices = _choices_text(axis)
        axes.add_argument(_option(axis), dest=f"axis_{axis}", default=None, metavar=type(f.default).__name__.upper(),
                          help=f"{f.metadata['help']}{choices} (default {default})")  # fmt: skip
    p.add_argument("--out", metavar="DIR", default=None, help="keep the run folder here (default: not kept)")
    p.add_argument("--time-budget", type=float, default=DEFAULT_TIME_BUDGET_S, metavar="S",
                   help=f"seconds of timed rounds per timed step, on average (default {DEFAULT_TIME_BUDGET_S}; "
                   "at least 15 rounds)")  # fmt: skip
    p.add_argument("--warmup-rounds", type=int, default=2, metavar="N", help="untimed rounds first (default 2)")
    p.add_argument("--executor", choices=("local", "in-process"), default="local",
                   help="local: in a crash-isolated child process (default); in-process: in this one")  # fmt: skip
    p.add_argument("--order-seed", type=int, default=0, metavar="N", help="seed of the shuffled round order")
    p.add_argument("--deterministic", action="store_true", help="use deterministic algorithms")
    return p


def _choices_text(axis: str) -> str:
    from bench.trial import AXIS_FIELDS

    choices = AXIS_FIELDS[axis].metadata["choices"]  # registries (cell, task) would import torch for --help
    return f": {', '.join(choices)}" if choices else ""


def axis_values(args: argparse.Namespace) -> dict[str, object]:
    """Every axis but `cell`: the option's value (checked, typed) or compare's default."""
    from bench.cli.run import parse_axis_values
    from bench.trial import AXIS_FIELDS

    values = {}
    for axis, f in AXIS_FIELDS.items():
        if axis == "cell":
            continue
        text = getattr(args, f"axis_{axis}")
        if text is None:
            values[axis] = DEFAULTS.get(axis, f.default)
            continue
        parsed = parse_axis_values(_option(axis), axis, text)
        if len(parsed) != 1:
            raise BenchError(f"{_option(axis)}: {text!r}: one value only (run a suite with --set for sweeps)")
        values[axis] = parsed[0]
    return values


def build_trials(args: argparse.Namespace) -> list:
    """One trial per cell, normalised and checked by its task; BenchError on any bad option."""
    from bench.cli.run import checked_trial, parse_axis_values
    from bench.trial import Trial

    cells = list(dict.fromkeys(parse_axis_values("--cells", "cell", args.cells)))
    base = axis_values(args)
    return [checked_trial(Trial(**base, cell=cell), "compare") for cell in cells]


def suite_text(trials: list, command: str) -> str:
    """A suite file that expands to exactly these trials (saved as the run folder's suite.toml)."""
    import dataclasses

    fixed = {k: v for k, v in dataclasses.asdict(trials[0]).items() if k not in ("cell", "seed")}
    lines = [f"# written by: {command}", f"name = {json.dumps(SUITE_NAME)}",
             f"description = {json.dumps(command)}", f"seeds = [{trials[0].seed}]",
             f"cell = [{', '.join(json.dumps(t.cell) for t in trials)}]"]  # fmt: skip
    lines += [f"{k} = {json.dumps(v) if isinstance(v, str) else repr(v)}" for k, v in fixed.items()]
    return "\n".join(lines) + "\n"


def _sweep_args(args: argparse.Namespace, out: Path) -> argparse.Namespace:
    """The `rnnbench run` options its sweep reads."""
    return argparse.Namespace(out=str(out), time_budget=args.time_budget, warmup_rounds=args.warmup_rounds,
                              executor=args.executor, order_seed=args.order_seed, deterministic=args.deterministic,
                              extend=False, verbose=False, no_progress=True, scheduler=None, workers=None,
                              allow_shared_host=False, train_processes="1")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from bench.cli.run import _check_args, _sweep
    from bench.suite import Suite

    trials = build_trials(args)
    command = shlex.join(["rnnbench", *sys.argv[1:]])
    text = suite_text(trials, command)
    with tempfile.TemporaryDirectory(prefix="rnnbench-compare-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        sweep_args = _sweep_args(args, out)
        _check_args(sweep_args)
        if args.out and (out / "trials.csv").exists():
            raise BenchError(f"--out: {args.out!r} already holds a run; choose a new folder")
        suite = Suite(SUITE_NAME, command, str(out / "suite.toml"), tuple(trials), text)
        status = _sweep(sweep_args, suite, {})
        if (out / "trials.csv").exists():
            print_comparison(out, trials[0])
        if args.out:
            print(f"run folder: {out} (rnnbench report {shlex.quote(str(out))})")
        else:
            shutil.rmtree(out, ignore_errors=True)
    return status


@dataclass(frozen=True)
class CellTime:
    """One cell's line: its time per step (s) with the 95% interval of the median, and its paired ratio."""

    cell: str
    status: str
    median_s: float
    lo_s: float
    hi_s: float
    ratio: float
    ratio_lo: float
    ratio_hi: float
    rounds: int
    threads: int = 0  # torch intra-op threads it ran with
    error: str = ""


def cell_times(out: Path) -> list[CellTime]:
    """Read a compare run folder back (as `report` does) into one CellTime per trial, the reference
    cell's own line first when it was timed beside the group without being one of its trials."""
    from bench.results import load_run
    from bench.stats import median_interval

    run = load_run(out)
    samples, reference = run.samples(), run.reference_samples()
    rows = []
    for _, t in run.trials.iterrows():
        lo, hi = median_interval(samples.get(t["trial_id"], []))
        rows.append(CellTime(t["cell"], t["status"], t["time_per_step_median_s"], lo, hi, t["paired_ratio"],
                             t["paired_ratio_lo"], t["paired_ratio_hi"], int(t["rounds"]), int(t["torch_threads"]),
                             str(t["error"] or "")))  # fmt: skip
    timed = run.trials.dropna(subset=["reference_cell"])
    if len(timed) and not (run.trials["cell"] == timed["reference_cell"].iloc[0]).any():
        ref = reference.get(timed["trial_id"].iloc[0], [])
        lo, hi = median_interval(ref)
        rows.insert(0, CellTime(timed["reference_cell"].iloc[0], "reference", timed["reference_median_s"].iloc[0],
                                lo, hi, 1.0, 1.0, 1.0, len(ref)))  # fmt: skip
    return rows


def comparison_lines(rows: list[CellTime], header: str) -> list[str]:
    """The printed table: time per step and ratio to the reference, each with its 95% interval, and the
    noise floor (the widest interval, as a relative half-width: differences below it are not resolved)."""
    from bench.report.units import fmt_time

    lines = [header, f"{'cell':6s} {'time per step [95% interval]':34s} {'vs rnn, paired [95% interval]':30s} rounds"]
    widths, time_widths = [], []
    for r in rows:
        if r.status not in ("ok", "reference", "not_converged"):
            lines.append(f"{r.cell:6s} {r.status}: {r.error}")
            continue
        time = f"{fmt_time(r.median_s)} [{fmt_time(r.lo_s)}, {fmt_time(r.hi_s)}]"
        time_widths.append((r.hi_s - r.lo_s) / 2 / r.median_s)
        if r.ratio_lo == r.ratio_hi == r.ratio:
            ratio = "1 (the reference)"
        else:
            widths.append((r.ratio_hi - r.ratio_lo) / 2 / r.ratio)
            ratio = f"{r.ratio:.3f}x [{r.ratio_lo:.3f}, {r.ratio_hi:.3f}] +-{widths[-1]:.1%}"
        lines.append(f"{r.cell:6s} {time:34s} {ratio:30s} {r.rounds}")
    if widths:
        lines.append(f"resolution: ratios to +-{max(widths):.1%} (widest 95% interval, half-width), "
                     f"times to +-{max(time_widths):.1%}; smaller differences are not resolved")  # fmt: skip
    return lines


def print_comparison(out: Path, trial) -> None:
    rows = cell_times(out)
    threads = max(r.threads for r in rows)
    header = (f"{trial.task}: H={trial.hidden} L={trial.layers} T={trial.seq_len} B={trial.batch} input "
              f"{trial.input_size or trial.hidden}, {trial.impl} {trial.mode} {trial.device} {trial.dtype}, "
              f"{threads} torch threads, seed {trial.seed}")  # fmt: skip
    for line in comparison_lines(rows, header):
        print(line)
