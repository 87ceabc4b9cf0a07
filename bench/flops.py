"""FLOPs of one training step, counted by torch.utils.flop_counter.FlopCounterMode rather than a formula.

The count is taken on the `meta` device: shapes only, no arithmetic, and every fused RNN decomposes
there into the matmuls FlopCounterMode counts (on the CPU the fused LSTM runs a oneDNN kernel it cannot
see, and on CUDA cuDNN's kernels). A cell that cannot run on `meta` is counted on the CPU instead. The
decomposition still dispatches every op of every time step through Python (about 1-4 s at T = 100 on a
small CPU), so a built-in cell's long sequence is counted at a few short lengths and extrapolated where
those show the count to be affine in the length, as a recurrence's is (`affine_in_length`); a user's
cell is counted at its real length. FlopCounterMode counts
matrix products (mm, addmm, bmm, convolutions, attention), not elementwise work: the figure is the step's
matmul FLOPs, forward and backward, as autograd really runs them (it skips the gradients nobody needs,
such as the input's of the first layer).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.cells import BUILTIN
from bench.models import RecurrentNet
from bench.tasks import Task
from bench.trial import Trial

# The axes that decide the step's shapes; the rest (seed, lr, epochs, device, dtype, mode...) do not.
SHAPE_AXES = ("task", "cell", "impl", "encoding", "head", "hidden", "layers", "embed", "input_size", "seq_len",
              "batch", "loss")  # fmt: skip
_cache: dict[tuple, float] = {}


def step_flops(trial: Trial, task: Task) -> float:
    """Matmul FLOPs of one forward+backward of `trial`'s model on one batch, once per shape in this process.

    NaN when the model cannot be counted on `meta` or on the CPU."""
    key = tuple(getattr(trial, axis) for axis in SHAPE_AXES)
    if key not in _cache:
        _cache[key] = _measure(trial, task)
    return _cache[key]


def _measure(trial: Trial, task: Task) -> float:
    def work(seq_len: int) -> int:  # the sequence the task builds at that seq_len (copy adds its delay)
        return task.length(trial.replace(seq_len=seq_len))

    # Only the built-in cells are known to repeat each time step's products; a user's cell may pad or
    # chunk the sequence (the probes would all agree and extrapolate a constant), so it is counted in full.
    known = trial.cell in BUILTIN
    for device in ("meta", "cpu"):
        try:
            count = lambda n, d=device: count_step(trial.replace(seq_len=n), task, torch.device(d))  # noqa: E731
            return affine_in_length(count, trial.seq_len, work) if known else count(trial.seq_len)
        except Exception:  # noqa: S112 -- a cell without meta support is counted on the cpu
            continue
    return float("nan")


PROBE_LENGTHS = (2, 3, 4, 5)


def affine_in_length(count: Callable[[int], float], length: int, work: Callable[[int], float] = float,
                     probes: tuple[int, ...] = PROBE_LENGTHS) -> float:  # fmt: skip
    """`count(length)`, computed as `count(p0) + (length - p0) * d` where `count` at the probe lengths grows
    by the same `d` from each probe to the next (a recurrent step: every time step repeats the products of
    the one before, but for the gradients autograd skips at step 1; a task that ignores the length gives
    d = 0). Counted at `length` itself where the probes would not be cheaper (their total `work`, the
    sequence length each builds, is not below `length`'s), where a probe fails (a task that needs longer
    sequences) or where the increments differ (a cell whose cost is not linear in the length). Only for
    a computation known to be affine in the length beyond the probes: four equal increments cannot tell
    a cell that pads to 16 steps from one that ignores the length."""
    try:
        cheaper = sum(work(n) for n in probes) < work(length)
        values = [count(n) for n in probes] if cheaper else []
    except Exception:  # a probe length the task or cell refuses: count the real length
        values = []
    if not values:
        return count(length)
    increments = {b - a for a, b in itertools.pairwise(values)}
    if len(increments) != 1:
        return count(length)
    return values[0] + (length - probes[0]) * increments.pop()


def count_step(trial: Trial, task: Task, device: torch.device) -> float:
    """FlopCounterMode's total for one forward, float32 loss and backward of a fresh model on `device`."""
    batch = task.batch(trial, trial.batch, torch.Generator().manual_seed(0))
    with torch.device(device):
        model = RecurrentNet(trial.cell, trial.impl, trial.encoding, trial.head, task.in_features(trial),
                             trial.embed, trial.hidden, trial.layers, task.out_features(trial))  # fmt: skip
    x, y = batch.x.to(device), batch.y.to(device)
    with FlopCounterMode(display=False) as counter:
        task.loss(model(x).float(), y, trial.loss).backward()
    return float(counter.get_total_flops())
