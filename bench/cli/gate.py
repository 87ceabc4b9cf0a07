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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import SCHEMA_VERSION
from bench.cli.show import printable
from bench.errors import BenchError

if TYPE_CHECKING:
    import pandas as pd

    from bench.gate import Finding
from bench.rules import DEFAULT_RULES, METRICS, NORMALIZE, TIME_UNITS, VERDICTS

ROW_METRICS = ("status",) + METRICS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gate",
        help="compare a run with a baseline run; exit 1 on a regression",
        description="Compare CURRENT with BASELINE trial by trial (matched by trial_id). Time is judged per "
        "configuration, its seeds pooled as repeats (the median of their medians): it regresses when "
        "the ratio of median step times exceeds the rule's threshold AND a Mann-Whitney U test on the raw "
        "per-round samples is significant after a Benjamini-Hochberg correction across all configurations; quality "
        "(convergence epoch, final loss) is deterministic on CPU and uses plain thresholds. What time means "
        "(seconds, or a ratio to a reference timed in the same rounds) is set by --normalize. A trial that "
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
        action="extend",
        type=rule_list,
        default=argparse.SUPPRESS,
        metavar="RULE[,RULE...]",
        help="rules replacing the defaults, one per metric; repeat the flag (--rules time:median:5%% --rules "
        "final_loss:20%%) or join them with commas (--rules time:median:5%%,final_loss:20%%), before or after "
        "the two folders. time:median:P%% (ratio of medians, plus the rank test); convergence_epoch:[+N][:P%%] "
        "(converges more than N epochs and P%% later, or no longer converges); steps_to_solve:[+N][:P%%] (solves "
        "more than N steps and P%% later, or no longer within its budget); final_loss:[+X][:P%%] (final loss "
        "higher by more than X and P%%). Leave a metric out to not gate on it. (default: "
        + " ".join(DEFAULT_RULES).replace("%", "%%")
        + ")",
    )
    p.add_argument(
        "--normalize",
        choices=NORMALIZE,
        default="none",
        help="what the time rule compares (rnn and machine divide round i of a trial by a reference timed in "
        "the same round i). none: seconds; catches any change, but only between runs on the same quiet "
        "machine (a busier or slower machine is a regression too). rnn: x the RNN step; catches a change of "
        "one cell relative to the RNN and cancels the machine, but a slowdown of code every cell shares (a "
        "torch upgrade) PASSES; RNN trials are the divisor and are not time-gated. machine: x a fixed numpy "
        "workload (no torch); catches any slowdown of the training step, a uniform one included, on a "
        "machine whose speed drifts (shared CI runners)",
    )
    p.add_argument(
        "--fdr",
        type=float,
        default=0.05,
        metavar="Q",
        help="false discovery rate of the Benjamini-Hochberg correction over the time tests: a time change "
        "counts only where its q (the BH-adjusted p-value, shown in the report) is below it",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="write the verdict and every finding as JSON")
    p.add_argument(
        "--markdown", metavar="FILE", default=None, help="write a summary for a CI job (e.g. $GITHUB_STEP_SUMMARY)"
    )
    return p


def rule_list(text: str) -> list[str]:
    """One --rules value: a rule, or several joined by commas (no rule contains a comma)."""
    return [rule.strip() for rule in text.split(",")]


@dataclass(frozen=True)
class Setting:
    """What one gate invocation compared, for its header, markdown summary and JSON verdict."""

    baseline: str
    current: str
    normalize: str
    rules: tuple[str, ...]
    fdr: float


def run(args: argparse.Namespace) -> int:
    from bench.cli.show import resolve
    from bench.gate import failed, gate, parse_rules
    from bench.results import load_run

    setting = Setting(args.baseline, args.current, args.normalize, tuple(getattr(args, "rules", DEFAULT_RULES)),
                      args.fdr)  # fmt: skip
    rules = parse_rules(setting.rules)  # bad input is caught before any file is read
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
    print(f"gate: {baseline.dir} -> {current.dir}\n{header(setting)}")
    if only_base or only_cur:
        print(f"not compared: {only_base} trials only in the baseline, {only_cur} only in the current run")
    print(text_report(findings, setting.normalize))
    if args.markdown:
        _write(args.markdown, markdown_report(findings, setting))
    if args.json:
        _write(args.json, json.dumps(json_report(findings, setting), indent=2) + "\n")
    return 1 if failed(findings) else 0


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise BenchError(f"cannot write {path}: {e.strerror or e}") from None


def header(setting: Setting) -> str:
    return (f"normalize {setting.normalize}: {NORMALIZED[setting.normalize]}\n"
            f"rules: {' '.join(setting.rules)}; false discovery rate {setting.fdr:g}")  # fmt: skip


NORMALIZED = {
    "none": "time = median seconds per step (catches any change; only fair on the same quiet machine)",
    "rnn": "time = median of round i / the RNN step's round i (x RNN step; a change shared by every cell cancels)",
    "machine": "time = median of round i / the machine workload's round i (x machine workload; the machine's "
    "drift cancels, a slower step does not)",
}


def columns(normalize: str) -> str:
    """The legend of the regressions and improvements tables."""
    unit = "ms" if normalize == "none" else TIME_UNITS[normalize]
    return (f"baseline, current: median step time ({unit}; over seeds, the median of their medians), convergence "
            "epoch, or final held-out loss; change: current / baseline - 1; q: Benjamini-Hochberg adjusted p-value "
            "of a two-sided Mann-Whitney U test on the per-round samples of every seed (time only; a time change "
            "counts when q < the false discovery rate and the test's shift points the same way)")  # fmt: skip


