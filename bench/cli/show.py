"""`rnnbench show RUN`: a terminal summary of a run folder; also the `run --dry-run` listing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.cli.help import HelpFormatter
from bench.report.units import fmt_time

SHOW_COLUMNS = [
    "task", "cell", "impl", "hidden", "layers", "seq_len", "batch", "device", "dtype", "seed", "status",
    "convergence_epoch", "final_loss", "time_per_step_median_s", "time_ratio_vs_rnn",
]  # fmt: skip


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "show",
        help="summarise a run in the terminal",
        description="Print a run's environment, status counts, median LSTM/GRU cost ratios vs RNN, "
        "and its trials. RUN is a run folder or a suite's results folder (its 'latest' run is used).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN", help="run folder, e.g. results/seed/latest")
    p.add_argument("--all", action="store_true", help="list every trial, not just the first 40")
    return p


def printable(value: object) -> object:
    """A string from the results with terminal control characters (ESC, CR, newlines) written as escapes,
    so a trial's error or name cannot move the cursor or recolour the terminal; other values unchanged."""
    if not isinstance(value, str):
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def resolve(run_dir: str) -> Path:
    path = Path(run_dir)
    if (path / "latest").is_dir() and not (path / "trials.csv").exists():
        return path / "latest"
    return path


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.results import load_run

    result = load_run(resolve(args.run_dir))
    t = result.trials
    env = result.env
    print(printable(f"run {result.dir}  suite {env.get('suite', '?')}  started {_first_start(result)}"))
    threads = sorted({int(n) for n in pd.to_numeric(t["torch_threads"], errors="coerce").dropna() if n > 0})
    print(printable(f"torch {env.get('torch_version', '?')}  threads used {', '.join(map(str, threads)) or '?'}  "
                    f"devices {env.get('devices', {})}  commit {str(env.get('git_commit', '?'))[:12]}"))  # fmt: skip
    print("status: " + ", ".join(f"{k} {v}" for k, v in t["status"].value_counts().items()))
    for line in _ratio_lines(result) + _solve_lines(t):
        print(printable(line))
    shown = t[[c for c in SHOW_COLUMNS if c in t.columns]].map(printable)
    shown["time_per_step_median_s"] = shown["time_per_step_median_s"].map(fmt_time)
    rows = shown if args.all else shown.head(40)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3g}".format):
        print(rows.to_string(index=False))
    if len(shown) > len(rows):
        print(f"... {len(shown) - len(rows)} more (--all lists them)")
    failed = t[t["status"].isin(["failed", "skipped"])]
    for (status, error), group in failed.groupby(["status", failed["error"].fillna("")], sort=False):
        first = group.iloc[0]
        which = f"{first['trial_id']} {first['cell']} {first['task']}" + (
            f" and {len(group) - 1} more" if len(group) > 1 else ""
        )
        print(printable(f"{status} x{len(group)} ({which}): {error}"))
    return 0


def _first_start(run) -> str:
    """When the run first started: sweep.json's first session (a resume rewrites env.json's started_at)."""
    try:
        sessions = json.loads((run.dir / "sweep.json").read_text()).get("sessions", [])
        return str(sessions[0].get("started_at") or run.env.get("started_at", "?"))
    except (OSError, ValueError, IndexError, AttributeError):
        return str(run.env.get("started_at", "?"))


def _solve_lines(trials) -> list[str]:
    """Per task, T and cell at its own best lr: seeds solved, median time to solve, and against the RNN."""
    from bench.report.units import fmt_time
    from bench.solve import headline, solve_outcomes

    outcomes = solve_outcomes(trials)
    if outcomes.empty:  # nothing trained (a timing-only run, e.g. `rnnbench compare`)
        return []
    table = headline(outcomes)
    if table.empty:
        return []
    lines = ["time to solve (each cell at its best lr; training time, evaluation excluded):"]
    for r in table.itertuples():
        median = (
            "not reached (half or more of the seeds censored)"
            if r.median_time_to_solve_s == float("inf")
            else fmt_time(r.median_time_to_solve_s)
        )
        lines.append(f"  {r.task} T={r.seq_len} {r.config_label} {r.cell} lr={r.lr:g}: solved {r.solved}, median "
                     f"{median}; vs RNN: {r.vs_reference}; budget {r.budget}")  # fmt: skip
    return lines


def _ratio_lines(run) -> list[str]:
    """Per device and cell: paired ratio vs the reference cell summarised over configurations, and the noise floor."""
    from bench.report.paired import config_table, noise_floor, summary
    from bench.report.runs import paired_rounds

    t = run.trials.assign(run="r", device_label=run.trials["device"])
    configs = config_table(t, paired_rounds("r", run.benchmarks))
    if configs.empty:
        return ["paired time per step vs RNN: none (no timed trial with a paired reference step)"]
    lines = ["paired time per step vs RNN (median over configurations [min, max]; each measured in its own rounds):"]
    for r in summary(configs).itertuples():
        width = configs[(configs["cell"] == r.cell) & (configs["device_label"] == r.device_label)]
        half = ((width["ratio_hi"] - width["ratio_lo"]) / 2 / width["ratio"]).median()
        lines.append(f"  {r.cell} on {r.device_label}: {r.median:.3g}x [{r.min:.3g}, {r.max:.3g}] over {r.configs} "
                     f"configurations; median 95% interval +-{half:.1%}")  # fmt: skip
    median, p90, n = noise_floor(configs)
    if n:
        lines.append(f"  noise floor: seeds of one configuration differ by {median - 1:.1%} (p90 {p90 - 1:.1%})")
    return lines


def print_dry_run(suite, time_budget: float) -> None:
    import pandas as pd

    from bench.estimate import cache_path, profile, sweep_seconds, trial_seconds

    models = profile()
    rows = [{"trial_id": t.trial_id, **{k: getattr(t, k) for k in SHOW_COLUMNS[:10]},
             "est_s": trial_seconds(t, models, time_budget)} for t in suite.trials]  # fmt: skip
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 10_000, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    total, startup = sweep_seconds(suite.trials, time_budget, models)
    print(f"\n{len(table)} trials of suite {suite.name!r}: estimated {total:.0f} s ({total / 60:.1f} min) for the "
          f"sweep, {startup:.0f} s of it start-up. Fitted to training steps timed on this machine ({cache_path()}); "
          "expect the real time within 2x of it, and shorter where trials solve early (patience). Nothing was run "
          "or written.")  # fmt: skip
