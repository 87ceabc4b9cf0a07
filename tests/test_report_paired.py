"""The report's paired tables (`bench.report.paired`) and its noise sentence, on runs written by RunWriter."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.report import paired
from bench.report.runs import load_results
from bench.report.sections_cost import _noise_sentence
from tests.test_gate import MS, make_run, result

REFERENCE = np.array([2.0, 2.1, 1.9, 2.0, 2.2, 1.8, 2.0, 2.0]) * MS  # the RNN step's rounds
RATIOS = {0: 1.9, 1: 2.0, 2: 2.1, 3: 2.2}  # the LSTM's paired ratio in each seed's window


def timed_pair(seed: int, machine_ms: float) -> list:
    """The RNN and the LSTM of one timing group (seed), with the machine workload's rounds at `machine_ms`."""
    machine = tuple(float(machine_ms * MS) for _ in REFERENCE)
    reference = tuple(map(float, REFERENCE))
    rnn = replace(result("rnn", REFERENCE, seed=seed), reference_samples=reference, reference_cell="rnn",
                  machine_samples=machine)  # fmt: skip
    lstm = replace(result("lstm", REFERENCE * RATIOS[seed], seed=seed), reference_samples=reference,
                   reference_cell="rnn", machine_samples=machine)  # fmt: skip
    return [rnn, lstm]


def load(tmp_path: Path, machine_ms: list[float]):
    pairs = [r for seed, m in zip(RATIOS, machine_ms, strict=True) for r in timed_pair(seed, m)]
    run = make_run(tmp_path / "run", *pairs)
    return load_results([run.dir])


def test_config_table_pools_a_configurations_seeds(tmp_path: Path):
    results = load(tmp_path, [1.0, 1.0, 1.0, 1.0])
    table = paired.config_table(results.trials, results.paired)
    assert list(table["cell"]) == ["lstm"]  # the reference cell is the divisor, not a row
    row = table.iloc[0]
    assert row["seeds"] == 4 and row["ratio"] == pytest.approx(2.05)  # median of the seeds' medians
    assert row["seed_spread"] == pytest.approx(2.2 / 1.9)
    assert 1.9 <= row["ratio_lo"] < row["ratio"] < row["ratio_hi"] <= 2.2 and not row["overlaps_1x"]
    medians = [float(np.median(REFERENCE * r)) for r in RATIOS.values()]
    assert row["time_s"] == pytest.approx(np.median(medians))
    assert row["time_lo_s"] == pytest.approx(min(medians)) and row["time_hi_s"] == pytest.approx(max(medians))
    assert paired.noise_floor(table) == (pytest.approx(2.2 / 1.9), pytest.approx(2.2 / 1.9), 1)
    with_reference = paired.config_table(results.trials, results.paired, reference=True)
    assert sorted(with_reference["cell"]) == ["lstm", "rnn"]


def test_machine_drift_is_p90_over_p10_of_the_groups_machine_medians(tmp_path: Path):
    machine_ms = [1.0, 1.2, 1.5, 2.0]
    results = load(tmp_path, machine_ms)
    drift = paired.machine_drift(results.trials)
    assert drift == pytest.approx(np.percentile(machine_ms, 90) / np.percentile(machine_ms, 10))
    # The absolute times' interval is widened by that drift on each side.
    table = paired.config_table(results.trials, results.paired)
    medians = [float(np.median(REFERENCE * r)) for r in RATIOS.values()]
    assert table.iloc[0]["time_hi_s"] == pytest.approx(max(medians) * drift)
    assert table.iloc[0]["time_lo_s"] == pytest.approx(min(medians) / drift)
    assert math.isnan(paired.machine_drift(results.trials.iloc[:4]))  # two timing groups: too few


@pytest.mark.parametrize("machine_ms, says", [
    ([1.0, 1.01, 1.02, 1.03], "steady, so this run's absolute times hold for the machine as it ran then"),
    ([1.0, 1.2, 1.5, 2.0], "too unsteady for absolute times to be compared with another run; compare ratios."),
])  # fmt: skip
def test_noise_sentence_states_the_floor_and_whether_times_compare(tmp_path: Path, machine_ms, says):
    results = load(tmp_path, machine_ms)
    text = _noise_sentence(paired.config_table(results.trials, results.paired), results.trials)
    assert "differ by a median of 15.8% (p90 15.8%, over 1 configurations)" in text
    drift = np.percentile(machine_ms, 90) / np.percentile(machine_ms, 10)
    assert f"varied by x{drift:.2f} (p90/p10) during the run" in text and says in text
