"""`make overhead`: does the harness report the time a bare loop would measure?

For each configuration, the same training step is timed, interleaved in one process, by
the harness (pytest-benchmark pedantic rounds, exactly as `rnnbench run` does) and by a
bare loop under torch.utils.benchmark.Timer.blocked_autorange. The ratio of their medians
should sit within 0.95-1.05. On a GPU the graphed step is compared with a bare
CUDA-graph replay loop as well. With --run DIR it also reports a finished sweep's wall
time against the sum of its trials' training time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.utils.benchmark as tbench

from bench.tasks import TASKS
from bench.timing import TimingPlan, time_step
from bench.train import _make_step, _synced, _to, build
from bench.trial import Trial

CONFIGS = {
    "hello toy (H=8, L=2, T=5, B=1)": Trial(cell="lstm", encoding="embedding", hidden=8, layers=2),
    "H=128, T=50, B=32": Trial(
        task="synthetic", encoding="dense", cell="lstm", hidden=128, seq_len=50, batch=32, input_size=32
    ),  # fmt: skip
    "H=256, L=2, T=100, B=32": Trial(
        task="synthetic", encoding="dense", cell="lstm", hidden=256, layers=2, seq_len=100, batch=32, input_size=128
    ),  # fmt: skip
}


def compare(trial: Trial, repeats: int, budget_s: float) -> tuple[float, float]:
    """Median over `repeats` interleaved pairs of (harness median, bare-loop median), seconds."""
    task = TASKS.get(trial.task)()
    torch.manual_seed(0)
    model, opt = build(trial, task)
    batch = _to(task.batch(trial, trial.batch, torch.Generator().manual_seed(0)), trial)
    step, _ = _make_step(model, opt, task, trial, batch)
    timed = _synced(step, batch, trial.device)
    harness, bare = [], []
    plan = TimingPlan(target_s=budget_s)
    for _ in range(repeats):
        harness.append(time_step(timed, trial.label(), "overhead", plan)["stats"]["median"])
        timer = tbench.Timer("step(x, y)", globals={"step": step, "x": batch.x, "y": batch.y},
                             num_threads=torch.get_num_threads())  # fmt: skip
        bare.append(timer.blocked_autorange(min_run_time=budget_s).median)
    return statistics.median(harness), statistics.median(bare)


def sweep_overhead(run_dir: Path) -> str:
    sweep = json.loads((run_dir / "sweep.json").read_text())
    import pandas as pd

    trials = pd.read_csv(run_dir / "trials.csv")
    wall = sum(s["wall_s"] for s in sweep["sessions"])
    train = float(trials["train_time_s"].sum())
    return (
        f"sweep {run_dir}: wall {wall:.1f} s, training steps {train:.1f} s "
        f"({train / wall:.0%}); harness overhead incl. evaluation and timing: {1 - train / wall:.0%} of the total"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="interleaved harness/bare pairs per config (default 5)")
    p.add_argument("--budget", type=float, default=0.3, help="seconds of timing per measurement (default 0.3)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if present")
    p.add_argument("--run", type=Path, default=None, help="a finished run folder to report sweep overhead for")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"{'config':28s} {'mode':6s} {'harness':>10s} {'bare loop':>10s} {'ratio':>6s}")
    modes = ["eager", "graph"] if args.device == "cuda" else ["eager"]
    worst = 0.0
    for name, trial in CONFIGS.items():
        for mode in modes:
            harness, bare = compare(trial.replace(device=args.device, mode=mode), args.repeats, args.budget)
            ratio = harness / bare
            worst = max(worst, abs(ratio - 1))
            print(f"{name:28s} {mode:6s} {harness * 1e3:8.3f}ms {bare * 1e3:8.3f}ms {ratio:6.3f}")
    print(f"largest deviation from 1: {worst:.3f} (target <= 0.05)")
    if args.run:
        print(sweep_overhead(args.run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
