"""The report's data preparation: pure functions on hand-made tables (exact numbers) and the committed run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis import with_sibling_ratios
from bench.errors import BenchError
from bench.report import cost, provenance, training
from bench.report.runs import load_results, run_labels, timing_quartiles
from bench.report.units import fmt_number, fmt_ratio, fmt_time, time_unit
from bench.results import trial_row
from bench.trial import EpochRecord, Trial, TrialResult

FIXTURE = Path(__file__).parent / "data" / "run_small"
CPU = f"cpu ({json.loads((FIXTURE / 'env.json').read_text())['devices']['cpu']})"


def raw_trials() -> pd.DataFrame:
    """The fixture's trials.csv as pandas reads it, for figures computed independently of the report."""
    return pd.read_csv(FIXTURE / "trials.csv", dtype={"trial_id": str})


def row(cell="rnn", median=1e-3, conv=None, status="ok", params=100, final=0.5, iqr=None, epochs=5, **axes) -> dict:
    """One trials.csv row: `epochs` epochs of 0.01 s, solved from epoch `conv` on, loss 1.0 then `final`."""
    solved = [conv is not None and e >= conv for e in range(1, epochs + 1)]
    losses = [1.0] * (epochs - 1) + [final]
    curve = tuple(
        EpochRecord(e, lo, 0.0, "", s, 0.01) for e, lo, s in zip(range(1, epochs + 1), losses, solved, strict=True)
    )
    spread = median / 10 if iqr is None else iqr
    timed = status in ("ok", "not_converged", "diverged")
    timing = tuple(median + k * spread / 2 for k in (-2, -1, 0, 1, 2)) if timed else ()
    trial = Trial(cell=cell, max_epochs=epochs, **axes)
    result = TrialResult(trial, status, error="boom" if status == "failed" else "", params=params, baseline_loss=1.0,
                         curve=curve if timing else (), samples=timing, flops_per_step=2e6)  # fmt: skip
    return trial_row(result)


def frame(*rows: dict, run: str = "r") -> pd.DataFrame:
    """Rows as `bench.report.runs` tags them: ratios, run, device label, quartiles (median -/+ IQR/2)."""
    t = with_sibling_ratios(pd.DataFrame(list(rows)))
    t.insert(0, "run", run)
    t["device_label"] = t["device"]
    t["time_per_step_q25_s"], t["time_per_step_q75_s"] = timing_quartiles(t, {})
    return t


@pytest.fixture(scope="module")
def fixture():
    return load_results([FIXTURE])


# -- units ------------------------------------------------------------------


def test_units_by_magnitude():
    assert time_unit([2e-6, 3e-6, 5e-3]) == ("us", 1e-6)  # the median picks the unit
    assert time_unit([0.02]) == ("ms", 1e-3) and time_unit([3.0]) == ("s", 1.0) and time_unit([]) == ("s", 1.0)
    assert fmt_time(0.00123) == "1.23 ms" and fmt_time(4.5e-5) == "45 us" and fmt_time(float("nan")) == "-"
    assert fmt_ratio(2.0, 1.5, 2.5) == "2x [1.5, 2.5]" and fmt_ratio(float("nan")) == "-"
    assert fmt_number(3.0) == "3" and fmt_number(0.123456) == "0.1235" and fmt_number(float("nan")) == "-"


# -- loading ----------------------------------------------------------------


def test_load_results_tags_rows_and_reads_quartiles(fixture):
    t = fixture.trials
    assert len(t) == 61 and set(t["run"]) == {"data/run_small"}
    assert set(t["device_label"]) == {CPU, "cuda"}  # cuda has no name in env.json: it never ran
    record = json.loads((FIXTURE / "samples.jsonl").read_text().splitlines()[0])
    first = t[t["trial_id"] == record["extra_info"]["trial_id"]].iloc[0]
    q25, q75 = np.percentile(record["stats"]["data"], [25, 75])
    assert first["time_per_step_q25_s"] == pytest.approx(q25) and first["time_per_step_q75_s"] == pytest.approx(q75)
    assert t[t["status"] == "skipped"]["time_per_step_q25_s"].isna().all()
    assert list(fixture.environment.columns) == ["data/run_small"]
    assert fixture.environment.loc["torch_version", "data/run_small"] == "2.13.0+cpu"
    assert len(fixture.curves) == len(pd.read_csv(FIXTURE / "curves.csv")) and set(fixture.curves["run"]) == {
        "data/run_small"
    }


