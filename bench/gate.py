"""The regression gate: a current run against a baseline run, trial by trial (matched by `trial_id`); time
per configuration, its seeds pooled as repeats.

Pure: two `Run`s and parsed `Rule`s in, `Finding`s out; the CLI turns them into an exit code.
Rules are short strings in the manner of pytest-benchmark's `--benchmark-compare-fail`:

    time:median:10%           the ratio of median step times moves by more than 10% and a two-sided
                              Mann-Whitney U test on the raw per-round samples is significant after a
                              Benjamini-Hochberg correction across every configuration compared (the
                              seeds of a configuration pooled: the median of their medians)
    convergence_epoch:+2:20%  converges more than 2 epochs AND more than 20% later (or no longer converges)
    steps_to_solve:20%        solves more than 20% more training steps later, or no longer solves within its
                              budget (censored); steps, not seconds: deterministic per seed, immune to load
    final_loss:20%            final held-out loss more than 20% higher (`+0.05` would be an absolute limit)

A quality rule with two limits fires only when both are exceeded. Improvements are found the same way,
mirrored. A trial that ran in one run but failed, diverged or was skipped in the other is always a finding.

What the time rule compares (`time_samples`), by `normalize`:
    none     seconds per step: catches any change, but also the machine's own drift between the runs
    rnn      round i over the reference cell's (RNN) step timed in the same round: cancels the machine
             and any change common to every cell (a torch upgrade); catches a change of one cell
    machine  round i over the fixed machine workload timed in the same round (numpy, no torch): cancels
             the machine's drift but not a slowdown of torch or rnnbench code, uniform ones included
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, mannwhitneyu

from bench.analysis import TIMED, rnn_siblings
from bench.errors import BenchError
from bench.results import Run
from bench.rules import DEFAULT_RULES, METRICS, NORMALIZE, RULE_FORMS, SOLVE_METRICS, TIME_UNITS, VERDICTS  # noqa: F401
from bench.trial import AXES, Trial


@dataclass(frozen=True)
class Rule:
    metric: str
    relative: float | None = None  # limit as a fraction of the baseline: 0.1 = 10%
    absolute: float | None = None  # limit in the metric's own unit (epochs, loss)
    text: str = ""


@dataclass(frozen=True)
class Finding:
    trial_id: str
    label: str
    metric: str  # one of METRICS, or "status"
    verdict: str  # one of VERDICTS
    baseline: float  # time: median step time in TIME_UNITS[normalize]; else the metric's value
    current: float
    change: float  # current / baseline - 1; NaN where that means nothing
    p_value: float = math.nan  # time only: two-sided Mann-Whitney U
    q_value: float = math.nan  # time only: Benjamini-Hochberg adjusted p-value
    note: str = ""


def parse_rule(text: str) -> Rule:
    """'time:median:10%' -> Rule('time', relative=0.1); BenchError naming the rule and the valid forms."""
    metric, *limits = text.strip().split(":")
    if metric not in METRICS:
        raise BenchError(f"rule {text!r}: unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    if metric == "time":
        if len(limits) != 2 or limits[0] != "median" or not limits[1].endswith("%"):
            raise BenchError(f"rule {text!r}: write time:median:P%, e.g. time:median:10% (the gate compares medians)")
    if not 1 <= len(limits) <= 2:
        raise BenchError(f"rule {text!r}: give one or two limits; valid forms: {RULE_FORMS}")
    relative = absolute = None
    for limit in limits[-1:] if metric == "time" else limits:
        if limit.endswith("%") and relative is None:
            relative = _number(text, limit[:-1]) / 100
        elif limit.startswith("+") and absolute is None:
            absolute = _number(text, limit[1:])
        else:
            raise BenchError(f"rule {text!r}: {limit!r} is not P% (relative) or +X (absolute), each at most once")
    return Rule(metric, relative, absolute, text.strip())


def _number(text: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not number >= 0 or math.isinf(number):
        raise BenchError(f"rule {text!r}: {value!r} is not a number >= 0")
    return number


def parse_rules(texts: list[str] | tuple[str, ...]) -> tuple[Rule, ...]:
    """Parse every rule; at most one per metric."""
    rules = tuple(parse_rule(t) for t in texts)
    metrics = [r.metric for r in rules]
    for m in metrics:
        if metrics.count(m) > 1:
            raise BenchError(f"rules: {m} appears {metrics.count(m)} times; give one rule per metric")
    return rules


def gate(
    baseline: Run, current: Run, rules: tuple[Rule, ...], normalize: str = "none", fdr: float = 0.05
) -> list[Finding]:
    """Findings for every trial in both runs: status changes, then time, then the quality rules."""
    if normalize not in NORMALIZE:
        raise BenchError(f"normalize: unknown mode {normalize!r}; choose one of: {', '.join(NORMALIZE)}")
    if not 0 < fdr < 1:
        raise BenchError(f"false discovery rate {fdr} must be between 0 and 1 (0.05 = 5%)")
    if normalize == "machine":
        workloads = baseline.machine_workloads(), current.machine_workloads()
        if workloads[0] and workloads[1] and workloads[0] != workloads[1]:
            raise BenchError(
                f"--normalize machine: {baseline.dir} timed machine workload {', '.join(sorted(workloads[0]))} and "
                f"{current.dir} timed {', '.join(sorted(workloads[1]))}; their rounds are not comparable. Rerun the "
                "baseline with this rnnbench, or compare with --normalize rnn or none"
            )
    base, cur = _by_id(baseline.trials), _by_id(current.trials)
    common = [t for t in base.index if t in cur.index]
    if not common:
        raise BenchError(
            f"no trials in common between {baseline.dir} ({len(base)} trials) and {current.dir} ({len(cur)}); "
            "trials match by trial_id, so both runs need the same suite and seeds"
        )
    findings = _status_findings(base.loc[common], cur.loc[common])
    # A baseline trial the current run does not have (a sweep that crashed or was cut short) is a regression.
    findings += [
        Finding(
            t,
            label(base.loc[t]),
            "status",
            "regression",
            math.nan,
            math.nan,
            math.nan,
            note="missing in the current run",
        )  # fmt: skip
        for t in base.index
        if t not in cur.index
    ]
    ran = [t for t in common if base.at[t, "status"] in TIMED and cur.at[t, "status"] in TIMED]
    if any(rule.metric == "time" for rule in rules):
        for run in (baseline, current):
            require_samples(run, ran)
    for rule in rules:
        if rule.metric == "time":
            findings += _time_findings(baseline, current, base.loc[ran], rule, normalize, fdr)
        else:
            findings += [_quality_finding(base.loc[t], cur.loc[t], rule) for t in ran]
    return findings


def require_samples(run: Run, trial_ids: list[str]) -> None:
    """BenchError when timed trials lack their raw samples: the time rule could not judge them."""
    samples = run.samples()
    lacking = [t for t in trial_ids if not len(samples.get(t, []))]
    if lacking:
        where = "samples.jsonl is missing or empty" if not run.benchmarks else "samples.jsonl has no record for them"
        raise BenchError(
            f"{run.dir}: {len(lacking)} of {len(trial_ids)} timed trials (status ok or not_converged) have no timing "
            f"samples ({where}; first: {lacking[0]}), so the time rule cannot be evaluated; restore samples.jsonl, "
            "re-run the suite, or leave time out of --rules"
        )


def _by_id(trials: pd.DataFrame) -> pd.DataFrame:
    return trials.assign(trial_id=trials["trial_id"].astype(str)).drop_duplicates("trial_id").set_index("trial_id")


def label(row: pd.Series) -> str:
    return Trial(**{a: row[a] for a in AXES if a in row.index}).label()


def _status_findings(base: pd.DataFrame, cur: pd.DataFrame) -> list[Finding]:
    """A trial that stopped running (failed, diverged, skipped) regresses; one that started running improves;
    one that ran in neither is 'skipped' (listed, never judged), so it cannot pass unnoticed."""
    out = []
    for trial_id, b in base.iterrows():
        c = cur.loc[trial_id]
        if b["status"] not in TIMED and c["status"] not in TIMED:
            note = f"did not run in either run ({b['status']} -> {c['status']})"
            out.append(Finding(trial_id, label(b), "status", "skipped", math.nan, math.nan, math.nan, note=note))
            continue
        if (b["status"] in TIMED) == (c["status"] in TIMED):
            continue
        verdict = "regression" if b["status"] in TIMED else "improvement"
        note = f"{b['status']} -> {c['status']}" + (f": {c['error']}" if isinstance(c.get("error"), str) else "")
        out.append(Finding(trial_id, label(b), "status", verdict, math.nan, math.nan, math.nan, note=note))
    return out


def time_samples(run: Run, normalize: str = "none") -> dict[str, np.ndarray]:
    """Raw per-round step times by trial_id: seconds under 'none', per-round ratios under 'rnn' and 'machine'.

    'rnn': round i over the reference cell's step in the same round i (`reference_data`: the runner times
    the group's own RNN trial, or a fresh untrained RNN, beside every trial), so the machine's drift and any
    change common to every cell cancel; a trial without those rounds (an older run) is divided by the median
    of its RNN sibling trial's rounds. Trials of the reference cell are left out: they are the divisor.
    'machine': round i over the fixed machine workload's round i (`machine_data`), so the machine's drift
    cancels and a slower torch or training step does not. Trials without a divisor are left out."""
    samples = {str(t): np.asarray(s, dtype=float) for t, s in run.samples().items() if len(s)}
    if normalize == "none":
        return samples
    if normalize == "machine":
        return _per_round(samples, run.machine_samples())
    trials = _by_id(run.trials)
    own = {t: s for t, s in samples.items() if t not in trials.index or not _is_reference(trials.loc[t])}
    out = _per_round(own, run.reference_samples())
    siblings = rnn_siblings(run.trials[run.trials["status"].isin(TIMED)])
    for t, s in own.items():
        if t not in out and siblings.get(t, t) != t and siblings[t] in samples:
            out[t] = s / np.median(samples[siblings[t]])
    return out


def _per_round(samples: dict[str, np.ndarray], divisors: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """Round i of each trial over round i of its divisor; trials without a full, positive divisor left out."""
    out = {}
    for t, s in samples.items():
        d = np.asarray(divisors.get(t, []), dtype=float)
        if len(d) == len(s) and bool(np.all(d > 0)):
            out[t] = s / d
    return out


def _is_reference(row: pd.Series) -> bool:
    """The trial's cell is its own timing reference (the RNN unless the run named another cell)."""
    reference = row.get("reference_cell")
    return row["cell"] == (reference if isinstance(reference, str) and reference else "rnn")


