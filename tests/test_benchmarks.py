"""bench/benchmarks: the repeatability analysis on hand-made trials tables, and the overhead report's lines."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from bench.benchmarks.overhead import Repeat, summary_lines, sweep_overhead
from bench.benchmarks.repeatability import main, repeatability, train_step_ratios, verdicts
from bench.benchmarks.window_noise import main as window_noise
from bench.benchmarks.window_noise import windows_needed
from bench.trial import Trial

DATA = Path(__file__).parent / "data"


def _row(cell: str, hidden: int, seed: int, ratio: float, time_s: float, status: str = "ok") -> dict:
    return {**dataclasses.asdict(Trial(cell=cell, hidden=hidden, seed=seed)), "status": status,
            "reference_cell": "rnn", "paired_ratio": 1.0 if cell == "rnn" else ratio,
            "time_per_step_median_s": time_s, "time_lo_s": time_s * 0.9, "time_hi_s": time_s * 1.1}  # fmt: skip


def _run(lstm: dict[int, tuple[float, float]], lstm_time: dict[int, float], extra: list[dict] = ()) -> pd.DataFrame:
    rows = []
    for hidden, ratios in lstm.items():
        for seed, ratio in enumerate(ratios):
            rows.append(_row("rnn", hidden, seed, 1.0, 0.010))
            rows.append(_row("lstm", hidden, seed, ratio, lstm_time[hidden]))
    return pd.DataFrame(rows + list(extra))


def test_repeatability_on_hand_made_tables():
    first = _run({8: (2.0, 2.2), 16: (3.0, 3.0), 32: (1.0, 1.0)}, {8: 0.010, 16: 0.010, 32: 0.010})
    failed = _row("lstm", 8, 2, 100.0, 9.0, status="failed")  # not timed: left out
    second = _run({8: (2.1, 2.1), 16: (3.3, 3.3)}, {8: 0.010, 16: 0.012}, [failed])  # hidden 32 not rerun
    result = repeatability(first, second)
    s = result.summary
    assert s["configs"] == 4  # (hidden 8, 16) x (rnn, lstm); hidden 32 is only in the first run
    assert s["ratio_change_median"] == pytest.approx(0.05)  # lstm: 2.1 -> 2.1 and 3.0 -> 3.3
    assert s["ratio_change_p90"] == pytest.approx(0.09)
    assert s["seed_spread_median"] == pytest.approx(1.0)  # spreads 1.1, 1.0 | 1.0, 1.0 (rnn has none)
    assert s["seed_spread_p90"] == pytest.approx(1.07)
    assert (s["seed_spread_median_1"], s["seed_spread_p90_1"]) == (pytest.approx(1.05), pytest.approx(1.09))
    assert (s["seed_spread_median_2"], s["seed_spread_p90_2"]) == (1.0, 1.0)
    assert s["time_change_median"] == pytest.approx(0.0)
    assert s["time_change_p90"] == pytest.approx(0.14)  # lstm hidden 16: 10 ms -> 12 ms
    assert s["time_contained_min"] == pytest.approx(0.75)  # 12 ms is outside [9, 11] ms
    row = result.configs.set_index(["hidden", "cell"]).loc[(8, "lstm")]
    assert (row["ratio_1"], row["ratio_2"], row["seeds_2"]) == (pytest.approx(2.1), pytest.approx(2.1), 2)
    assert verdicts(s) == {"seed_spread_median": True, "seed_spread_p90": True, "ratio_change_median": False,
                           "ratio_change_p90": False, "time_contained_min": False}  # fmt: skip


def test_training_time_per_step_is_compared_trial_by_trial_where_the_steps_match():
    first = pd.DataFrame({"trial_id": ["a", "b", "c", "d"], "train_time_s": [10.0, 20.0, 5.0, 0.0],
                          "steps_run": [1000, 2000, 500, 0]})  # fmt: skip
    second = pd.DataFrame(
        {"trial_id": ["a", "b", "c", "d"], "train_time_s": [11.0, 18.0, 9.0, 0.0], "steps_run": [1000, 2000, 400, 0]}
    )  # c stopped elsewhere; d never trained
    assert sorted(train_step_ratios(first, second)) == [pytest.approx(0.9), pytest.approx(1.1)]
    assert train_step_ratios(first.drop(columns="steps_run"), second).empty  # an older run's table


def test_repeatability_of_a_run_with_itself_is_perfect(capsys):
    run = str(DATA / "run_small")
    assert main(["--runs", run, run]) == 0
    out = capsys.readouterr().out
    assert "ratio_change_median    0" in out and "time_contained_min     1  (>= 0.9: met)" in out


def test_repeatability_of_a_missing_run_exits_2(tmp_path: Path, capsys):
    assert main(["--runs", str(tmp_path / "nope"), str(DATA / "run_small")]) == 2
    assert "not found" in capsys.readouterr().err


def test_overhead_lines_give_the_ratio_of_medians_and_its_range():
    repeats = [Repeat({"rnn": 1.0, "lstm": 2.0, "gru": 3.0}, {"rnn": 1.0, "lstm": 2.0, "gru": 3.0},
                      {"rnn": 1.0, "lstm": 2.0, "gru": 3.0}),
               Repeat({"rnn": 1.1, "lstm": 2.2, "gru": 3.0}, {"rnn": 1.0, "lstm": 2.0, "gru": 3.0},
                      {"rnn": 1.0, "lstm": 2.0, "gru": 3.0})]  # fmt: skip
    lines, worst = summary_lines("toy", "eager", repeats)
    assert worst == pytest.approx(0.05)  # rnn and lstm: harness medians 1.05 and 2.1 s against 1.0 and 2.0 s
    assert lines[1].split()[3:9] == ["2100.000", "2000.000", "1.050", "[1.000,", "1.100]", "2000.000"]
    assert lines[2].split()[-2:] == ["2.864", "3.000"]  # gru/rnn: median of 3/1 and 3/1.1; bare 3/1


def test_sweep_overhead_reads_wall_and_in_trial_time(tmp_path: Path):
    doc = {
        "schema_version": 1,
        "sessions": [{"wall_s": 10.0, "in_trials_s": 8.0}, {"wall_s": 10.0, "in_trials_s": 9.0}],
    }
    (tmp_path / "sweep.json").write_text(json.dumps(doc))
    assert "wall 20.0 s, inside trials (training and timing) 17.0 s (85%)" in sweep_overhead(tmp_path)


def test_windows_needed_is_the_smallest_t_interval_within_the_half_width():
    n = windows_needed(0.06)
    half = lambda k: stats.t.ppf(0.975, k - 1) * 0.06 / k**0.5  # noqa: E731
    assert half(n) <= math.log1p(0.05) < half(n - 1)
    assert windows_needed(0.0) == 2 and windows_needed(0.06) < windows_needed(0.08)
    assert windows_needed(float("nan")) is None and windows_needed(5.0) is None


def test_window_noise_times_the_same_models_in_every_window(capsys):
    args = ["--windows", "3", "--gap", "0", "--time-budget", "0.005", "--hidden", "8", "--seq-len", "4"]
    assert window_noise(args) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^window +\d+: \d+ rounds", out, re.M)) == 3
    assert "LSTM/RNN over windows" in out and "GRU/RNN over windows" in out


def test_window_noise_refuses_too_few_windows(capsys):
    with pytest.raises(SystemExit) as e:
        window_noise(["--windows", "2"])
    assert e.value.code == 2 and "--windows must be >= 3" in capsys.readouterr().err
