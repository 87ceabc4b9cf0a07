"""The regression gate: rule parsing, statistics on fixed samples, normalization, quality gates, bad input."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from bench import SCHEMA_VERSION
from bench.errors import BenchError
from bench.gate import DEFAULT_RULES, Rule, failed, gate, parse_rule, parse_rules, time_verdict
from bench.results import RunWriter, load_run
from bench.trial import EpochRecord, Trial, TrialResult
from tests.helpers import cli

MS = 1e-3
BASE = np.arange(10.0, 18.0) * MS  # 8 rounds, 10..17 ms: median 13.5 ms
# Exact two-sided Mann-Whitney U p-values, 8 rounds against 8, no ties, by U (of 64) or 64 - U:
P_SEPARATED = 2 / 12870  # U = 64, fully separated: 2 / C(16, 8)
P_U36 = 0.7209013209013208  # e.g. BASE + 0.5 ms against BASE
P_U54 = 0.020668220668220667  # BASE + 3.5 ms
P_U61 = 0.0010878010878010878  # BASE + 5.5 ms, BASE - 5.5 ms (U = 3), 1.5 x BASE
TIME_ONLY = parse_rules(["time:median:10%"])
RNN_REFERENCE = "the RNN reference of --normalize rnn (its own rounds are the divisor)"


def result(cell: str, samples=BASE, conv: int | None = 3, loss: float = 0.1, status: str = "", seed: int = 0,
           epochs: int = 10) -> TrialResult:  # fmt: skip
    """One trial: solved from epoch `conv` on (never if None), final loss `loss`, step times `samples` (s)."""
    curve = tuple(EpochRecord(e, 1.0 if e < epochs else loss, 0.5, "", conv is not None and e >= conv, 0.01)
                  for e in range(1, epochs + 1))  # fmt: skip
    status = status or ("ok" if conv else "not_converged")
    return TrialResult(Trial(cell=cell, seed=seed), status, curve=curve, samples=tuple(float(s) for s in samples))


def make_run(d: Path, *results: TrialResult):
    w = RunWriter(d, {"schema_version": SCHEMA_VERSION}, "name = 'x'\n", {"machine_info": {}})
    for r in results:
        w.append(r)
    w.finalize()
    return load_run(d)


def by(findings, metric: str) -> dict:
    return {f.label.split("-")[1]: f for f in findings if f.metric == metric}


# --- rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, rule",
    [
        ("time:median:10%", Rule("time", relative=0.10, text="time:median:10%")),
        ("convergence_epoch:+2:20%", Rule("convergence_epoch", 0.2, 2.0, "convergence_epoch:+2:20%")),
        ("convergence_epoch:+2", Rule("convergence_epoch", None, 2.0, "convergence_epoch:+2")),
        ("final_loss:20%", Rule("final_loss", 0.2, None, "final_loss:20%")),
        ("final_loss:+0.05:5%", Rule("final_loss", 0.05, 0.05, "final_loss:+0.05:5%")),
        (" time:median:0% ", Rule("time", 0.0, None, "time:median:0%")),
    ],
)
def test_parse_rule(text, rule):
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    "text, message",
    [
        ("tim:median:10%", "unknown metric 'tim'; choose one of: time, convergence_epoch, steps_to_solve, final_loss"),
        ("time:mean:10%", "write time:median:P%"),
        ("time:median:10", "write time:median:P%"),
        ("time:10%", "write time:median:P%"),
        ("convergence_epoch", "give one or two limits"),
        ("final_loss:1%:2%:3%", "give one or two limits"),
        ("convergence_epoch:2", "'2' is not P% (relative) or +X (absolute)"),
        ("convergence_epoch:+2:+3", "'+3' is not P% (relative) or +X (absolute), each at most once"),
        ("final_loss:-5%", "'-5' is not a number >= 0"),
        ("final_loss:abc%", "'abc' is not a number >= 0"),
        ("final_loss:+inf", "'inf' is not a number >= 0"),
        ("final_loss:nan%", "'nan' is not a number >= 0"),
    ],
)
def test_parse_rule_errors(text, message):
    with pytest.raises(BenchError, match="rule ") as e:
        parse_rule(text)
    assert message in str(e.value) and repr(text) in str(e.value)


def test_parse_rules_defaults_and_duplicates():
    assert [r.metric for r in parse_rules(DEFAULT_RULES)] == [
        "time",
        "convergence_epoch",
        "steps_to_solve",
        "final_loss",
    ]
    with pytest.raises(BenchError, match="final_loss appears 2 times; give one rule per metric"):
        parse_rules(["final_loss:5%", "final_loss:+1"])


# --- time: statistics on fixed samples -------------------------------------------------------------


def test_time_verdict_thresholds_are_strict():
    assert time_verdict(1.11, 0.01, 0.10, 0.05, 0.9) == "regression"
    assert time_verdict(1.10, 0.01, 0.10, 0.05, 0.9) == "unchanged"  # must exceed the threshold
    assert time_verdict(1.50, 0.05, 0.10, 0.05, 0.9) == "unchanged"  # q must be below the false discovery rate
    assert time_verdict(0.89, 0.01, 0.10, 0.05, 0.1) == "improvement"
    assert time_verdict(0.95, 1e-9, 0.10, 0.05, 0.1) == "unchanged"
    # The rank test must point the way the ratio does: `slower` = share of round pairs where current is slower.
    assert time_verdict(1.20, 0.01, 0.10, 0.05, slower=0.9) == "regression"
    assert time_verdict(1.20, 0.01, 0.10, 0.05, slower=0.1) == "unchanged"
    assert time_verdict(0.80, 0.01, 0.10, 0.05, slower=0.9) == "unchanged"
    assert time_verdict(0.80, 0.01, 0.10, 0.05, slower=0.1) == "improvement"


def test_exact_p_values_and_bh_correction_clears_a_lone_weak_change(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"), result("gru"))
    cur = make_run(tmp_path / "b", result("rnn", BASE + 0.5 * MS), result("lstm", BASE + 3.5 * MS),
                   result("gru", BASE + 0.5 * MS))  # fmt: skip
    t = by(gate(base, cur, TIME_ONLY), "time")
    assert t["lstm"].p_value == pytest.approx(P_U54, rel=1e-12)  # < 5% on its own ...
    assert t["lstm"].q_value == pytest.approx(3 * P_U54, rel=1e-12)  # ... but not after BH over 3 tests
    assert t["lstm"].change == pytest.approx(17.0 / 13.5 - 1) and t["lstm"].verdict == "unchanged"
    assert t["rnn"].p_value == pytest.approx(P_U36, rel=1e-12)
    assert t["rnn"].q_value == pytest.approx(P_U36, rel=1e-12)
    assert t["lstm"].baseline == pytest.approx(13.5 * MS) and t["lstm"].current == pytest.approx(17.0 * MS)
    assert t["lstm"].note == "s"


def test_seeds_of_a_configuration_are_pooled_as_repeats(tmp_path: Path):
    # Tight rounds (13.3..13.7 ms): seed 1's window swung by +14% and its rounds are fully separated, so on
    # its own it is a regression; pooled with seed 0, which did not move, the median of the two medians is
    # +7%: unchanged.
    tight = np.linspace(13.3, 13.7, 8) * MS
    base = make_run(tmp_path / "a", result("lstm", tight, seed=1), result("lstm", tight, seed=0),
                    result("gru", tight, seed=0))  # fmt: skip
    cur = make_run(tmp_path / "b", result("lstm", tight * 1.14, seed=1), result("lstm", tight, seed=0),
                   result("gru", tight * 1.5, seed=0))  # fmt: skip
    alone = make_run(tmp_path / "c", result("lstm", tight, seed=1))
    alone_slow = make_run(tmp_path / "d", result("lstm", tight * 1.14, seed=1))
    assert by(gate(alone, alone_slow, TIME_ONLY), "time")["lstm"].verdict == "regression"  # one seed alone
    findings = [f for f in gate(base, cur, TIME_ONLY) if f.metric == "time"]
    assert len(findings) == 2  # one per configuration
    t = by(findings, "time")
    ids = [Trial(cell="lstm", seed=s).trial_id for s in (0, 1)]
    assert t["lstm"].trial_id == ",".join(ids) and t["lstm"].label.endswith("-eager-s0,1")  # seeds in order
    assert t["lstm"].baseline == pytest.approx(13.5 * MS) and t["lstm"].current == pytest.approx(13.5 * MS * 1.07)
    assert t["lstm"].change == pytest.approx(0.07) and t["lstm"].verdict == "unchanged"
    assert t["lstm"].note == "s"  # the unit, as for one seed
    pooled_before, pooled_after = np.concatenate([tight, tight]), np.concatenate([tight, tight * 1.14])
    assert t["lstm"].p_value == pytest.approx(mannwhitneyu(pooled_after, pooled_before).pvalue)  # every round
    assert t["gru"].label.endswith("-s0") and t["gru"].verdict == "regression"  # one seed: judged alone
    slower = make_run(tmp_path / "e", result("lstm", tight * 1.25, seed=0), result("lstm", tight * 1.2, seed=1),
                      result("gru", tight, seed=0))  # fmt: skip
    assert by(gate(base, slower, TIME_ONLY), "time")["lstm"].verdict == "regression"  # both seeds slower


def test_a_pooled_test_driven_by_the_opposite_shift_is_no_verdict(tmp_path: Path):
    # Current: seed 0 slower by 30% in 15 rounds, seed 1 faster by 5% in 200. The median of the two medians is
    # +12.5%, above the threshold, and the rank test on all 215 rounds is highly significant, but for the
    # improvement that 200 of them show: no regression.
    spread = np.linspace(-0.01, 0.01, 100)
    base = make_run(tmp_path / "a", result("lstm", (10 + spread) * MS, seed=0),
                    result("lstm", (10 + spread) * MS, seed=1))  # fmt: skip
    cur = make_run(tmp_path / "b", result("lstm", (13 + spread[:15]) * MS, seed=0),
                   result("lstm", (9.5 + np.linspace(-0.01, 0.01, 200)) * MS, seed=1))  # fmt: skip
    f = by(gate(base, cur, TIME_ONLY), "time")["lstm"]
    assert f.change == pytest.approx(0.125, abs=1e-3) and f.q_value < 1e-20
    assert f.verdict == "unchanged"
    both = make_run(tmp_path / "c", result("lstm", (13 + spread[:15]) * MS, seed=0),
                    result("lstm", (10.5 + np.linspace(-0.01, 0.01, 200)) * MS, seed=1))  # fmt: skip
    assert by(gate(base, both, TIME_ONLY), "time")["lstm"].verdict == "regression"  # the same way: a regression


def test_cli_shows_a_pooled_configuration_in_its_unit(tmp_path: Path):
    make_run(tmp_path / "a", result("lstm", seed=0), result("lstm", seed=1))
    make_run(tmp_path / "b", result("lstm", BASE * 2, seed=0), result("lstm", BASE * 2, seed=1))
    proc = cli("gate", str(tmp_path / "a"), str(tmp_path / "b"), "--rules", "time:median:10%")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "-s0,1" in line)
    assert "13.5 ms" in row and "27 ms" in row and "+100.0%" in row, proc.stdout


def test_bh_step_up_keeps_a_change_beside_a_strong_one(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"), result("gru"))
    cur = make_run(tmp_path / "b", result("rnn", BASE + 0.5 * MS), result("lstm", BASE + 3.5 * MS),
                   result("gru", BASE + 8 * MS))  # fmt: skip
    findings = gate(base, cur, TIME_ONLY)
    t = by(findings, "time")
    assert t["gru"].p_value == pytest.approx(P_SEPARATED, rel=1e-12)
    assert t["gru"].q_value == pytest.approx(3 * P_SEPARATED, rel=1e-12)
    assert t["lstm"].q_value == pytest.approx(3 / 2 * P_U54, rel=1e-12)
    assert [t[c].verdict for c in ("rnn", "lstm", "gru")] == ["unchanged", "regression", "regression"]
    assert failed(findings)


def test_improvement_and_threshold(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"))
    cur = make_run(tmp_path / "b", result("rnn", BASE - 5.5 * MS), result("lstm", BASE + 8 * MS))
    t = by(gate(base, cur, TIME_ONLY), "time")
    assert t["rnn"].p_value == pytest.approx(P_U61, rel=1e-12)
    assert t["rnn"].verdict == "improvement" and t["lstm"].verdict == "regression"
    assert t["lstm"].change == pytest.approx(21.5 / 13.5 - 1)
    loose = by(gate(base, cur, parse_rules(["time:median:60%"])), "time")
    assert loose["lstm"].verdict == "unchanged" and loose["rnn"].verdict == "unchanged"


# --- time: --normalize rnn -------------------------------------------------------------------------


def test_normalize_rnn_cancels_a_uniformly_slower_machine(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn", BASE * 0.5), result("lstm"), result("gru", BASE[:5]))
    cur = make_run(tmp_path / "b", result("rnn", BASE), result("lstm", BASE * 2), result("gru", BASE[:5] * 2))
    assert [f.verdict for f in gate(base, cur, TIME_ONLY, "none")] == ["regression"] * 3
    findings = gate(base, cur, TIME_ONLY, "rnn")
    t = by(findings, "time")
    assert t["rnn"].verdict == "skipped" and t["rnn"].note == RNN_REFERENCE
    assert t["lstm"].verdict == "unchanged" and t["lstm"].change == pytest.approx(0.0)
    assert t["lstm"].baseline == pytest.approx(2.0) and t["lstm"].note == "x RNN step"
    assert t["gru"].baseline == pytest.approx(12.0 / 6.75)  # 5 rounds over the sibling's 8-round median
    assert t["lstm"].p_value == pytest.approx(1.0) and not failed(findings)


def test_normalize_rnn_catches_one_slower_cell(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"), result("gru"))
    cur = make_run(tmp_path / "b", result("rnn", BASE * 1.2), result("lstm", BASE * 1.2 * 1.5),
                   result("gru", BASE * 1.2))  # fmt: skip
    t = by(gate(base, cur, TIME_ONLY, "rnn"), "time")
    assert t["lstm"].verdict == "regression" and t["lstm"].change == pytest.approx(0.5)
    assert t["lstm"].p_value == pytest.approx(P_U61, rel=1e-12)  # 1.5 x BASE against BASE, both over 13.5 ms
    assert t["gru"].verdict == "unchanged"


def with_reference(r: TrialResult, reference) -> TrialResult:
    return TrialResult(r.trial, r.status, curve=r.curve, samples=r.samples,
                       reference_samples=tuple(float(x) for x in reference))  # fmt: skip


def test_normalize_rnn_prefers_the_interleaved_reference_round_by_round(tmp_path: Path):
    # The current run's LSTM trial ran while the machine was 1.5x slower, whatever the RNN trial saw:
    # its interleaved RNN reference rounds were slowed alike, so the per-round ratios are unchanged.
    drift = 1.5
    base = make_run(tmp_path / "a", result("rnn"), with_reference(result("lstm", BASE * 2), BASE))
    cur = make_run(tmp_path / "b", result("rnn"), with_reference(result("lstm", BASE * 2 * drift), BASE * drift))
    t = by(gate(base, cur, TIME_ONLY, "rnn"), "time")
    assert t["lstm"].verdict == "unchanged" and t["lstm"].change == pytest.approx(0.0)
    assert t["lstm"].p_value == pytest.approx(1.0)
    # Against the RNN sibling trial's median instead (no reference kept), it would be a regression.
    plain = make_run(tmp_path / "c", result("rnn"), result("lstm", BASE * 2 * drift))
    assert by(gate(base, plain, TIME_ONLY, "rnn"), "time")["lstm"].verdict == "regression"


def test_normalize_rnn_without_a_timed_sibling_skips(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"))
    cur = make_run(tmp_path / "b", result("rnn", [], status="failed"), result("lstm", BASE * 3))
    findings = gate(base, cur, TIME_ONLY, "rnn")
    t = by(findings, "time")
    assert set(t) == {"lstm"}  # the failed RNN trial is judged by status, not time
    assert (
        t["lstm"].verdict == "skipped"
        and t["lstm"].note == "no RNN reference rounds and no timed RNN sibling in the current run"
    )
    assert by(findings, "status")["rnn"].verdict == "regression"


def test_normalize_rnn_gates_a_suite_without_an_rnn_trial(tmp_path: Path):
    # The runner times a fresh RNN beside every trial: its rounds are the divisor even with no RNN trial.
    base = make_run(tmp_path / "a", with_reference(result("lstm", BASE * 2), BASE))
    cur = make_run(tmp_path / "b", with_reference(result("lstm", BASE * 3), BASE))
    t = by(gate(base, cur, TIME_ONLY, "rnn"), "time")
    assert t["lstm"].verdict == "regression" and t["lstm"].change == pytest.approx(0.5)
    assert t["lstm"].baseline == pytest.approx(2.0) and t["lstm"].note == "x RNN step"


def test_normalize_rnn_skips_the_named_reference_cell(tmp_path: Path):
    def gru_referenced(r: TrialResult) -> TrialResult:
        return replace(with_reference(r, BASE), reference_cell="gru")

    base = make_run(tmp_path / "a", gru_referenced(result("gru")), gru_referenced(result("lstm")))
    t = by(gate(base, base, TIME_ONLY, "rnn"), "time")
    assert t["gru"].verdict == "skipped" and t["gru"].note.startswith("the GRU reference of --normalize rnn")
    assert t["lstm"].verdict == "unchanged"


# --- time: --normalize machine ------------------------------------------------------------------------

# The machine workload's rounds: about 20x shorter than BASE's, not in step with them (distinct ratios).
MACHINE = BASE / 20 * (1 + 0.001 * np.array([3, 7, 1, 5, 0, 6, 2, 4]))


def paired(cell: str, samples, reference, machine=MACHINE) -> TrialResult:
    """A trial timed as the runner does: its rounds with the RNN reference's and the machine workload's."""
    return replace(with_reference(result(cell, samples), reference), machine_samples=tuple(map(float, machine)))


def test_normalize_machine_catches_a_uniform_slowdown_that_rnn_cancels(tmp_path: Path):
    # A slower torch: every step 25% slower, the RNN reference's too; the numpy machine workload is not.
    base = make_run(tmp_path / "a", paired("rnn", BASE, BASE), paired("lstm", BASE * 2, BASE))
    cur = make_run(tmp_path / "b", paired("rnn", BASE * 1.25, BASE * 1.25), paired("lstm", BASE * 2.5, BASE * 1.25))
    under_rnn = by(gate(base, cur, TIME_ONLY, "rnn"), "time")
    assert under_rnn["lstm"].verdict == "unchanged" and under_rnn["lstm"].change == pytest.approx(0.0)
    assert under_rnn["rnn"].verdict == "skipped"
    findings = gate(base, cur, TIME_ONLY, "machine")
    t = by(findings, "time")
    assert [t[c].verdict for c in ("rnn", "lstm")] == ["regression", "regression"] and failed(findings)
    assert t["lstm"].change == pytest.approx(0.25) and t["rnn"].change == pytest.approx(0.25)
    assert t["lstm"].baseline == pytest.approx(np.median(BASE * 2 / MACHINE)) and t["lstm"].note == "x machine workload"
    assert t["lstm"].p_value == pytest.approx(P_SEPARATED, rel=1e-12)  # every ratio ~40 now ~50


def test_normalize_machine_cancels_machine_drift(tmp_path: Path):
    # The machine 2x slower during the current run: the steps, the reference and the workload alike
    # (x2 is exact in floating point, so the ratios are the baseline's to the last bit).
    drift = 2.0
    base = make_run(tmp_path / "a", paired("rnn", BASE, BASE), paired("lstm", BASE * 2, BASE))
    cur = make_run(tmp_path / "b", paired("rnn", BASE * drift, BASE * drift, MACHINE * drift),
                   paired("lstm", BASE * 2 * drift, BASE * drift, MACHINE * drift))  # fmt: skip
    assert {f.verdict for f in gate(base, cur, TIME_ONLY, "none")} == {"regression"}
    findings = gate(base, cur, TIME_ONLY, "machine")
    t = by(findings, "time")
    assert all(t[c].verdict == "unchanged" and t[c].change == pytest.approx(0.0) for c in ("rnn", "lstm"))
    assert t["lstm"].p_value == pytest.approx(1.0) and not failed(findings)


def test_normalize_machine_divides_round_by_round(tmp_path: Path):
    # Drift inside the current run (rounds 4-7 twice as slow) that the workload saw in the same rounds.
    burst = np.array([1, 1, 1, 1, 2, 2, 2, 2.0])
    base = make_run(tmp_path / "a", paired("lstm", BASE, BASE))
    cur = make_run(tmp_path / "b", paired("lstm", BASE * burst, BASE * burst, MACHINE * burst))
    (t,) = gate(base, cur, TIME_ONLY, "machine")
    assert t.verdict == "unchanged" and t.p_value == pytest.approx(1.0)
    shifted = make_run(tmp_path / "c", paired("lstm", BASE * burst, BASE * burst, MACHINE * burst[::-1]))
    (off,) = gate(base, shifted, TIME_ONLY, "machine")  # the workload's rounds out of step with the trial's
    assert off.change > 0.2


def test_normalize_machine_without_workload_rounds_skips(tmp_path: Path):
    base = make_run(tmp_path / "a", paired("lstm", BASE, BASE))
    cur = make_run(tmp_path / "b", result("lstm", BASE * 3))  # a run from before the workload was recorded
    (t,) = gate(base, cur, TIME_ONLY, "machine")
    assert t.verdict == "skipped" and t.note == "no machine workload rounds in the current run"
    short = make_run(tmp_path / "c", paired("lstm", BASE, BASE, MACHINE[:5]))  # not one divisor per round
    assert (
        gate(short, short, TIME_ONLY, "machine")[0].note == "no machine workload rounds in the baseline and current run"
    )


def test_normalize_machine_refuses_runs_that_timed_different_workloads(tmp_path: Path):
    make_run(tmp_path / "a", paired("lstm", BASE, BASE))
    cur = make_run(tmp_path / "b", paired("lstm", BASE, BASE))
    assert cur.machine_workloads() == {"numpy-matmul/0"}
    samples = tmp_path / "a" / "samples.jsonl"
    recorded = '"machine_workload": "numpy-matmul/0"'
    samples.write_text(samples.read_text().replace(recorded, '"machine_workload": "numpy-rnn/1"'))
    other = load_run(tmp_path / "a")
    with pytest.raises(BenchError, match="timed machine workload numpy-rnn/1 and .* timed numpy-matmul/0"):
        gate(other, cur, TIME_ONLY, "machine")
    assert by(gate(other, cur, TIME_ONLY, "rnn"), "time")["lstm"].verdict == "unchanged"  # other modes still work
    samples.write_text(samples.read_text().replace('"machine_workload": "numpy-rnn/1"', '"x": 0'))
    older = load_run(tmp_path / "a")  # a run from before the workload's name was recorded: it timed numpy-matmul/0
    assert older.machine_workloads() == {"numpy-matmul/0"}
    assert by(gate(older, cur, TIME_ONLY, "machine"), "time")["lstm"].verdict == "unchanged"


# --- quality -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "before, after, verdict",
    [
        (5, 8, "regression"),  # +3 epochs, +60%
        (5, 7, "unchanged"),  # +2 epochs is not more than 2
        (20, 23, "unchanged"),  # +3 epochs but only +15%
        (20, 25, "regression"),  # +5 epochs, +25%
        (5, None, "regression"),  # converged in the baseline, not now
        (None, None, "unchanged"),
        (None, 6, "improvement"),
        (10, 6, "improvement"),
    ],
)
def test_convergence_epoch(tmp_path: Path, before, after, verdict):
    base = make_run(tmp_path / "a", result("lstm", conv=before, epochs=30))
    cur = make_run(tmp_path / "b", result("lstm", conv=after, epochs=30))
    (f,) = gate(base, cur, parse_rules(["convergence_epoch:+2:20%"]))
    assert f.metric == "convergence_epoch" and f.verdict == verdict
    if before == 5 and after is None:
        assert f.note == "solved at epoch 5 in the baseline, not within its budget now"


@pytest.mark.parametrize(
    "rule, after, verdict",
    [
        ("final_loss:20%", 0.125, "regression"),
        ("final_loss:20%", 0.115, "unchanged"),
        ("final_loss:20%", 0.075, "improvement"),
        ("final_loss:+0.05", 0.125, "unchanged"),
        ("final_loss:+0.01:20%", 0.125, "regression"),
    ],
)
def test_final_loss(tmp_path: Path, rule, after, verdict):
    base = make_run(tmp_path / "a", result("gru", loss=0.1))
    cur = make_run(tmp_path / "b", result("gru", loss=after))
    (f,) = gate(base, cur, parse_rules([rule]))
    assert (f.metric, f.verdict) == ("final_loss", verdict)
    assert f.baseline == pytest.approx(0.1) and f.change == pytest.approx(after / 0.1 - 1)


def test_status_changes(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"), result("gru", [], status="failed"))
    cur = make_run(tmp_path / "b", result("rnn"), result("lstm", [], conv=None, loss=float("nan"),
                   status="diverged"), result("gru"))  # fmt: skip
    findings = gate(base, cur, parse_rules(DEFAULT_RULES))
    s = by(findings, "status")
    assert s["lstm"].verdict == "regression" and s["lstm"].note.startswith("ok -> diverged")
    assert s["gru"].verdict == "improvement" and s["gru"].note == "failed -> ok"
    assert {f.label.split("-")[1] for f in findings if f.metric != "status"} == {"rnn"}
    assert failed(findings)


def test_a_trial_that_ran_in_neither_run_is_listed_as_skipped(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("gru", [], status="failed"))
    cur = make_run(tmp_path / "b", result("rnn"), result("gru", [], status="diverged"))
    findings = gate(base, cur, parse_rules(DEFAULT_RULES))
    s = by(findings, "status")
    assert s["gru"].verdict == "skipped" and s["gru"].note == "did not run in either run (failed -> diverged)"
    assert not failed(findings) and "rnn" not in s


def test_identical_runs_pass(tmp_path: Path):
    trials = [result("rnn"), result("lstm", conv=None), result("gru", loss=0.3)]
    base, cur = make_run(tmp_path / "a", *trials), make_run(tmp_path / "b", *trials)
    findings = gate(base, cur, parse_rules(DEFAULT_RULES), "rnn")
    assert not failed(findings) and {f.verdict for f in findings} <= {"unchanged", "skipped"}


# --- bad input ---------------------------------------------------------------------------------------


def test_no_trials_in_common(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn", seed=0))
    cur = make_run(tmp_path / "b", result("rnn", seed=1))
    with pytest.raises(BenchError, match=r"no trials in common between .*a \(1 trials\) and .*b \(1\)"):
        gate(base, cur, TIME_ONLY)


@pytest.mark.parametrize(
    "normalize, fdr, message", [("rn", 0.05, "unknown mode 'rn'"), ("rnn", 1.0, "between 0 and 1")]
)
def test_gate_arguments(tmp_path: Path, normalize, fdr, message):
    run = make_run(tmp_path / "a", result("rnn"))
    with pytest.raises(BenchError, match=message):
        gate(run, run, TIME_ONLY, normalize, fdr)


def test_trial_ids_that_look_like_numbers_still_match(tmp_path: Path):
    for name in ("a", "b"):
        make_run(tmp_path / name, result("rnn"), result("lstm"))
        for f in ("trials.csv", "samples.jsonl"):
            path = tmp_path / name / f
            text = path.read_text().replace(Trial(cell="lstm").trial_id, "000000001234")
            path.write_text(text.replace(Trial(cell="rnn").trial_id, "1e5678901234"))
    t = by(gate(load_run(tmp_path / "a"), load_run(tmp_path / "b"), TIME_ONLY), "time")
    assert t["lstm"].trial_id == "000000001234" and t["lstm"].verdict == "unchanged"
    assert t["rnn"].trial_id == "1e5678901234" and t["rnn"].verdict == "unchanged"


# --- CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    make_run(tmp_path / "a", result("rnn"), result("lstm"), result("gru"))
    make_run(tmp_path / "same", result("rnn"), result("lstm"), result("gru"))
    make_run(tmp_path / "slow", result("rnn"), result("lstm", BASE + 8 * MS), result("gru", conv=None))
    return tmp_path / "a", tmp_path / "same", tmp_path / "slow"


def test_cli_pass_and_fail_with_reports(runs, tmp_path: Path):
    a, same, slow = runs
    ok = cli("gate", str(a), str(same))
    assert ok.returncode == 0, ok.stderr
    assert "PASS: 0 regressions, 0 improvements" in ok.stdout
    bad = cli("gate", str(a), str(slow), "--json", str(tmp_path / "v.json"), "--markdown", str(tmp_path / "s.md"))
    assert bad.returncode == 1, bad.stderr
    assert "FAIL: 3 regressions, 0 improvements" in bad.stdout and "hello-lstm-fused" in bad.stdout
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["verdict"] == "fail" and verdict["schema_version"] == SCHEMA_VERSION
    assert verdict["counts"]["time"] == {"regression": 1, "improvement": 0, "unchanged": 2, "skipped": 0}
    lstm = next(f for f in verdict["findings"] if f["metric"] == "time" and "-lstm-" in f["label"])
    assert lstm["p_value"] == pytest.approx(P_SEPARATED) and lstm["verdict"] == "regression"
    conv = next(f for f in verdict["findings"] if f["metric"] == "convergence_epoch" and "-gru-" in f["label"])
    assert conv["current"] is None and conv["verdict"] == "regression"
    md = (tmp_path / "s.md").read_text()
    assert md.startswith("## rnnbench gate: FAIL: 3 regressions") and "| time | 1 | 0 | 2 | 0 |" in md


def test_cli_normalize_rnn_and_custom_rules(runs):
    a, _, slow = runs
    proc = cli("gate", str(a), str(slow), "--normalize", "rnn", "--rules", "time:median:100%")
    assert proc.returncode == 0, proc.stderr
    assert "convergence_epoch" not in proc.stdout and "skipped" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rules", "time:mean:10%"], "error: rule 'time:mean:10%': write time:median:P%"),
        (["--fdr", "0"], "error: --fdr: 0.0 must be between 0 and 1"),
        (["--json", "/nonexistent/dir/v.json"], "error: --json: folder '/nonexistent/dir' does not exist"),
    ],
)
def test_cli_bad_arguments(runs, args, message):
    a, same, _ = runs
    proc = cli("gate", str(a), str(same), *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_cli_bad_folders(runs, tmp_path: Path):
    a, _, _ = runs
    missing = cli("gate", str(a), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "error: results folder" in missing.stderr and "not found" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = cli("gate", str(tmp_path / "empty"), str(a))
    assert empty.returncode == 2 and "no trials.csv" in empty.stderr
    old = tmp_path / "old"
    make_run(old, result("rnn"))
    (old / "trials.csv").write_text((old / "trials.csv").read_text().replace("\n1,", "\n99,"))
    schema = cli("gate", str(a), str(old))
    assert schema.returncode == 2 and "schema_version [99] is not 1" in schema.stderr
    other = tmp_path / "other"
    make_run(other, result("rnn", seed=7))
    disjoint = cli("gate", str(a), str(other))
    assert disjoint.returncode == 2 and "error: no trials in common" in disjoint.stderr
    usage = cli("gate", str(a), str(other), "--normalize", "cells")
    assert usage.returncode == 2 and "invalid choice: 'cells'" in usage.stderr


def test_cli_help_lists_defaults():
    proc = cli("gate", "--help")
    assert proc.returncode == 0
    for text in ("--normalize {none,rnn,machine}", "(default: none)", "(default: 0.05)", "time:median:10%"):
        assert text in " ".join(proc.stdout.split())


def test_a_trial_missing_from_the_current_run_is_a_regression(tmp_path: Path):
    base = make_run(tmp_path / "a", result("rnn"), result("lstm"), result("gru"))
    cur = make_run(tmp_path / "b", result("rnn"))
    findings = gate(base, cur, TIME_ONLY, "none")
    status = by(findings, "status")
    assert set(status) == {"lstm", "gru"} and status["lstm"].note == "missing in the current run"
    assert failed(findings)


def test_steps_to_solve_flags_a_trial_that_now_hits_its_budget_and_one_that_solves_later():
    from bench.gate import _quality_finding, parse_rule

    rule = parse_rule("steps_to_solve:20%")
    base = pd.Series({"steps_to_solve": 400.0, "cell": "gru", "task": "adding"}, name="t1")
    censored = base.copy()
    censored["steps_to_solve"], censored["budget"] = float("nan"), "max_steps"
    f = _quality_finding(base, censored, rule)
    assert f.verdict == "regression" and "not within its budget now, stopped by max_steps" in f.note
    later = base.copy()
    later["steps_to_solve"] = 500.0
    assert _quality_finding(base, later, rule).verdict == "regression"  # +25% > 20%
    later["steps_to_solve"] = 450.0
    assert _quality_finding(base, later, rule).verdict == "unchanged"  # +12.5%
    never = base.copy()
    never["steps_to_solve"] = float("nan")
    assert _quality_finding(never, never, rule).verdict == "unchanged"  # censored in both: not a finding
    old = pd.Series({"cell": "gru", "task": "adding"}, name="t1")  # an older run without the column
    assert _quality_finding(old, base, rule).verdict == "skipped"
