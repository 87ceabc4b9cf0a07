"""`rnnbench run SUITE`: expand a suite, train and time every trial, write results."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shlex
import shutil
import sys
from pathlib import Path

from bench.cli.help import HelpFormatter
from bench.errors import BenchError

DEFAULT_RESULTS = "results"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "run",
        help="run a suite",
        description="Train and time every trial of a suite; results go to results/<suite>/<run-id>/ "
        "(or --out DIR). Running again into the same --out resumes: complete trials are not re-run.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("suite", help="suite file (TOML), e.g. suites/seed.toml")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="run folder to write (or resume); default: results/<suite>/<UTC date-time>",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "mps"),
        default=None,
        help="run every trial on this device, overriding the suite",
    )
    p.add_argument(
        "--seeds", default=None, metavar="LIST", help="comma-separated seeds (e.g. 0,1,2) overriding the suite's seeds"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="AXIS=V1[,V2...]",
        help="replace an axis's values in every trial of the suite after expansion (repeatable; several values "
        "cross every trial with each), e.g. --set hidden=64,128 --set threads=1",
    )
    p.add_argument("--verbose", action="store_true", help="print the tutorial's per-epoch line for each trial")
    p.add_argument(
        "--dry-run", action="store_true", help="list the trials and a rough time estimate, run nothing, write nothing"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=0.1,
        metavar="S",
        help="seconds of timed rounds per trial (after warm-up; at least 15 rounds)",
    )
    p.add_argument("--warmup-rounds", type=int, default=5, metavar="N", help="untimed warm-up steps per trial")
    p.add_argument(
        "--inject-slowdown",
        default=None,
        metavar="[CELL:]FRACTION",
        help="make every timed step FRACTION slower (busy wait), or only CELL's; to test a gate",
    )
    p.add_argument(
        "--executor",
        choices=("local", "in-process", "dask"),
        default="local",
        help="local: one timing group after another in a child process that is restarted when it dies (a "
        "trial killed twice, e.g. out of memory, becomes a failed row); in-process: the same in this process, "
        "without that isolation; dask: on a Dask cluster",
    )
    p.add_argument(
        "--train-processes",
        default="auto",
        metavar="N",
        help="with --executor local: child processes whose CPU training epochs run side by side (every timing "
        "phase still has the machine alone); auto: one per usable core, at most 4",
    )
    p.add_argument(
        "--order-seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the shuffled order in which timing groups run (recorded in suite.resolved.json)",
    )
    p.add_argument(
        "--extend",
        action="store_true",
        help="resuming into --out with trials the folder does not have yet (other --seeds, an edited suite): "
        "add them to the run instead of refusing",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --executor dask: an existing scheduler (tcp://host:8786); default: a LocalCluster",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="with --executor dask: LocalCluster worker processes (none given: 1); with --scheduler: wait up to "
        "60 s for N workers to join",
    )
    p.add_argument(
        "--allow-shared-host",
        action="store_true",
        help="allow more timed workers on one host than it has devices (marks the rows)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="use deterministic algorithms (sets CUBLAS_WORKSPACE_CONFIG on cuda); recorded in env.json",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


MAX_SEED = 2**32  # torch.manual_seed takes up to 2**64 - 1, but the data generators derive seed * 7919 + 1
MAX_SEEDS = 10_000
MAX_TIME_BUDGET_S = 3600.0


def parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise BenchError(f"--seeds: {text!r} is not a comma-separated list of integers, e.g. 0,1,2") from None
    if not seeds or min(seeds) < 0 or max(seeds) >= MAX_SEED:
        raise BenchError(f"--seeds: {text!r} must list at least one seed, each in 0..{MAX_SEED - 1}")
    if len(seeds) > MAX_SEEDS:
        raise BenchError(f"--seeds: {len(seeds)} seeds; at most {MAX_SEEDS}")
    return seeds


def parse_axis_values(option: str, axis: str, text: str) -> list:
    """'64,128' -> [64, 128], typed by the axis and checked by `bench.suite.check_value`; a BenchError names
    the option, the bad value and what would be valid."""
    from bench.suite import check_value
    from bench.trial import AXIS_FIELDS

    kind = type(AXIS_FIELDS[axis].default)
    values = []
    for raw in text.split(","):
        raw = raw.strip()
        try:
            value = raw if kind is str else kind(raw)
        except ValueError:
            value = raw  # check_value says what the axis takes ("'x' is not an integer")
        problem = check_value(axis, value)
        if problem:
            raise BenchError(f"{option}: {problem}")
        values.append(value)
    return values


def parse_overrides(texts: list[str]) -> dict[str, list]:
    """--set AXIS=V1,V2 options -> {axis: values}; an unknown axis, a missing '=', a bad value or an axis
    given twice is a BenchError naming the valid choices."""
    import difflib

    from bench.trial import AXES

    overrides: dict[str, list] = {}
    for text in texts:
        axis, sep, values = text.partition("=")
        axis = axis.strip()
        if not sep:
            raise BenchError(f"--set {text!r}: expected AXIS=VALUE[,VALUE...], e.g. --set hidden=64,128")
        if axis not in AXES:
            close = difflib.get_close_matches(axis, AXES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BenchError(f"--set {text!r}: unknown axis {axis!r}{hint}; choose one of: {', '.join(AXES)}")
        if axis in overrides:
            raise BenchError(f"--set: axis {axis!r} given twice; list all its values in one --set {axis}=V1,V2")
        overrides[axis] = parse_axis_values(f"--set {axis}", axis, values)
    return overrides


def apply_overrides(trials, overrides: dict[str, list]) -> list:
    """Every trial crossed with every combination of the override values (each replacing that axis), then
    normalised and checked by its task and de-duplicated, as the suite's own expansion does."""
    import itertools
    import math

    from bench.suite import MAX_TRIALS

    count = len(trials) * math.prod(len(v) for v in overrides.values())
    if count > MAX_TRIALS:
        raise BenchError(f"--set: {count} trials after the overrides, more than the cap of {MAX_TRIALS}")
    out = []
    for trial in trials:
        for combo in itertools.product(*overrides.values()):
            out.append(checked_trial(trial.replace(**dict(zip(overrides, combo, strict=True))), "--set"))
    return _dedupe(out)