def _time_findings(
    baseline: Run, current: Run, ran: pd.DataFrame, rule: Rule, normalize: str, fdr: float
) -> list[Finding]:
    """Per configuration (every axis but the seed): the ratio of its median step times plus a two-sided
    Mann-Whitney U test on the raw rounds, BH-corrected across the configurations tested.

    The seeds of one configuration are the same computation timed in different windows of the shuffled
    sweep, so they are pooled as repeats: the configuration's time is the median of its seeds' medians
    (as the report pools them) and the test takes every seed's rounds. A window-to-window swing of one seed
    (the LSTM's ratio to the RNN moves by several percent between windows on a shared CPU) then weighs 1/n;
    a configuration timed under one seed is judged on that seed alone. The rank test still treats rounds as
    independent, which they are not across windows: against a window's swing the threshold protects, the
    test only against a change within the rounds' own noise. A verdict also needs the test to point the way
    the ratio does (`time_verdict`)."""
    before, after = time_samples(baseline, normalize), time_samples(current, normalize)
    skipped, tested = [], []
    for rows in _configurations(ran):
        ids = []
        for trial_id, row in rows.iterrows():
            note = _untestable(trial_id, row, before, after, normalize)
            if note:
                skipped.append(Finding(trial_id, label(row), "time", "skipped", math.nan, math.nan, math.nan,
                                       note=note))  # fmt: skip
            else:
                ids.append(trial_id)
        if ids:
            tested.append((ids, _pooled_label(rows.loc[ids])))
    pooled = [(np.concatenate([after[t] for t in ids]), np.concatenate([before[t] for t in ids])) for ids, _ in tested]
    tests = [mannwhitneyu(now, then, alternative="two-sided") for now, then in pooled]
    p_values = [test.pvalue for test in tests]
    q_values = false_discovery_control(p_values, method="bh") if p_values else []
    unit = TIME_UNITS[normalize]
    findings = []
    for (ids, name), (now, then), test, q in zip(tested, pooled, tests, q_values, strict=True):
        b = float(np.median([np.median(before[t]) for t in ids]))
        a = float(np.median([np.median(after[t]) for t in ids]))
        slower = float(test.statistic) / (len(now) * len(then))
        verdict = time_verdict(a / b, float(q), rule.relative or 0.0, fdr, slower)
        findings.append(Finding(",".join(ids), name, "time", verdict, b, a, a / b - 1, float(test.pvalue),
                                float(q), note=unit))  # fmt: skip
    return findings + skipped


