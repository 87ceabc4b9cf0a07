"""Dask scheduling overhead per trial: `python -m bench.benchmarks.dask_overhead [SUITE] [--workers N]`.

Runs a suite's trials on an embedded LocalCluster one at a time (so no trial waits in a
queue) and reports, per trial, the driver-side time from submit to result in hand minus
run_trial's wall time inside the worker: serialisation, scheduling, the task's start on the
worker and the result's trip back. The first trial also pays the worker's first import of
torch and rnnbench, so it is reported apart from the median of the rest.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.distributed import DaskExecutor
from bench.suite import parse_suite
from bench.timing import TimingPlan
from bench.train import TrialOptions


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.benchmarks.dask_overhead", description=__doc__)
    p.add_argument("suite", nargs="?", default="suites/smoke.toml")
    p.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    p.add_argument("--time-budget", type=float, default=0.1, help="seconds of timed rounds per trial")
    args = p.parse_args(argv)
    suite = parse_suite(args.suite, None)
    options = TrialOptions(plan=TimingPlan(target_s=args.time_budget), suite=suite.name)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        executor = DaskExecutor.local(args.workers, Path(tmp) / "dask-scratch", allow_shared_host=True)
        startup = time.perf_counter() - start
        try:
            done = list(executor.completions(list(suite.trials), options, window=1))
        finally:
            executor.close()
    print(f"suite {suite.name}: {len(done)} trials, one at a time, on a {args.workers}-worker LocalCluster")
    print(f"cluster start-up: {startup:.2f} s")
    for d in done:
        print(
            f"  {d.result.trial.label():55s} worker {d.worker_s * 1e3:8.1f} ms  overhead {d.overhead_s * 1e3:7.1f} ms"
        )
    rest = [d.overhead_s for d in done[1:]]
    print(f"first trial overhead (cold worker): {done[0].overhead_s * 1e3:.1f} ms")
    if rest:
        print(f"overhead per trial, median of the other {len(rest)}: {statistics.median(rest) * 1e3:.1f} ms "
              f"(min {min(rest) * 1e3:.1f}, max {max(rest) * 1e3:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
