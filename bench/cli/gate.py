"""`rnnbench gate BASELINE CURRENT`: fail CI on a real slowdown or a loss of convergence, not on noise.

Exit status: 0 pass, 1 at least one regression, 2 bad input (the CLI framework prints `error: ...`).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from bench import SCHEMA_VERSION
from bench.cli.show import printable
from bench.errors import BenchError
from bench.gate import DEFAULT_RULES, METRICS, NORMALIZE, VERDICTS, Finding, failed, gate, parse_rules

ROW_METRICS = ("status",) + METRICS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gate",
        help="compare a run with a baseline run; exit 1 on a regression",
        description="Compare CURRENT with BASELINE trial by trial (matched by trial_id). Time regresses when "
        "the ratio of median step times exceeds the rule's threshold AND a Mann-Whitney U test on the raw "
        "per-round samples is significant after a Benjamini-Hochberg correction across all trials; quality "
        "(convergence epoch, final loss) is deterministic on CPU and uses plain thresholds. A trial that "
        "failed, diverged or was skipped now but ran in the baseline is a regression. Exit 0 = pass, "
        "1 = regression, 2 = usage or input error.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "baseline",
        metavar="BASELINE_DIR",
        help="run folder of the baseline (e.g. the base commit); a suite's results folder means its latest run",
    )
    p.add_argument("current", metavar="CURRENT_DIR", help="run folder to judge (e.g. the head commit)")
    p.add_argument(
        "--rules",
        nargs="+",
        default=list(DEFAULT_RULES),
        metavar="RULE",
        help="rules replacing the defaults, one per metric: time:median:P%% (ratio of medians, plus the rank "
        "test); convergence_epoch:[+N][:P%%] (converges more than N epochs and P%% later, or no longer "
        "converges); final_loss:[+X][:P%%] (final loss higher by more than X and P%%). Leave a metric out to "
        "not gate on it; put --rules after the two folders",
    )
    p.add_argument(
        "--normalize",
        choices=NORMALIZE,
        default="none",
        help="rnn: divide each round of a trial by its RNN sibling's step timed interleaved with it (else by the "
        "RNN sibling trial's median in the same run), so a faster, slower or busy machine cancels out "
        "(recommended on shared CI runners; RNN trials are then not time-gated); none: compare seconds "
        "(only on the same quiet machine)",
    )
    p.add_argument(
        "--fdr",
        type=float,
        default=0.05,
        metavar="Q",
        help="false discovery rate of the Benjamini-Hochberg correction over the time tests",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="write the verdict and every finding as JSON")
    p.add_argument(
        "--markdown", metavar="FILE", default=None, help="write a summary for a CI job (e.g. $GITHUB_STEP_SUMMARY)"
    )
    return p


def run(args: argparse.Namespace) -> int:
    from bench.cli.show import resolve
    from bench.results import load_run

    rules = parse_rules(args.rules)  # bad input is caught before any file is read
    if not 0 < args.fdr < 1:
        raise BenchError(f"--fdr: {args.fdr} must be between 0 and 1 (0.05 = 5%)")
    for flag in ("json", "markdown"):
        path = getattr(args, flag)
        if path and Path(path).is_dir():
            example = str(Path(path) / ("gate.json" if flag == "json" else "gate.md"))
            raise BenchError(f"--{flag}: {path!r} is a folder; give a file, e.g. {example!r}")
        if path and not Path(path).parent.is_dir():
            raise BenchError(f"--{flag}: folder {str(Path(path).parent)!r} does not exist")
    baseline, current = load_run(resolve(args.baseline)), load_run(resolve(args.current))
    findings = gate(baseline, current, rules, args.normalize, args.fdr)
    only_base = len(set(baseline.trials["trial_id"].astype(str)) - set(current.trials["trial_id"].astype(str)))
    only_cur = len(set(current.trials["trial_id"].astype(str)) - set(baseline.trials["trial_id"].astype(str)))
    print(f"gate: {baseline.dir} -> {current.dir}; normalize {args.normalize}; rules {' '.join(args.rules)}; "
          f"false discovery rate {args.fdr:g}")  # fmt: skip
    if only_base or only_cur:
        print(f"not compared: {only_base} trials only in the baseline, {only_cur} only in the current run")
    print(text_report(findings))
    if args.markdown:
        _write(args.markdown, markdown_report(findings, args))
    if args.json:
        _write(args.json, json.dumps(json_report(findings, args), indent=2) + "\n")
    return 1 if failed(findings) else 0


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise BenchError(f"cannot write {path}: {e.strerror or e}") from None


def counts(findings: list[Finding]) -> pd.DataFrame:
    """Findings per metric (rows) and verdict (columns)."""
    tally = Counter((f.metric, f.verdict) for f in findings)
    metrics = [m for m in ROW_METRICS if any(f.metric == m for f in findings)]
    return pd.DataFrame([[tally[m, v] for v in VERDICTS] for m in metrics], index=metrics, columns=list(VERDICTS))


def changed(findings: list[Finding], verdict: str) -> pd.DataFrame:
    rows = [{"metric": f.metric, "trial": f.label, "trial_id": f.trial_id, "baseline": _fmt(f, f.baseline),
             "current": _fmt(f, f.current), "change": "" if math.isnan(f.change) else f"{f.change:+.1%}",
             "q": "" if math.isnan(f.q_value) else f"{f.q_value:.2g}", "note": f.note}
            for f in findings if f.verdict == verdict]  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "trial", "trial_id", "baseline", "current", "change", "q", "note"])


def _fmt(f: Finding, value: float) -> str:
    if math.isnan(value):
        return "-"
    if f.metric == "time" and f.note == "s":
        return f"{value * 1e3:.3g} ms"
    return f"{value:.0f}" if f.metric == "convergence_epoch" else f"{value:.4g}"


def verdict_line(findings: list[Finding]) -> str:
    n = sum(f.verdict == "regression" for f in findings)
    improved = sum(f.verdict == "improvement" for f in findings)
    return f"{'FAIL' if n else 'PASS'}: {n} regressions, {improved} improvements"


def text_report(findings: list[Finding]) -> str:
    parts = []
    for verdict in ("regression", "improvement"):
        table = changed(findings, verdict)
        if not table.empty:
            parts.append(f"\n{verdict}s:\n" + table.map(printable).to_string(index=False))
    parts.append("\n" + counts(findings).to_string())
    parts.append("\n" + verdict_line(findings))
    return "\n".join(parts)


def markdown_report(findings: list[Finding], args: argparse.Namespace) -> str:
    lines = [f"## rnnbench gate: {verdict_line(findings)}", "",
             f"`{args.baseline}` -> `{args.current}`, normalize `{args.normalize}`, rules "
             f"{', '.join(f'`{r}`' for r in args.rules)}, false discovery rate {args.fdr:g}", ""]  # fmt: skip
    for verdict in ("regression", "improvement"):
        table = changed(findings, verdict)
        if not table.empty:
            lines += [f"### {verdict.capitalize()}s", "", _markdown_table(table), ""]
    table = counts(findings)
    lines += ["### Counts", "", _markdown_table(table.reset_index(names="metric")), ""]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    rows = [list(table.columns), ["---"] * len(table.columns)] + table.values.tolist()
    return "\n".join("| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows)


def markdown_cell(value: object) -> str:
    """A table cell of a job summary: HTML escaped (an error text is not markup), pipes and newlines defused."""
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return " ".join(text.splitlines())


def json_report(findings: list[Finding], args: argparse.Namespace) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": "fail" if failed(findings) else "pass",
        "baseline": str(args.baseline),
        "current": str(args.current),
        "normalize": args.normalize,
        "rules": list(args.rules),
        "fdr": args.fdr,
        "counts": {m: {v: int(n) for v, n in row.items()} for m, row in counts(findings).iterrows()},
        "findings": [{k: None if v != v else v for k, v in dataclasses.asdict(f).items()} for f in findings],
    }
