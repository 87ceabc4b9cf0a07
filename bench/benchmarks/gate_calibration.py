"""Calibrate the regression gate on this machine: `python -m bench.benchmarks.gate_calibration [--pairs N]`.

Runs the smoke suite 3N+1 times through the real CLI, interleaved so that a slow drift of the machine
hits every kind of run alike: A0, then for i = 1..N: B_i (--inject-slowdown 0.25), C_i (lstm:0.25), A_i.
Pairs, under each normalisation side by side: A/A = (A_i-1, A_i); A/B = (A_i-1, B_i), the uniform slowdown,
under --normalize none and machine, and (A_i-1, C_i), the LSTM-only one, under --normalize rnn (which
cancels a uniform slowdown by design). A false alarm is an A/A pair the gate fails; a detection is an A/B
pair it fails (under rnn: with every LSTM configuration flagged; under machine: with every time-gated
configuration flagged; the gate judges time per configuration, its seeds pooled). The injected
slowdown is a busy wait in the training steps (and the RNN reference's), never in the machine workload.
It then measures how well the machine workload tracks the machine on the A runs:
the correlation of its rounds with the RNN step's rounds, of its medians with the RNN step's across runs,
and the A/A spread of each trial's median in seconds, x RNN step and x machine workload.
Complete runs already in --out are reused (the run command resumes them), so a second call with the same
settings only re-gates. The runs use one torch thread by default, as the example CI workflow does: on a
2-core machine that also runs other work, two intra-op threads wait on each other's preemption and step
times swing by 10x (`--threads 0` to see it).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from bench.gate import DEFAULT_RULES, Finding, failed, gate, parse_rules
from bench.results import Run, load_run

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.benchmarks.gate_calibration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pairs", type=int, default=10, metavar="N", help="A/A and A/B pairs per mode (default 10)")
    p.add_argument("--out", default=None, metavar="DIR", help="where the runs go (default results/gate-calibration/"
                   "<settings>); complete runs there are reused")  # fmt: skip
    p.add_argument("--suite", default=str(ROOT / "suites" / "smoke.toml"), help="suite file (default the smoke suite)")
    p.add_argument("--time-budget", type=float, default=0.1, metavar="S", help="rnnbench run --time-budget (0.1)")
    threads = "OMP_NUM_THREADS for the runs, as in the CI workflow; 0 = torch's default (default 1)"
    p.add_argument("--threads", type=int, default=1, metavar="N", help=threads)
    p.add_argument("--fdr", type=float, default=0.05, help="false discovery rate (default 0.05)")
    args = p.parse_args(argv)
    if args.pairs < 1:
        p.error("--pairs must be >= 1")
    out = Path(args.out or f"results/gate-calibration/budget{args.time_budget:g}-threads{args.threads}")
    print(f"gate calibration: {Path(args.suite).name}, {args.pairs} A/A and {args.pairs} A/B pairs per mode, "
          f"--time-budget {args.time_budget:g} s, torch threads {args.threads or 'default'}, {os.cpu_count()} "
          f"CPUs, false discovery rate {args.fdr:g}, runs in {out}")  # fmt: skip
    start = time.perf_counter()
    a, b, c = make_runs(args, out)
    print(f"{3 * args.pairs + 1} smoke runs ready in {time.perf_counter() - start:.0f} s")
    aa = list(zip(a[:-1], a[1:], strict=True))
    outcome = {}
    for normalize, slowed, injected in (("none", b, "0.25"), ("rnn", c, "lstm:0.25"), ("machine", b, "0.25")):
        outcome[normalize] = report(normalize, injected, aa, list(zip(a[:-1], slowed, strict=True)), args.fdr)
    print_tracking(a)
    n = args.pairs
    for normalize, most, least in (("rnn", 0, math.ceil(0.9 * n)), ("machine", n // 10, math.ceil(0.8 * n))):
        alarms, hits = outcome[normalize]
        print(f"target (normalize {normalize}, N = {n}): <= {most} false alarms and >= {least} detections: "
              f"{'MET' if alarms <= most and hits >= least else 'NOT MET'} ({alarms} and {hits})")  # fmt: skip
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def make_runs(args: argparse.Namespace, out: Path) -> tuple[list[Run], list[Run], list[Run]]:
    """Plain runs A0..AN, all-cells-slowed B1..BN, LSTM-slowed C1..CN, in interleaved order."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    order = [("A0", None)]
    for i in range(1, args.pairs + 1):
        order += [(f"B{i}", "0.25"), (f"C{i}", "lstm:0.25"), (f"A{i}", None)]
    for name, slowdown in order:
        slowed = ["--inject-slowdown", slowdown] if slowdown else []
        cmd = [sys.executable, "-m", "bench", "run", args.suite, "--out", str(out / name), "--no-progress",
               "--time-budget", str(args.time_budget), *slowed]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"run {name} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    runs = {name: load_run(out / name) for name, _ in order}
    return ([runs[f"A{i}"] for i in range(args.pairs + 1)], [runs[f"B{i}"] for i in range(1, args.pairs + 1)],
            [runs[f"C{i}"] for i in range(1, args.pairs + 1)])  # fmt: skip


def _rules(threshold: float) -> tuple:
    return parse_rules([f"time:median:{threshold:g}%"] + [r for r in DEFAULT_RULES if not r.startswith("time")])


def _is_lstm(f: Finding) -> bool:
    return f.label.split("-")[1] == "lstm"  # labels read task-cell-impl-...


