import pytest

from bench.convergence import convergence_epoch, first_hit_epoch, stuck_at_baseline


@pytest.mark.parametrize(
    ("solved", "conv", "first"),
    [
        ([False, False, True, True, True], 3, 3),
        ([False, True, False, True, True], 4, 2),  # hit at 2, lost, stable from 4
        ([True, True, True], 1, 1),
        ([False, True, True, False], None, 2),  # lost at the last epoch: never converged
        ([False, False], None, None),
        ([], None, None),
    ],
)
def test_convergence_and_first_hit(solved, conv, first):
    assert convergence_epoch(solved) == conv
    assert first_hit_epoch(solved) == first


def test_stuck_at_baseline():
    assert stuck_at_baseline(0.17, 1 / 6)
    assert stuck_at_baseline(1 / 6 * 0.951, 1 / 6)
    assert not stuck_at_baseline(1 / 6 * 0.94, 1 / 6)
    assert not stuck_at_baseline(float("nan"), 1 / 6)
    assert not stuck_at_baseline(0.1, float("nan"))


from bench.convergence import solved_streak, stop_reason, time_to_solve  # noqa: E402

BUDGETS = {"patience": 3, "max_epochs": 100, "max_steps": 0, "max_time_s": 0.0}


def _stop(solved, steps=0, seconds=0.0, **budgets):
    return stop_reason(solved, steps, seconds, **{**BUDGETS, **budgets})


@pytest.mark.parametrize(
    ("solved", "streak"),
    [([], 0), ([True], 1), ([True, False], 0), ([False, True, True], 2), ([True, True, False, True], 1)],
)
def test_solved_streak(solved, streak):
    assert solved_streak(solved) == streak


def test_early_stop_after_patience_consecutive_solved_evaluations():
    curve = [False, True, False, True, True]
    assert [_stop(curve[:n]) for n in range(1, 6)] == ["", "", "", "", ""]
    assert _stop([*curve, True]) == "early_stop"  # three in a row: 4, 5, 6
    assert _stop([False, True], patience=1) == "early_stop"
    assert _stop([True] * 50, patience=0) == ""  # 0: never stop early
    assert _stop([True] * 100, patience=0) == "max_epochs"


def test_budgets_stop_training_and_early_stop_wins_over_them():
    assert _stop([False], steps=300, max_steps=300) == "max_steps"
    assert _stop([False], steps=299, max_steps=300) == ""
    assert _stop([False], seconds=10.0, max_time_s=10.0) == "max_time_s"
    assert _stop([False], seconds=9.9, max_time_s=10.0) == ""
    assert _stop([False] * 4, max_epochs=4) == "max_epochs"
    assert _stop([False], steps=10**9, seconds=1e9) == ""  # 0 = no limit
    assert _stop([True] * 3, steps=300, seconds=10.0, max_steps=300, max_time_s=10.0) == "early_stop"
    assert _stop([False], steps=300, seconds=10.0, max_steps=300, max_time_s=10.0) == "max_steps"


def test_time_to_solve_counts_up_to_the_convergence_epoch():
    solved = [False, True, False, True, True, True]
    steps = [50, 100, 150, 200, 250, 300]
    times = [1.0, 1.0, 1.0, 2.0, 1.0, 1.0]
    # converged at epoch 4 (hit at 2, lost at 3): steps at the end of epoch 4, time of epochs 1-4
    assert time_to_solve(solved, steps, times) == (200, 5.0)
    assert time_to_solve([True], [7], [0.5]) == (7, 0.5)  # a last epoch cut short by max_steps
    assert time_to_solve([False, True, True, False], [1, 2, 3, 4], [1, 1, 1, 1]) == (None, None)  # censored
    assert time_to_solve([], [], []) == (None, None)


def _run(trial):
    from bench.timing import TimingPlan
    from bench.train import TrialOptions, run_trial

    return run_trial(trial, TrialOptions(plan=TimingPlan(target_s=0.005, min_rounds=3, warmup_rounds=1)))


def test_training_stops_after_patience_solved_evaluations():
    from bench.trial import Trial

    hello = Trial(cell="gru", encoding="embedding", hidden=8, layers=2, lr=0.05, max_epochs=200, patience=2)
    r = _run(hello)
    solved = [e.solved for e in r.curve]
    assert r.status == "ok" and r.stopped_by == "early_stop"
    assert len(r.curve) < 200 and solved[-2:] == [True, True] and solved_streak(solved[:-1]) == 1
    never = _run(hello.replace(patience=0, max_epochs=len(r.curve) + 5))
    assert never.stopped_by == "max_epochs" and len(never.curve) == len(r.curve) + 5
    assert [e.loss for e in never.curve[: len(r.curve)]] == [e.loss for e in r.curve]  # same training until the stop


def test_step_budget_cuts_the_last_epoch_and_counts_steps():
    from bench.trial import Trial

    adding = Trial(task="adding", encoding="dense", hidden=8, seq_len=10, batch=4, lr=1e-5, max_epochs=50,
                   steps_per_epoch=7, max_steps=10)  # fmt: skip
    r = _run(adding)
    assert r.stopped_by == "max_steps" and [e.steps for e in r.curve] == [7, 10]
    timed = _run(adding.replace(max_steps=0, max_time_s=1e-9))
    assert timed.stopped_by == "max_time_s" and [e.steps for e in timed.curve] == [1]  # cut after one step


@pytest.mark.parametrize("impl", ["fused", "cell"])
def test_forget_bias_starts_the_lstm_forget_gate_there(impl):
    from bench.tasks import TASKS
    from bench.train import build
    from bench.trial import Trial

    trial = Trial(task="adding", cell="lstm", impl=impl, encoding="dense", hidden=4, forget_bias=1.0)
    model, _ = build(trial, TASKS.get("adding")())
    biases = {n: p.detach() for n, p in model.named_parameters() if "bias_ih" in n or "bias_hh" in n}
    assert biases
    for name, p in biases.items():
        assert p[4:8].tolist() == ([1.0] * 4 if "bias_ih" in name else [0.0] * 4), name
    default, _ = build(trial.replace(forget_bias=0.0), TASKS.get("adding")())
    torch_init = [p for n, p in default.named_parameters() if "bias_ih" in n][0]
    assert torch_init[4:8].abs().max() < 0.5 + 1e-6 and torch_init[4:8].ne(0).all()  # torch's uniform init kept