def counts(findings: list[Finding]) -> pd.DataFrame:
    """Findings per metric (rows) and verdict (columns): numbers of trials (time: of configurations, each
    pooling its seeds, and of skipped trials)."""
    import pandas as pd

    tally = Counter((f.metric, f.verdict) for f in findings)
    metrics = [m for m in ROW_METRICS if any(f.metric == m for f in findings)]
    return pd.DataFrame([[tally[m, v] for v in VERDICTS] for m in metrics], index=metrics, columns=list(VERDICTS))


def skipped_lines(findings: list[Finding]) -> list[str]:
    """Why each skipped trial was not judged: 'time: 3 trials, the RNN reference of --normalize rnn ...'."""
    reasons = Counter((f.metric, f.note) for f in findings if f.verdict == "skipped")
    return [f"{metric}: {n} trial{'s' * (n > 1)}, {note}" for (metric, note), n in sorted(reasons.items())]


def changed(findings: list[Finding], verdict: str) -> pd.DataFrame:
    import pandas as pd

    rows = [{"metric": f.metric, "trial": f.label, "trial_id": f.trial_id, "baseline": _fmt(f, f.baseline),
             "current": _fmt(f, f.current), "change": "" if math.isnan(f.change) else f"{f.change:+.1%}",
             "q": "" if math.isnan(f.q_value) else f"{f.q_value:.2g}", "note": _note(f)}
            for f in findings if f.verdict == verdict]  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "trial", "trial_id", "baseline", "current", "change", "q", "note"])


def _fmt(f: Finding, value: float) -> str:
    """A finding's value with its unit: '13.5 ms', '1.73 x RNN step', 'epoch 5', or a loss."""
    if math.isnan(value):
        return "-"
    if f.metric == "time":
        return f"{value * 1e3:.3g} ms" if f.note == "s" else f"{value:.3g} {f.note}"
    if f.metric == "steps_to_solve":
        return f"{value:.0f} steps"
    return f"epoch {value:.0f}" if f.metric == "convergence_epoch" else f"{value:.4g}"


def _note(f: Finding) -> str:
    return "" if f.metric == "time" and f.verdict != "skipped" else f.note  # a time note is the unit: in the values


def verdict_line(findings: list[Finding]) -> str:
    n = sum(f.verdict == "regression" for f in findings)
    improved = sum(f.verdict == "improvement" for f in findings)
    return f"{'FAIL' if n else 'PASS'}: {n} regressions, {improved} improvements"


def text_report(findings: list[Finding], normalize: str = "none") -> str:
    parts = []
    for verdict in ("regression", "improvement"):
        table = changed(findings, verdict)
        if not table.empty:
            parts.append(f"\n{verdict}s:\n" + table.map(printable).to_string(index=False))
    if any(f.verdict in ("regression", "improvement") for f in findings):
        parts.append(f"columns: {columns(normalize)}")
    parts.append(
        "\ntrials per metric and verdict (time: configurations, their seeds pooled; skipped: trials):\n"
        + counts(findings).to_string()
    )
    parts += ["skipped = not judged: " + line for line in skipped_lines(findings)]
    parts.append("\n" + verdict_line(findings))
    return "\n".join(parts)


def markdown_report(findings: list[Finding], setting: Setting) -> str:
    lines = [f"## rnnbench gate: {verdict_line(findings)}", "",
             f"`{setting.baseline}` -> `{setting.current}`; normalize `{setting.normalize}`: "
             f"{NORMALIZED[setting.normalize]}; rules {', '.join(f'`{r}`' for r in setting.rules)}, "
             f"false discovery rate {setting.fdr:g}", ""]  # fmt: skip
    for verdict in ("regression", "improvement"):
        table = changed(findings, verdict)
        if not table.empty:
            lines += [f"### {verdict.capitalize()}s", "", _markdown_table(table), ""]
    if any(f.verdict in ("regression", "improvement") for f in findings):
        lines += [markdown_cell(f"Columns: {columns(setting.normalize)}."), ""]
    table = counts(findings)
    heading = "### Trials per metric and verdict (time: configurations, their seeds pooled; skipped: trials)"
    lines += [heading, "", _markdown_table(table.reset_index(names="metric")), ""]
    lines += [markdown_cell(f"- skipped = not judged: {line}") for line in skipped_lines(findings)] + [""]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    rows = [list(table.columns), ["---"] * len(table.columns)] + table.values.tolist()
    return "\n".join("| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows)


def markdown_cell(value: object) -> str:
    """A table cell of a job summary: HTML escaped (an error text is not markup), pipes and newlines defused."""
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return " ".join(text.splitlines())


def json_report(findings: list[Finding], setting: Setting) -> dict:
    from bench.gate import failed

    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": "fail" if failed(findings) else "pass",
        "baseline": str(setting.baseline),
        "current": str(setting.current),
        "normalize": setting.normalize,
        "time_unit": TIME_UNITS[setting.normalize],
        "rules": list(setting.rules),
        "fdr": setting.fdr,
        "counts": {m: {v: int(n) for v, n in row.items()} for m, row in counts(findings).iterrows()},
        "findings": [{k: None if v != v else v for k, v in dataclasses.asdict(f).items()} for f in findings],
    }