def checked_trial(trial, where: str):
    """`trial` with the axes its task pins set (`Task.normalize`); a BenchError starting with `where` when
    the task cannot run it."""
    from bench.tasks import TASKS

    task = TASKS.get(trial.task)()
    trial = task.normalize(trial)
    problem = task.check(trial)
    if problem:
        raise BenchError(f"{where}: trial {trial.label()}: {problem}")
    return trial


def parse_slowdown(text: str | None, cells: list[str]) -> dict[str, float]:
    """'0.25' -> every cell; 'lstm:0.25' -> that cell only."""
    if text is None:
        return {}
    cell, _, value = text.rpartition(":")
    if cell and cell not in cells:
        raise BenchError(f"--inject-slowdown: unknown cell {cell!r}; choose one of: {', '.join(cells)}")
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not 0 <= fraction <= 100:
        raise BenchError(f"--inject-slowdown: {value!r} is not a fraction >= 0 (0.25 = 25% slower)")
    return {c: fraction for c in ([cell] if cell else cells)}


def _check_args(args: argparse.Namespace) -> None:
    if not 0 < args.time_budget <= MAX_TIME_BUDGET_S:  # also refuses nan
        raise BenchError(f"--time-budget: {args.time_budget} must be a number of seconds in (0, {MAX_TIME_BUDGET_S:g}]")
    if args.out is not None and not args.out.strip():
        raise BenchError("--out: an empty folder name; give a folder, or leave --out out for the default place")
    if not 0 <= args.order_seed < MAX_SEED:
        raise BenchError(f"--order-seed: {args.order_seed} must be in 0..{MAX_SEED - 1}")
    if args.warmup_rounds < 0:
        raise BenchError(f"--warmup-rounds: {args.warmup_rounds} must be >= 0")
    if args.workers is not None and args.workers < 1:
        raise BenchError(f"--workers: {args.workers} must be >= 1")
    if args.executor == "local" and (args.scheduler or args.workers):
        raise BenchError("--scheduler and --workers need --executor dask")
    args.train_processes = train_processes(args.train_processes, args.executor)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise BenchError(f"--out: {args.out!r} exists and is not a folder")


