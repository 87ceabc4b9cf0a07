"""The dry-run estimate's model, on hand-made step costs (no timing)."""

import pytest

from bench.estimate import StepModel, _fit, sweep_seconds, trial_seconds
from bench.trial import Trial

MODELS = {"cpu/lstm/fused": {"a": 1e-3, "b": 1e-5, "rate": 1e10}, "startup_s": 3.0}


def test_fit_recovers_the_step_model():
    truth = StepModel(a=8e-4, b=5e-5, rate=4e10)
    rows = [(x, f, truth.seconds(x, 1, f)) for x, f in ((10, 1e6), (80, 8e6), (10, 2e8))]
    fitted = _fit(rows)
    assert fitted.a == pytest.approx(truth.a) and fitted.b == pytest.approx(truth.b)
    assert fitted.rate == pytest.approx(truth.rate)


def test_a_trial_costs_its_training_budget_evaluations_and_timing():
    trial = Trial(task="adding", encoding="dense", cell="lstm", hidden=32, seq_len=10, batch=16, max_epochs=10,
                  steps_per_epoch=10)  # fmt: skip
    base = trial_seconds(trial, MODELS, 0.1)
    step = 1e-3 + 1e-5 * 10  # the model's a + b * length, plus a negligible flop term
    assert trial_seconds(trial.replace(max_epochs=20), MODELS, 0.1) - base > 100 * step  # 100 more steps
    assert trial_seconds(trial.replace(max_steps=10), MODELS, 0.1) < base  # a step budget caps it
    # the timing window: the budget (at least 15 rounds), twice over for a short step (its untimed call per round)
    assert trial_seconds(trial, MODELS, 0.001) == pytest.approx(trial_seconds(trial, MODELS, 0.0001))  # 15 rounds
    assert trial_seconds(trial, MODELS, 1.0) - trial_seconds(trial, MODELS, 0.5) == pytest.approx(2 * 0.5)


def test_a_sweep_adds_start_up():
    trials = [Trial(cell="lstm", seed=s) for s in range(3)]
    total, startup = sweep_seconds(trials, 0.1, MODELS)
    assert startup == pytest.approx(8.0) and total > startup + sum(trial_seconds(t, MODELS, 0.1) for t in trials)