def test_quartiles_fall_back_to_median_and_iqr():
    t = pd.DataFrame({"trial_id": ["a", "b"], "time_per_step_median_s": [1.0, 2.0], "time_per_step_iqr_s": [0.2, 0.4]})
    q25, q75 = timing_quartiles(t, {"b": [1.0, 2.0, 3.0, 4.0, 5.0]})
    assert q25.tolist() == [0.9, 2.0] and q75.tolist() == [1.1, 4.0]


def test_run_labels_are_unique(tmp_path):
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    assert run_labels([a, b, a]) == ["x/run", "y/run", "x/run #2"]


def test_load_results_errors(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        load_results([tmp_path / "nope"])
    with pytest.raises(BenchError, match="no trials.csv"):
        load_results([tmp_path])
    (tmp_path / "trials.csv").write_text("")
    with pytest.raises(BenchError, match="unreadable"):
        load_results([tmp_path])
    with pytest.raises(BenchError, match="no results folder"):
        load_results([])


# -- headline ----------------------------------------------------------------


def _three_sizes() -> pd.DataFrame:
    rows = []
    for hidden, lstm_ms in ((8, 2.0), (16, 3.0), (32, 4.0)):
        rows.append(row("rnn", 1e-3, conv=2, params=100, hidden=hidden))
        rows.append(row("lstm", lstm_ms * 1e-3, conv=4, params=400, hidden=hidden))
    rows.append(row("gru", 3e-3, conv=None, status="not_converged", params=300, hidden=8))
    return frame(*rows)


def test_headline_exact_ratios():
    table = cost.headline_table(_three_sizes()).set_index("cell")
    assert list(table.index) == ["lstm", "gru"]
    lstm, gru = table.loc["lstm"], table.loc["gru"]
    assert lstm["time_ratio"] == 3.0 and lstm["time_pairs"] == 3
    assert (lstm["time_ratio_lo"], lstm["time_ratio_hi"]) == (2.0, 4.0)
    assert lstm["params_ratio"] == 4.0 and lstm["matmul_ratio"] == 4.0
    assert lstm["convergence_ratio"] == 2.0 and lstm["convergence_pairs"] == 3  # epoch 4 vs 2
    assert lstm["time_to_converge_ratio"] == pytest.approx(2.0) and lstm["time_to_converge_pairs"] == 3
    assert gru["time_ratio"] == 3.0 and math.isnan(gru["time_ratio_lo"])  # one pair: no interval
    assert gru["convergence_pairs"] == 0 and math.isnan(gru["convergence_ratio"]) and gru["matmul_ratio"] == 3.0


def test_headline_on_fixture(fixture):
    table = cost.headline_table(fixture.trials).set_index("cell")
    assert list(table["device_label"]) == [CPU, CPU]  # cuda was skipped: no row
    raw = raw_trials()
    lstm = raw[(raw["cell"] == "lstm") & raw["status"].isin(["ok", "not_converged"]) & (raw["device"] == "cpu")]
    assert table.loc["lstm", "time_pairs"] == len(lstm) == 18
    # The headline's time ratio is the paired one: the median of trials.csv's paired_ratio column.
    assert table.loc["lstm", "time_ratio"] == pytest.approx(np.median(lstm["paired_ratio"]))
    assert table.loc["lstm", "time_ratio_lo"] <= table.loc["lstm", "time_ratio"] <= table.loc["lstm", "time_ratio_hi"]
    rnn = raw[(raw["cell"] == "rnn") & (raw["task"] == "adding") & (raw["hidden"] == 8) & (raw["seq_len"] == 5)]
    gru = raw[(raw["cell"] == "gru") & (raw["task"] == "adding") & (raw["hidden"] == 8) & (raw["seq_len"] == 5)]
    assert table.loc["lstm", "params_ratio"] > 3 and gru["params"].iloc[0] / rnn["params"].iloc[0] > 2


def test_median_interval_is_reproducible():
    values = np.arange(1.0, 11.0)
    assert cost.median_interval(values) == cost.median_interval(values) == (3.0, 8.0)
    assert cost.median_interval(np.array([2.0, 2.0])) == (2.0, 2.0)
    assert all(math.isnan(v) for v in cost.median_interval(np.array([2.0])))


def test_sibling_ratio_matches_within_a_run():
    t = pd.concat([frame(row("rnn", conv=2), row("lstm", conv=3), run="a"), frame(row("lstm", conv=4), run="b")])
    ratio = cost.sibling_ratio(t.reset_index(drop=True), "time_to_converge_s")
    assert ratio.tolist()[:2] == pytest.approx([1.0, 1.5]) and math.isnan(ratio.iloc[2])  # run b has no RNN


# -- sweeps and heatmap --------------------------------------------------------


def _around() -> pd.DataFrame:
    """A centre (hidden 16, seq_len 10, two seeds) with hidden and seq_len varied one at a time."""
    rows = []
    configs = [(16, 10, 0), (16, 10, 1), (8, 10, 0), (32, 10, 0), (16, 5, 0), (16, 20, 0)]
    for hidden, seq_len, seed in configs:
        base = hidden * seq_len * 1e-5 * (1 + seed)
        rows.append(row("rnn", base, hidden=hidden, seq_len=seq_len, seed=seed, task="adding"))
        rows.append(row("gru", 2 * base, hidden=hidden, seq_len=seq_len, seed=seed, task="adding"))
    return frame(*rows)


def test_sweep_slice_takes_the_line_through_the_centre():
    block = cost.sweep_slice(_around(), ["hidden"])
    assert sorted(block.trials["hidden"].unique()) == [8, 16, 32] and set(block.trials["seq_len"]) == {10}
    assert block.describe() == "seq_len=10"


def test_time_sweep_medians_over_seeds():
    _, points = cost.time_sweep(_around(), "hidden")
    rnn = points[points["cell"] == "rnn"].set_index("hidden")
    assert rnn["time_per_step_median_s"].tolist() == pytest.approx([8e-4, 2.4e-3, 3.2e-3])  # centre: 1.6 and 3.2 ms
    assert rnn.loc[16, "time_per_step_q25_s"] == pytest.approx(2.4e-3 * 0.95)
    assert rnn["trials"].tolist() == [1, 2, 1]


def test_ratio_sweep_and_heatmap():
    _, points = cost.ratio_sweep(_around(), "seq_len")
    assert set(points["cell"]) == {"gru"} and points["time_ratio_vs_rnn"].tolist() == pytest.approx([2.0] * 3)
    block, long = cost.heatmap_table(_around(), "hidden", "seq_len")
    assert len(long) == 5  # an [[around]] is a cross: the centre row and column
    grid = cost.heatmap_pivot(long, "cpu", "gru", "hidden", "seq_len")
    assert list(grid.index) == [32, 16, 8] and list(grid.columns) == [5, 10, 20]
    assert grid.loc[16].tolist() == [2.0, 2.0, 2.0] and math.isnan(grid.loc[8, 5])


def test_heatmap_on_fixture_grid(fixture):
    block, long = cost.heatmap_table(fixture.trials, "hidden", "seq_len")
    assert block.describe() == "task=adding, layers=1, batch=16" and len(long) == 18
    grid = cost.heatmap_pivot(long, CPU, "lstm", "hidden", "seq_len")
    assert list(grid.index) == [32, 16, 8] and list(grid.columns) == [5, 10, 20]
    raw = raw_trials()
    cell = raw[(raw["cell"] == "lstm") & (raw["hidden"] == 16) & (raw["seq_len"] == 10) & (raw["layers"] == 1)
               & (raw["batch"] == 16) & (raw["task"] == "adding")]  # fmt: skip
    assert grid.loc[16, 10] == pytest.approx(np.median(cell["paired_ratio"]))  # median over its seeds


def test_time_sweep_on_fixture(fixture):
    block, points = cost.time_sweep(fixture.trials, "hidden")
    assert block.describe() == "task=adding, layers=1, seq_len=10, batch=16"
    assert len(points) == 9 and points["trials"].tolist() == [1, 2, 1] * 3
    gru8 = points[(points["cell"] == "gru") & (points["hidden"] == 8)].iloc[0]
    raw = raw_trials()
    trial = raw[(raw["cell"] == "gru") & (raw["hidden"] == 8) & (raw["seq_len"] == 10) & (raw["task"] == "adding")
                & (raw["layers"] == 1) & (raw["batch"] == 16)]  # fmt: skip
    assert gru8["time_per_step_median_s"] == pytest.approx(np.median(trial["time_per_step_median_s"]))


# -- convergence and cost against benefit ----------------------------------------------


def _trained() -> pd.DataFrame:
    return frame(
        row("rnn", conv=2, seed=0),
        row("rnn", conv=None, status="not_converged", final=1.01, seed=1),  # stuck: baseline is 1.0
        row("lstm", conv=3, seed=0),
        row("lstm", conv=None, status="not_converged", final=0.5, seed=1),
        row("gru", conv=None, status="diverged", final=float("nan"), seed=0),
        row("gru", status="failed", seed=1),
    )


def test_convergence_points_keep_every_trained_trial():
    points = training.convergence_points(_trained())
    assert points["outcome"].tolist() == ["converged", "stuck at baseline", "converged", "not converged", "diverged"]
    assert points["plot_epoch"].tolist() == [2.0, 6.0, 3.0, 6.0, 6.0]  # never converged: max_epochs + 1


def test_convergence_summary_counts():
    summary = training.convergence_summary(_trained()).set_index("cell")
    assert summary.loc["rnn", ["trials", "converged", "stuck at baseline"]].tolist() == [2, 1, 1]
    assert summary.loc["lstm", "not converged"] == 1 and summary.loc["gru", "diverged"] == 1
    assert summary.loc["gru", "trials"] == 1  # the failed one never trained
    assert summary.loc["lstm", "median_convergence_epoch"] == 3.0


def test_loss_bands_and_baselines():
    t = frame(row("rnn", final=0.2, seed=0), row("rnn", final=0.4, seed=1), row("rnn", final=0.9, seed=2))
    curves = pd.DataFrame(
        [
            {"run": "r", "trial_id": tid, "epoch": 5, "loss": loss}
            for tid, loss in zip(t["trial_id"], (0.2, 0.4, 0.9), strict=True)
        ]
    )
    bands = training.loss_bands(t, curves)
    assert bands[["loss_median", "loss_q25", "loss_q75", "trials"]].iloc[0].tolist() == pytest.approx(
        [0.4, 0.3, 0.65, 3]
    )
    assert training.task_baselines(t).to_dict() == {"hello": 1.0}
    assert training.loss_bands(t, curves.iloc[0:0]).empty


def test_cost_benefit_points_use_training_time_as_lower_bound():
    points = training.cost_benefit_points(_trained())
    assert points["converged"].tolist() == [True, False, True, False, False]
    assert points["time_to_converge_s"].tolist() == pytest.approx([0.02, 0.05, 0.03, 0.05, 0.05])


def test_convergence_on_fixture(fixture):
    summary = training.convergence_summary(fixture.trials).set_index(["task", "cell"])
    raw = raw_trials()
    adding_gru = raw[(raw["task"] == "adding") & (raw["cell"] == "gru") & (raw["status"] != "skipped")]
    assert summary.loc[("adding", "gru"), "converged"] == adding_gru["convergence_epoch"].notna().sum()
    hello_rnn = raw[(raw["task"] == "hello") & (raw["cell"] == "rnn") & (raw["device"] == "cpu")]
    assert summary.loc[("hello", "rnn"), "median_convergence_epoch"] == pytest.approx(
        hello_rnn["convergence_epoch"].median()
    )
    bands = training.loss_bands(fixture.trials, fixture.curves)
    assert len(bands) > 0 and bands["trials"].between(1, 16).all()  # early stopping thins later epochs


# -- provenance -------------------------------------------------------------------


def test_device_coverage_and_problems(fixture):
    coverage = provenance.device_coverage(fixture.trials).set_index("device_label")
    assert coverage.loc["cuda", ["trials", "timed", "skipped"]].tolist() == [6, 0, 6]
    assert coverage.loc[CPU, ["timed", "failed"]].tolist() == [54, 1]
    assert "not available" in coverage.loc["cuda", "first_error"]
    problems = provenance.problem_trials(fixture.trials)
    assert problems["status"].value_counts().to_dict() == {"skipped": 6, "failed": 1}
    assert "<script>" in problems[problems["status"] == "failed"]["error"].iloc[0]


def test_measurement_warnings_flag_iqr_over_threshold():
    t = frame(row("rnn", 1e-3, iqr=1e-4), row("lstm", 1e-3, iqr=3e-4), row("gru", 1e-3, iqr=2e-4))
    noisy = provenance.measurement_warnings(t, threshold=0.1)
    assert noisy["cell"].tolist() == ["lstm", "gru"] and noisy["iqr_fraction"].tolist() == pytest.approx([0.3, 0.2])
    assert provenance.measurement_warnings(t, threshold=0.5).empty


def test_trials_table_puts_varying_axes_first(fixture):
    shown = provenance.trials_table(fixture.trials)
    assert list(shown.columns[:4]) == ["run", "trial_id", "status", "task"]
    assert len(shown.columns) == len(fixture.trials.columns)


def test_timing_only_trials_never_appear_as_convergence_failures():
    from bench.solve import solve_outcomes

    synthetic = trial_row(TrialResult(Trial(task="synthetic", encoding="dense", cell="lstm"), "ok",
                                      samples=(1e-3,) * 5))  # fmt: skip
    t = frame(row("rnn", conv=2), row("lstm", conv=3), synthetic)
    assert "synthetic" not in set(training.convergence_summary(t)["task"])
    assert "synthetic" not in set(solve_outcomes(t)["task"]) and len(solve_outcomes(t)) == 2