def detected(findings: list[Finding], normalize: str) -> bool:
    """none: the gate fails; rnn (only LSTM slowed): every LSTM configuration flagged; machine: every timed one."""
    if normalize == "none":
        return failed(findings)
    timed = [f for f in findings if f.metric == "time" and f.verdict != "skipped"]
    slowed = [f for f in timed if _is_lstm(f)] if normalize == "rnn" else timed
    return bool(slowed) and all(f.verdict == "regression" for f in slowed)


def report(normalize: str, injected: str, aa: list[tuple], ab: list[tuple], fdr: float) -> tuple[int, int]:
    """Print false alarms and detections at the default threshold, and the A/A noise; (alarms, detections)."""
    rules = _rules(10)
    aa_findings = [gate(x, y, rules, normalize, fdr) for x, y in aa]
    ab_findings = [gate(x, y, rules, normalize, fdr) for x, y in ab]
    alarms = sum(failed(f) for f in aa_findings)
    hits = sum(detected(f, normalize) for f in ab_findings)
    flagged = sum(g.verdict == "regression" for f in aa_findings for g in f)
    timed = sum(g.metric == "time" and g.verdict != "skipped" for f in aa_findings for g in f)
    print(f"\n--normalize {normalize}, {rules[0].text}, A/B = --inject-slowdown {injected}:")
    print(f"  false alarms: {alarms}/{len(aa)} A/A pairs fail ({flagged} of {timed} comparisons flagged)")
    what = {"none": "fail", "rnn": "flag every LSTM configuration", "machine": "flag every timed configuration"}[
        normalize
    ]
    wrong = sum(g.verdict == "regression" and not _is_lstm(g) for f in ab_findings for g in f)
    extra = f"; {wrong} non-LSTM configurations flagged too" if normalize == "rnn" else ""
    print(f"  detections:   {hits}/{len(ab)} A/B pairs {what} ({sum(map(failed, ab_findings))} fail){extra}")
    changes = np.abs(_time_changes(aa_findings, lambda g: True))
    ab_changes = _time_changes(ab_findings, _is_lstm if normalize == "rnn" else lambda g: True)
    print(f"  A/A |change of median|: p50 {np.median(changes):.1%}, p90 {np.quantile(changes, 0.9):.1%}, "
          f"max {changes.max():.1%}; A/B change of the slowed configurations: min {min(ab_changes):+.1%}, "
          f"p50 {np.median(ab_changes):+.1%}")  # fmt: skip
    significant = [g.change for f in aa_findings for g in f if g.metric == "time" and g.q_value < fdr]
    smallest = math.ceil(max([0.0] + significant) * 1000) / 10  # in %, rounded up to 0.1%
    hits_there = sum(detected(gate(x, y, _rules(smallest), normalize, fdr), normalize) for x, y in ab)
    print(f"  smallest threshold with no A/A false alarm: {smallest:g}% (detections there: {hits_there}/{len(ab)})")
    return alarms, hits


def _time_changes(findings: list[list[Finding]], keep) -> list[float]:
    return [g.change for f in findings for g in f if g.metric == "time" and g.verdict != "skipped" and keep(g)]


def print_tracking(runs: list[Run]) -> None:
    """How well the machine workload follows the machine, on same-code runs: per trial, the Spearman
    correlation of its rounds with the RNN step's rounds (within a run) and of its median with the RNN
    step's median (across runs); and the spread (coefficient of variation across runs) of each trial's
    median step time in seconds, x RNN step and x machine workload."""
    rounds, medians, spread = [], [], {"s": [], "x RNN step": [], "x machine workload": []}
    for t in sorted(set.intersection(*(set(r.machine_samples()) for r in runs))):
        own, ref, machine = ([np.asarray(getattr(r, kind)()[t], dtype=float) for r in runs]
                             for kind in ("samples", "reference_samples", "machine_samples"))  # fmt: skip
        rounds += [spearmanr(m, r).statistic for m, r in zip(machine, ref, strict=True) if len(m) == len(r) > 2]
        medians.append(spearmanr([np.median(m) for m in machine], [np.median(r) for r in ref]).statistic)
        for unit, divisor in (("s", None), ("x RNN step", ref), ("x machine workload", machine)):
            values = [np.median(o if divisor is None else o / divisor[i]) for i, o in enumerate(own)]
            spread[unit].append(np.std(values) / np.mean(values))
    if not medians:
        print("\nmachine tracking: no run has machine workload rounds (runs from before they were recorded)")
        return
    print(f"\nmachine tracking ({len(runs)} same-code runs, {len(medians)} trials; median over trials, [p10, p90]):")
    print(f"  Spearman r of machine workload and RNN step rounds, within a trial's run: {_spread(rounds, '.2f')}")
    across = _spread(medians, ".2f") if len(runs) >= 4 else "- (needs 4 or more runs: --pairs 3)"
    print(f"  Spearman r of their medians across the runs, per trial: {across}")
    for unit, values in spread.items():
        print(f"  spread of a trial's median across the runs (coefficient of variation), {unit}: {_spread(values)}")


def _spread(values: list[float], fmt: str = ".1%") -> str:
    values = [v for v in values if v == v]  # a constant series has no correlation (NaN)
    if not values:
        return "-"
    p10, p50, p90 = np.quantile(values, [0.1, 0.5, 0.9])
    return f"{p50:{fmt}} [{p10:{fmt}}, {p90:{fmt}}]"


if __name__ == "__main__":
    raise SystemExit(main())
