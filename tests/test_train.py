import math

import pytest
import torch

from bench import train
from bench.results import benchmark_entry
from bench.timing import TimingPlan
from bench.train import TrialOptions, run_trial
from bench.trial import Trial

FAST = TrialOptions(plan=TimingPlan(target_s=0.01, min_rounds=5, warmup_rounds=1))
HELLO3 = Trial(cell="gru", encoding="embedding", head="linear", hidden=8, layers=2, lr=0.05)


def test_same_seed_same_loss_curve():
    a = run_trial(HELLO3, FAST)
    b = run_trial(HELLO3, FAST)
    assert [r.loss for r in a.curve] == [r.loss for r in b.curve]
    assert [r.predicted for r in a.curve] == [r.predicted for r in b.curve]
    c = run_trial(HELLO3.replace(seed=1), FAST)
    assert [r.loss for r in a.curve] != [r.loss for r in c.curve]


def test_ok_trial_records_everything():
    r = run_trial(HELLO3, FAST)
    assert r.status == "ok", r.error
    assert r.curve[-1].predicted == "ohlol"
    assert r.params == 988 and r.length == 5
    assert len(r.samples) >= 5 and all(s > 0 for s in r.samples)
    assert benchmark_entry(r)["stats"]["data"] == list(r.samples)
    assert r.torch_threads == torch.get_num_threads()
    assert r.flops_per_step > 0


def test_not_converged_and_stuck_at_baseline():
    trial = Trial(task="adding", encoding="dense", cell="rnn", hidden=8, seq_len=20, batch=8, lr=1e-5, max_epochs=2)
    r = run_trial(trial, FAST)
    assert r.status == "not_converged"
    assert r.baseline_loss == pytest.approx(1 / 6)


def test_diverged():
    trial = Trial(task="adding", encoding="dense", cell="rnn", optimizer="sgd", lr=1e20, hidden=8, seq_len=4, batch=4)
    r = run_trial(trial, FAST)
    assert r.status == "diverged"
    assert not math.isfinite(r.curve[-1].loss)
    assert r.samples == ()


def test_failed_trial_is_a_result(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(train, "build", boom)
    r = run_trial(HELLO3, FAST)
    assert r.status == "failed"
    assert "out of memory" in r.error


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the skip path on a machine without CUDA")
def test_missing_device_is_skipped_with_reason():
    r = run_trial(HELLO3.replace(device="cuda"), FAST)
    assert r.status == "skipped" and "cuda not available" in r.error
    r = run_trial(HELLO3.replace(mode="graph"), FAST)
    assert r.status == "skipped" and "CUDA graph" in r.error


def test_clipping_bounds_each_update():
    # With SGD, an update is lr * grad; clipped after backward() its norm is at most lr * clip.
    trial = Trial(task="adding", encoding="dense", cell="lstm", hidden=8, seq_len=6, batch=4,
                  optimizer="sgd", lr=1.0, clip=1e-3, max_epochs=1)  # fmt: skip
    task = train.TASKS.get("adding")()
    torch.manual_seed(0)
    model, opt = train.build(trial, task)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    b = task.batch(trial, 4, torch.Generator().manual_seed(0))
    train.eager_step(model, opt, task, trial)(b.x * 1e3, b.y)  # huge inputs: huge gradients
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert (after - before).norm().item() <= 1e-3 * 1.0001


def test_bfloat16_autocast_runs_on_cpu():
    r = run_trial(HELLO3.replace(dtype="bfloat16"), FAST)
    assert r.status in ("ok", "not_converged"), r.error


def test_synthetic_is_timing_only():
    trial = Trial(task="synthetic", encoding="dense", cell="lstm", hidden=16, seq_len=4, batch=2)
    r = run_trial(trial, FAST)
    assert r.status == "ok" and r.curve == () and len(r.samples) >= 5


@pytest.mark.slow
def test_compile_mode_on_cpu_records_compile_time_apart():
    trial = Trial(task="synthetic", encoding="dense", cell="rnn", hidden=8, seq_len=3, batch=2, mode="compile")
    r = run_trial(trial, FAST)
    assert r.status == "ok", r.error
    assert r.compile_time_s > 0
    # Compilation happened before timing: no timed round is anywhere near the compile time.
    assert max(r.samples) < r.compile_time_s


def test_threads_do_not_carry_over_between_trials():
    one = run_trial(HELLO3.replace(threads=1, max_epochs=1), FAST)
    default = run_trial(HELLO3.replace(threads=0, max_epochs=1), FAST)
    assert one.torch_threads == 1
    assert default.torch_threads == train.default_threads()


def test_a_worker_s_share_of_cores_is_what_threads_0_means(monkeypatch):
    monkeypatch.setattr(train, "_default_threads", 0)
    train.set_default_threads(1)  # as a Dask worker sets its host's share
    assert run_trial(HELLO3.replace(threads=0, max_epochs=1), FAST).torch_threads == 1


def test_a_group_is_timed_together_with_the_reference_and_the_machine():
    lstm, gru = HELLO3.replace(cell="lstm", max_epochs=2), HELLO3.replace(max_epochs=2)
    results = train.run_group([lstm, gru], FAST)
    assert [r.trial for r in results] == [lstm, gru]
    rounds = {len(r.samples) for r in results} | {len(r.reference_samples) for r in results}
    assert len(rounds) == 1 and rounds.pop() >= 5  # every member timed in every round
    assert results[0].reference_samples == results[1].reference_samples  # one RNN step, shared
    assert results[0].reference_cell == "rnn" and results[0].group_size == 2
    assert len(results[0].machine_samples) == len(results[0].samples)


def test_the_group_s_own_reference_trial_is_reused():
    rnn, lstm = HELLO3.replace(cell="rnn", max_epochs=2), HELLO3.replace(cell="lstm", max_epochs=2)
    results = train.run_group([rnn, lstm], FAST)
    assert results[0].reference_samples == results[0].samples  # the RNN trial is its own reference
    assert results[1].reference_samples == results[0].samples


def test_one_failing_trial_leaves_its_group_timed(monkeypatch):
    original = train._train_trial

    def fail_lstm(trial, options):
        if trial.cell == "lstm":
            raise RuntimeError("out of memory (simulated)")
        return original(trial, options)

    monkeypatch.setattr(train, "_train_trial", fail_lstm)
    lstm, gru = HELLO3.replace(cell="lstm", max_epochs=1), HELLO3.replace(max_epochs=1)
    failed, timed = train.run_group([lstm, gru], FAST)
    assert failed.status == "failed" and "out of memory" in failed.error and failed.samples == ()
    assert timed.status in ("ok", "not_converged") and len(timed.samples) == len(timed.reference_samples) >= 5
