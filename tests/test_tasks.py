import math

import pytest
import torch
import torch.nn.functional as F

from bench.tasks import TASKS
from bench.trial import Trial


def test_hello_data_is_the_tutorials():
    task = TASKS.get("hello")()
    b = task.batch(Trial(), 1, torch.Generator())
    assert b.x.squeeze(1).tolist() == [1, 0, 2, 2, 3]  # h e l l o
    assert b.y.squeeze(1).tolist() == [3, 1, 2, 3, 2]  # o h l o l
    assert task.baseline_loss(Trial()) == pytest.approx(math.log(4))
    assert task.baseline_loss(Trial(loss="sum")) == pytest.approx(5 * math.log(4))
    # Uniform logits score exactly ln 4 per step.
    assert task.loss(torch.zeros(5, 1, 4), b.y, "mean").item() == pytest.approx(math.log(4))


def test_copy_shapes_layout_and_baseline():
    task = TASKS.get("copy")()
    trial = Trial(task="copy", seq_len=30, batch=64)
    b = task.batch(trial, 64, torch.Generator().manual_seed(0))
    assert b.x.shape == b.y.shape == (50, 64)  # T + 20
    assert ((b.x[:10] >= 1) & (b.x[:10] <= 8)).all()
    assert (b.x[10:39] == 0).all() and (b.x[39] == 9).all() and (b.x[40:] == 0).all()
    assert (b.y[:40] == 0).all() and torch.equal(b.y[40:], b.x[:10])
    assert task.baseline_loss(trial) == pytest.approx(10 * math.log(8) / 50)
    # The memoryless strategy: blanks surely, then uniform over the 8 symbols at the recall steps.
    logits = torch.full((50, 64, 9), -1e4)
    logits[:40, :, 0] = 0.0
    logits[40:, :, 1:] = 0.0
    assert task.loss(logits, b.y, "mean").item() == pytest.approx(task.baseline_loss(trial), rel=1e-4)


def test_adding_data_and_baseline_within_sampling_error():
    task = TASKS.get("adding")()
    trial = Trial(task="adding", encoding="dense", seq_len=50)
    b = task.batch(trial, 20000, torch.Generator().manual_seed(0))
    assert b.x.shape == (50, 20000, 2) and b.y.shape == (20000, 1)
    marks = b.x[..., 1]
    assert (marks.sum(0) == 2).all()
    assert (marks[:25].sum(0) == 1).all() and (marks[25:].sum(0) == 1).all()
    assert torch.allclose((b.x[..., 0] * marks).sum(0), b.y[:, 0])
    mse_of_one = F.mse_loss(torch.ones_like(b.y), b.y).item()
    # Var(U1 + U2) = 1/6; the standard error of a mean of 20000 squared errors is about 0.0015.
    assert mse_of_one == pytest.approx(1 / 6, abs=0.006)
    assert task.baseline_loss(trial) == pytest.approx(0.16667, abs=1e-5)


def test_data_depends_only_on_seed():
    task = TASKS.get("copy")()
    trial = Trial(task="copy", seq_len=5, batch=4)
    a = task.batch(trial, 4, torch.Generator().manual_seed(3)).x
    assert torch.equal(a, task.batch(trial, 4, torch.Generator().manual_seed(3)).x)
    assert not torch.equal(a, task.batch(trial, 4, torch.Generator().manual_seed(4)).x)


def test_unknown_task_lists_choices():
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="unknown task 'helo'; choose one of: hello, copy, adding, synthetic"):
        TASKS.get("helo")


@pytest.mark.parametrize("name", ["adding", "synthetic"])
def test_tasks_whose_loss_ignores_the_reduction_pin_loss_to_mean(name: str):
    task = TASKS.get(name)()
    trial = Trial(task=name, seq_len=6, batch=3, hidden=4)
    batch = task.batch(trial, 3, torch.Generator().manual_seed(0))
    out = torch.randn(6, 3, task.out_features(trial), generator=torch.Generator().manual_seed(1))
    assert torch.equal(task.loss(out, batch.y, "sum"), task.loss(out, batch.y, "mean"))  # why it is pinned
    summed = task.normalize(trial.replace(loss="sum"))
    assert summed.loss == "mean"
    assert summed.trial_id == task.normalize(trial).trial_id


@pytest.mark.parametrize("name", ["hello", "copy"])
def test_tasks_whose_loss_sums_over_time_keep_the_loss_axis(name: str):
    task = TASKS.get(name)()
    trial = task.normalize(Trial(task=name, seq_len=6, batch=3))
    batch = task.batch(trial, trial.batch, torch.Generator().manual_seed(0))
    out = torch.randn(task.length(trial), trial.batch, task.out_features(trial))
    ratio = task.loss(out, batch.y, "sum") / task.loss(out, batch.y, "mean")
    assert ratio.item() == pytest.approx(task.length(trial))
    assert task.normalize(trial.replace(loss="sum")).loss == "sum"