MAX_AUTO_PROCESSES = 4  # each child holds its own torch (about 0.3 GB), and timing waits for every epoch


def train_processes(value: str, executor: str) -> int:
    """--train-processes as a count: 'auto' is one per usable core, at most MAX_AUTO_PROCESSES; 1 off local."""
    if value == "auto":
        from bench.machine_gate import usable_cpus

        return min(usable_cpus(), MAX_AUTO_PROCESSES) if executor == "local" else 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise BenchError(f"--train-processes: {value!r} is not a count; give a whole number >= 1, or auto")
    if n > 1 and executor != "local":
        raise BenchError(f"--train-processes {n} needs --executor local (the {executor} executor runs one group "
                         "at a time per process)")  # fmt: skip
    return n


def run(args: argparse.Namespace) -> int:
    from bench.models import CELLS
    from bench.suite import parse_suite

    _check_args(args)
    suite = parse_suite(args.suite, parse_seeds(args.seeds))
    if args.device:
        trials = tuple(_dedupe(t.replace(device=args.device) for t in suite.trials))
        suite = dataclasses.replace(suite, trials=trials)
    if args.overrides:
        trials = apply_overrides(suite.trials, parse_overrides(args.overrides))
        suite = dataclasses.replace(suite, trials=tuple(trials))
    slowdown = parse_slowdown(args.inject_slowdown, CELLS.names())
    if args.dry_run:
        from bench.cli.show import print_dry_run

        print_dry_run(suite, args.time_budget)
        return 0
    return _sweep(args, suite, slowdown)


def _dedupe(trials):
    seen = {}
    for t in trials:
        seen.setdefault(t.trial_id, t)
    return list(seen.values())


def _sweep(args: argparse.Namespace, suite, slowdown: dict[str, float]) -> int:
    from bench.runfolder import RunLock, new_run_folder

    if args.out:
        out = Path(args.out)
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BenchError(f"--out: cannot create {args.out!r}: {e.strerror or e}") from None
    else:
        out, created = new_run_folder(Path(DEFAULT_RESULTS) / suite.name), True
    try:
        lock = RunLock(out)
    except BenchError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    try:
        return _sweep_locked(args, suite, slowdown, out, created, lock)
    finally:
        lock.release()


def _sweep_locked(args: argparse.Namespace, suite, slowdown: dict[str, float], out: Path, created: bool,
                  lock) -> int:  # fmt: skip
    from bench import devices
    from bench.calibration import calibrate, peaks
    from bench.environment import benchmark_meta, env_info
    from bench.runner import in_process_executor, local_executor, run_sweep
    from bench.timing import TimingPlan
    from bench.train import TrialOptions

    try:
        all_trials, suite = _check_resume(out, suite, args.extend)
        executor = in_process_executor if args.executor == "in-process" else local_executor
        if args.executor == "local":
            executor = functools.partial(local_executor, processes=args.train_processes)
        extra = {"inject_slowdown": slowdown, "executor": args.executor, "suite_path": suite.path,
                 "order_seed": args.order_seed, "train_processes": args.train_processes}  # fmt: skip
        if args.executor == "dask":
            from bench.distributed import dask_executor

            executor, dask_info = dask_executor(args, out)
            extra.update(dask_info)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    lock.claim()
    if args.deterministic:
        from bench.train import set_deterministic

        set_deterministic()
    runnable = {(t.device, t.dtype) for t in suite.trials if not devices.skip_reason(t)}
    calibration = calibrate(runnable)
    extra["calibration"] = calibration
    options = TrialOptions(
        plan=TimingPlan(target_s=args.time_budget, warmup_rounds=args.warmup_rounds),
        slowdown=slowdown,
        on_epoch=print_epoch if args.verbose else None,
        suite=suite.name,
        peaks=peaks(calibration),
        deterministic=args.deterministic,
        order_seed=args.order_seed,
    )
    print(f"rnnbench: {len(suite.trials)} trials of suite {suite.name!r} -> {out}", file=sys.stderr)
    summary = run_sweep(suite, out, env_info(suite.name, extra), benchmark_meta(), options, executor,
                        progress=not args.no_progress, all_trials=all_trials)  # fmt: skip
    if not args.out:  # only runs in the default place are "the latest" of their suite
        _link_latest(out)
    _print_summary(summary, args)
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0