def _configurations(trials: pd.DataFrame) -> list[pd.DataFrame]:
    """`trials` (indexed by trial_id) split by configuration: equal on every axis but `seed`; seeds in order."""
    if trials.empty:
        return []
    axes = [a for a in AXES if a != "seed" and a in trials.columns]
    keys = trials[axes].astype(str).agg("|".join, axis=1)
    return [group.sort_values("seed", kind="mergesort") for _, group in trials.groupby(keys, sort=False)]


def _pooled_label(rows: pd.DataFrame) -> str:
    """The trial label, with every seed pooled: '...-eager-s0,1' (each seed written as `label` writes it)."""
    labels = [label(row) for _, row in rows.iterrows()]
    if len(labels) == 1:
        return labels[0]
    stem = labels[0][: labels[0].rindex("-s")]
    return stem + "-s" + ",".join(x[x.rindex("-s") + 2 :] for x in labels)


def time_verdict(ratio: float, q_value: float, threshold: float, fdr: float, slower: float) -> str:
    """Regression: medians ratio above 1 + threshold, q below the false discovery rate, and the rank test's
    shift the same way: `slower`, the share of (current, baseline) round pairs in which the current round is
    the slower (U / (n m)), above 1/2. Improvement mirrored. Without that last clause a pooled configuration
    could fail on a q that the opposite shift in its seed with the most rounds earned, while one slow seed
    with few rounds set the ratio (the ratio weighs seeds equally, the test weighs rounds)."""
    if q_value < fdr and ratio > 1 + threshold and slower > 0.5:
        return "regression"
    if q_value < fdr and ratio < 1 - threshold and slower < 0.5:
        return "improvement"
    return "unchanged"


