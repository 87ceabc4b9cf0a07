import json
from pathlib import Path

import pandas as pd
import pytest

from bench import SCHEMA_VERSION
from bench.analysis import with_sibling_ratios
from bench.errors import BenchError
from bench.results import CURVE_COLUMNS, TRIAL_COLUMNS, RunWriter, load_run, trial_row
from bench.trial import EpochRecord, Trial, TrialResult


def result(cell: str, median: float, conv_at: int | None, params: int, status: str = "ok") -> TrialResult:
    solved = [conv_at is not None and e >= conv_at for e in range(1, 6)]
    curve = tuple(EpochRecord(e, 1.0 / e, 0.5, "ohlol", s, 0.01) for e, s in zip(range(1, 6), solved, strict=True))
    stats = {"median": median, "iqr": median / 10, "min": median * 0.9, "mean": median, "rounds": 3,
             "data": [median * 0.9, median, median * 1.1]}  # fmt: skip
    return TrialResult(Trial(cell=cell), status, params=params, length=5, baseline_loss=1.386, curve=curve,
                       samples=tuple(stats["data"]),
                       flops_per_step=2e6, peak_tflops=1.0)  # fmt: skip


def test_trial_row_schema_and_derived_numbers():
    row = trial_row(result("lstm", 0.002, 3, 100))
    assert tuple(row) == TRIAL_COLUMNS[: len(row)] and set(TRIAL_COLUMNS) - set(row) == {
        "time_ratio_vs_rnn", "params_ratio_vs_rnn", "convergence_ratio_vs_rnn", "launch_overhead_fraction"}  # fmt: skip
    assert row["schema_version"] == SCHEMA_VERSION
    assert row["convergence_epoch"] == 3 and row["first_hit_epoch"] == 3
    assert row["time_per_step_median_s"] == 0.002 and row["steps_per_s"] == pytest.approx(500)
    assert row["tokens_per_s"] == pytest.approx(5 / 0.002)
    assert row["time_to_converge_s"] == pytest.approx(0.03)  # 3 epochs of 0.01 s
    assert row["gflops"] == pytest.approx(1.0) and row["peak_fraction"] == pytest.approx(1e-3)
    assert row["final_loss"] == pytest.approx(0.2) and row["stuck_at_baseline"] is False


def test_sibling_ratios():
    rows = [trial_row(result("rnn", 0.001, 2, 100)), trial_row(result("lstm", 0.0025, 4, 400)),
            trial_row(result("gru", 0.003, None, 300, "not_converged"))]  # fmt: skip
    t = with_sibling_ratios(pd.DataFrame(rows)).set_index("cell")
    assert t.loc["lstm", "time_ratio_vs_rnn"] == pytest.approx(2.5)
    assert t.loc["lstm", "params_ratio_vs_rnn"] == pytest.approx(4.0)
    assert t.loc["lstm", "convergence_ratio_vs_rnn"] == pytest.approx(2.0)
    assert t.loc["gru", "time_ratio_vs_rnn"] == pytest.approx(3.0)
    assert pd.isna(t.loc["gru", "convergence_ratio_vs_rnn"])
    assert t.loc["rnn", "time_ratio_vs_rnn"] == pytest.approx(1.0)


def test_sibling_ratio_needs_same_config():
    rows = [trial_row(result("rnn", 0.001, 2, 100)), trial_row(result("lstm", 0.002, 2, 400))]
    rows[1]["hidden"] = 99
    t = with_sibling_ratios(pd.DataFrame(rows)).set_index("cell")
    assert pd.isna(t.loc["lstm", "time_ratio_vs_rnn"])


def writer(d: Path) -> RunWriter:
    return RunWriter(d, {"schema_version": SCHEMA_VERSION}, "name = 'x'\n", {"machine_info": {}})


def test_writer_round_trip_and_resume(tmp_path: Path):
    w = writer(tmp_path)
    w.append(result("rnn", 0.001, 2, 100))
    w.append(result("rnn", 0.001, 2, 100))  # same trial_id: written once
    w.finalize()
    run = load_run(tmp_path)
    assert len(run.trials) == 1 and list(run.curves.columns) == list(CURVE_COLUMNS)
    assert len(run.curves) == 5
    assert run.samples() == {Trial(cell="rnn").trial_id: [0.001 * 0.9, 0.001, 0.001 * 1.1]}
    bench = json.loads((tmp_path / "benchmark.json").read_text())
    assert len(bench["benchmarks"]) == 1 and bench["benchmarks"][0]["stats"]["median"] == 0.001
    assert writer(tmp_path).done == {Trial(cell="rnn").trial_id}


def test_repair_drops_torn_tail_and_orphan_rows(tmp_path: Path):
    w = writer(tmp_path)
    w.append(result("rnn", 0.001, 2, 100))
    # A crash mid-trial: the next trial's curve rows and sample landed, its trials row is torn.
    lstm = result("lstm", 0.002, 2, 400)
    from bench.results import _csv_text, curve_rows

    with open(tmp_path / "curves.csv", "a") as f:
        f.write(_csv_text(CURVE_COLUMNS, curve_rows(lstm), header=False))
    with open(tmp_path / "samples.jsonl", "a") as f:
        record = {"extra_info": {"trial_id": lstm.trial.trial_id, "schema_version": 1}, "stats": {"data": [1]}}
        f.write(json.dumps(record) + "\n")
    with open(tmp_path / "trials.csv", "a") as f:
        f.write("1,hello,lstm,fus")
    w2 = writer(tmp_path)
    assert w2.done == {Trial(cell="rnn").trial_id}
    assert (tmp_path / "trials.csv").read_text().endswith("\n")
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["trial_id"]) == {Trial(cell="rnn").trial_id}
    assert len((tmp_path / "samples.jsonl").read_text().splitlines()) == 1


def test_load_run_bad_inputs(tmp_path: Path):
    with pytest.raises(BenchError, match="not found"):
        load_run(tmp_path / "missing")
    with pytest.raises(BenchError, match="no trials.csv"):
        load_run(tmp_path)
    (tmp_path / "trials.csv").write_text("schema_version,trial_id,status\n99,abc,ok\n")
    with pytest.raises(BenchError, match="schema_version \\[99\\] is not 1"):
        load_run(tmp_path)
    (tmp_path / "trials.csv").write_text("a,b\n1,2\n")
    with pytest.raises(BenchError, match="missing columns"):
        load_run(tmp_path)


def test_empty_files_left_by_a_crash_are_treated_as_absent(tmp_path: Path):
    (tmp_path / "trials.csv").write_text("")
    (tmp_path / "curves.csv").write_text("")
    w = writer(tmp_path)
    assert w.done == set()
    w.append(result("rnn", 0.001, 2, 100))
    w.finalize()
    run = load_run(tmp_path)
    assert len(run.trials) == 1 and list(run.curves.columns) == list(CURVE_COLUMNS)