def print_epoch(trial, record) -> None:
    """The tutorial's per-epoch line (the loss is the held-out loss after this epoch's update)."""
    print(f"Predicted string: {record.predicted}, Epoch [{record.epoch}/{trial.max_epochs}] loss {record.loss:.3f}")


def _check_resume(out: Path, suite, extend: bool):
    """Resuming must ask for the trials the folder holds: refuse another suite, and refuse other trials
    (other --seeds, an edited suite) unless --extend adds them. Returns (every trial the run folder
    will describe, the suite to run: with --extend its text is the folder's first suite file)."""
    from bench.results import SUITE, read_env, read_resolved

    env = read_env(out)
    if env is None:
        return list(suite.trials), suite
    previous = env.get("suite")
    if previous != suite.name:
        raise BenchError(
            f"--out: {str(out)!r} holds a run of suite {previous!r}, not {suite.name!r}; resume it with its own "
            f"suite, or choose another --out"
        )
    old = read_resolved(out)
    if old is None:
        return list(suite.trials), suite
    old_ids = {t.trial_id for t in old}
    new = [t for t in suite.trials if t.trial_id not in old_ids]
    dropped = len(old_ids - {t.trial_id for t in suite.trials})
    if not new and not dropped:
        return list(suite.trials), suite
    if not extend:
        raise BenchError(
            f"--out: {str(out)!r} holds {len(old)} trials of suite {suite.name!r}; this command asks for "
            f"{len(suite.trials)}: {len(new)} not in the folder, {dropped} of the folder's not asked for now "
            f"(other --seeds or an edited suite). Resume with the same suite and options, pass --extend to add "
            f"the new trials to this run, or choose another --out"
        )
    if new:
        n = len(list(out.glob("suite.extend-*.toml"))) + 1
        (out / f"suite.extend-{n}.toml").write_text(suite.text)
    first = (out / SUITE).read_text() if (out / SUITE).exists() else suite.text
    return old + new, dataclasses.replace(suite, text=first)


def _link_latest(out: Path) -> None:
    """results/<suite>/latest -> the newest run, for `make report` and `rnnbench show`."""
    link = out.parent / "latest"
    try:
        if link.is_symlink() or not link.exists():
            tmp = out.parent / ".latest.tmp"
            if tmp.is_symlink():
                tmp.unlink()
            tmp.symlink_to(out.name)
            os.replace(tmp, link)
    except OSError:
        pass


def resume_command(out: Path) -> str:
    """This invocation's command line with --out pointing at `out`, so every other option is kept."""
    argv = list(sys.argv[1:])
    for i, arg in enumerate(argv):
        if arg == "--out" and i + 1 < len(argv):
            del argv[i : i + 2]
            break
        if arg.startswith("--out="):
            del argv[i]
            break
    return shlex.join(["rnnbench", *argv, "--out", str(out)])


def _print_summary(summary, args: argparse.Namespace) -> None:
    ran = sum(summary.counts.values())
    print(f"\n{ran} trials run, {summary.already_done} already complete, in {summary.wall_s:.1f} s "
          f"-> {summary.out_dir}", file=sys.stderr)  # fmt: skip
    for status in ("ok", "not_converged", "diverged", "failed", "skipped"):
        if summary.counts[status]:
            print(f"  {status:14s} {summary.counts[status]}", file=sys.stderr)
    if summary.interrupted:
        print(
            f"interrupted: complete trials are saved; resume with: {resume_command(summary.out_dir)}", file=sys.stderr
        )
