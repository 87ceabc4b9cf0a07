"""bench.solve on hand-made trials tables: censoring, best learning rate, survival, headline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench import solve
from bench.trial import Trial


def row(cell="lstm", lr=0.01, seed=0, solved=True, steps=None, seconds=None, final_loss=0.005, **axes) -> dict:
    """One trials.csv row as the reader returns it; an unsolved one is censored at 2000 steps / 20 s."""
    trial = Trial(task="adding", cell=cell, lr=lr, seed=seed, seq_len=100, max_epochs=100, steps_per_epoch=50,
                  max_steps=2000, **axes)  # fmt: skip
    return {
        **{k: getattr(trial, k) for k in solve.CONFIG_KEYS + ["cell", "lr", "seed"]},
        "trial_id": trial.trial_id, "status": "ok" if solved else "not_converged",
        "convergence_epoch": (steps // 50) if solved else np.nan, "epochs_run": 40,
        "steps_to_solve": steps if solved else np.nan, "time_to_solve_s": seconds if solved else np.nan,
        "solve_censored": str(not solved), "budget": "early_stop" if solved else "max_steps",
        "steps_run": (steps or 0) + 100 if solved else 2000, "train_time_s": (seconds or 0) + 1 if solved else 20.0,
        "time_to_converge_s": np.nan, "final_loss": final_loss,
    }  # fmt: skip


def table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_censored_trials_keep_no_time_to_solve_and_remember_where_they_stopped():
    t = table(row(steps=900, seconds=9.0), row(seed=1, solved=False), row(cell="rnn", solved=False))
    out = solve.solve_outcomes(t)
    assert out["solved"].tolist() == [True, False, False]
    assert out["steps_to_solve"].tolist()[0] == 900 and out["steps_to_solve"].isna().tolist() == [False, True, True]
    assert out["time_to_solve_s"].isna().tolist() == [False, True, True]  # censored: never filled in
    assert out["steps_run"].tolist() == [1000, 2000, 2000] and out["train_time_s"].tolist() == [10.0, 20.0, 20.0]
    assert out["budget_text"][0] == "2000 steps, 100 epochs x 50 steps"


def test_failed_and_skipped_trials_are_left_out_and_diverged_ones_are_censored():
    t = table(row(steps=900, seconds=9.0), row(seed=1, steps=900, seconds=9.0), row(seed=2, solved=False))
    t.loc[1, "status"] = "failed"
    t.loc[2, "status"] = "diverged"
    out = solve.solve_outcomes(t)
    assert out["seed"].tolist() == [0, 2] and out["solved"].tolist() == [True, False]


def test_runs_without_solve_columns_are_read_from_the_convergence_epoch():
    old = table(row(steps=900, seconds=9.0), row(seed=1, solved=False))
    old = old.drop(columns=["steps_to_solve", "time_to_solve_s", "solve_censored", "steps_run", "max_steps"])
    old["time_to_converge_s"] = [9.5, np.nan]
    out = solve.solve_outcomes(old)
    assert out["solved"].tolist() == [True, False]
    assert out["steps_to_solve"].tolist()[0] == 900 and out["time_to_solve_s"].tolist()[0] == 9.5
    assert out["steps_run"].tolist() == [2000, 2000]  # epochs_run x steps_per_epoch
    assert out["budget_text"][0] == "100 epochs x 50 steps"


def test_best_lr_is_the_lowest_median_time_to_solve_then_the_lowest_final_loss():
    t = table(
        # lr 0.003: solved on every seed, median 12 s
        row(lr=0.003, seed=0, steps=1200, seconds=12.0), row(lr=0.003, seed=1, steps=1300, seconds=13.0),
        row(lr=0.003, seed=2, steps=1100, seconds=11.0),
        # lr 0.01: faster where solved (5 s) but censored on 2 of 3 seeds: median is "never"
        row(lr=0.01, seed=0, steps=500, seconds=5.0), row(lr=0.01, seed=1, solved=False),
        row(lr=0.01, seed=2, solved=False),
        # the rnn solves nowhere: its best lr is the one with the lower median final loss
        row(cell="rnn", lr=0.003, solved=False, final_loss=0.16),
        row(cell="rnn", lr=0.01, solved=False, final_loss=0.1),
    )  # fmt: skip
    summary = solve.lr_summary(solve.solve_outcomes(t))
    lstm = summary[summary["cell"] == "lstm"].set_index("lr")
    assert lstm.loc[0.003, "median_time_to_solve_s"] == 12.0 and lstm.loc[0.003, "solved"] == 3
    assert math.isinf(lstm.loc[0.01, "median_time_to_solve_s"]) and lstm.loc[0.01, "solved"] == 1
    best = solve.best_lr(summary).set_index("cell")
    assert best.loc["lstm", "lr"] == 0.003 and best.loc["rnn", "lr"] == 0.01
    assert best.loc["lstm", "lrs_tried"] == 2
    chosen = solve.at_best_lr(solve.solve_outcomes(t))
    assert sorted(chosen[chosen["cell"] == "lstm"]["seed"]) == [0, 1, 2] and set(
        chosen["lr"][chosen["cell"] == "lstm"]
    ) == {0.003}


def test_a_tie_on_time_to_solve_goes_to_the_lower_final_loss():
    t = table(
        row(lr=0.003, steps=500, seconds=5.0, final_loss=0.008), row(lr=0.01, steps=500, seconds=5.0, final_loss=0.002)
    )
    assert solve.best_lr(solve.lr_summary(solve.solve_outcomes(t)))["lr"].tolist() == [0.01]


def test_survival_counts_solves_over_all_trials_and_marks_censoring():
    t = table(row(seed=0, steps=300, seconds=3.0), row(seed=1, solved=False), row(seed=2, steps=900, seconds=9.0))
    events = solve.survival(solve.solve_outcomes(t), "time")
    assert events["x"].tolist() == [3.0, 9.0, 20.0]  # the censored trial at its whole training time
    assert events["solved"].tolist() == [True, True, False]
    assert events["fraction"].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    steps = solve.survival(solve.solve_outcomes(t), "steps")
    assert steps["x"].tolist() == [300, 900, 2000]


def test_headline_gives_the_ratio_where_both_solve_and_counts_within_the_budget_otherwise():
    t = table(
        row(cell="rnn", seed=0, steps=1000, seconds=10.0), row(cell="rnn", seed=1, solved=False),
        row(cell="gru", seed=0, steps=300, seconds=5.0), row(cell="gru", seed=1, steps=300, seconds=4.0),
        row(cell="lstm", seed=0, solved=False), row(cell="lstm", seed=1, solved=False),
    )  # fmt: skip
    head = solve.headline(solve.solve_outcomes(t)).set_index("cell")
    assert head.loc["gru", "vs_reference"] == "0.50x the time (1 seeds both solved)"
    assert head.loc["lstm", "vs_reference"] == "solved 0/2 vs 1/2 within 2000 steps, 100 epochs x 50 steps"
    assert head.loc["gru", "solved"] == "2/2" and head.loc["gru", "median_time_to_solve_s"] == 4.5
    assert np.isinf(head.loc["lstm", "median_time_to_solve_s"]) and head.loc["rnn", "vs_reference"] == "-"


def test_configurations_at_one_length_are_told_apart():
    t = table(row(steps=300, seconds=3.0, hidden=32), row(steps=300, seconds=3.0, hidden=64))
    out = solve.solve_outcomes(t)
    assert out["config"].nunique() == 2 and out["config_label"].tolist() == ["hidden=32", "hidden=64"]


def test_the_report_says_how_much_training_ran_beside_another_process():
    from bench.report.sections_solve import _beside_text

    outcomes = pd.DataFrame({"trained_beside": [0.0, 0.5, 1.0, 0.25]})
    text = _beside_text(outcomes)
    assert text.startswith("3 of 4 trained trials trained beside another training process")
    assert "median 50% of them" in text
    assert _beside_text(pd.DataFrame({"trained_beside": [0.0, 0.0]})) == ""
    assert _beside_text(pd.DataFrame({"final_loss": [0.1]})) == ""  # a run of an older rnnbench