def _untestable(trial_id: str, row: pd.Series, before: dict, after: dict, normalize: str) -> str:
    if normalize == "rnn" and _is_reference(row):
        return f"the {row['cell'].upper()} reference of --normalize rnn (its own rounds are the divisor)"
    missing = [name for name, samples in (("baseline", before), ("current", after)) if trial_id not in samples]
    if not missing:
        return ""
    what = {"none": "no timing samples", "rnn": "no RNN reference rounds and no timed RNN sibling",
            "machine": "no machine workload rounds"}[normalize]  # fmt: skip
    return f"{what} in the {' and '.join(missing)} run"


def _quality_finding(b: pd.Series, c: pd.Series, rule: Rule) -> Finding:
    """Quality metrics are deterministic on CPU with fixed seeds: plain thresholds, no statistics."""
    if rule.metric not in b.index or rule.metric not in c.index:
        return Finding(str(b.name), label(b), rule.metric, "skipped", math.nan, math.nan, math.nan,
                       note=f"no {rule.metric} column in one of the runs (an older rnnbench)")  # fmt: skip
    before, after = _cell_value(b, rule.metric), _cell_value(c, rule.metric)
    change = after / before - 1 if before > 0 and not math.isnan(after) else math.nan
    convergence = rule.metric in SOLVE_METRICS  # NaN = never solved within the budget (censored)
    unit = "epoch" if rule.metric == "convergence_epoch" else "steps"
    if math.isnan(before) and math.isnan(after):
        verdict, note = ("unchanged", "did not solve in either run") if convergence else ("skipped", "no loss")
    elif math.isnan(after):
        verdict = "regression"
        stopped = f", stopped by {c.get('budget')}" if isinstance(c.get("budget"), str) else ""
        note = (f"solved at {unit} {before:.0f} in the baseline, not within its budget now{stopped}" if convergence
                else "no final loss now")  # fmt: skip
    elif math.isnan(before):
        verdict = "improvement"
        note = f"solves now ({unit} {after:.0f}), not in the baseline" if convergence else "no baseline loss"
    else:
        verdict = _threshold_verdict(after - before, before, rule)
        note = f"{after - before:+.0f} {'epochs' if unit == 'epoch' else 'steps'}" if convergence else ""
    return Finding(str(b.name), label(b), rule.metric, verdict, before, after, change, note=note)


def _cell_value(row: pd.Series, column: str) -> float:
    value = pd.to_numeric(row[column], errors="coerce")
    return float(value) if value == value else math.nan


def _threshold_verdict(delta: float, before: float, rule: Rule) -> str:
    """Higher is worse; a rule with two limits needs both exceeded."""
    for sign, verdict in ((1, "regression"), (-1, "improvement")):
        d = sign * delta
        if (
            d > 0
            and (rule.absolute is None or d > rule.absolute)
            and (rule.relative is None or d > rule.relative * abs(before))
        ):
            return verdict
    return "unchanged"


def failed(findings: list[Finding]) -> bool:
    return any(f.verdict == "regression" for f in findings)
