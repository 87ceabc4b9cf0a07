"""FLOPs of one training step, counted by torch.utils.flop_counter.FlopCounterMode rather than a formula.

The count is taken on the `meta` device: shapes only, no arithmetic, so it costs microseconds even at
GPU sizes, and every fused RNN decomposes there into the matmuls FlopCounterMode counts (on the CPU the
fused LSTM runs a oneDNN kernel it cannot see, and on CUDA cuDNN's kernels). A cell that cannot run on
`meta` is counted on the CPU instead. FlopCounterMode counts matrix products (mm, addmm, bmm, convolutions,
attention), not elementwise work: the figure is the step's matmul FLOPs, forward and backward, as autograd
really runs them (it skips the gradients nobody needs, such as the input's of the first layer).
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

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
    for device in ("meta", "cpu"):
        try:
            return count_step(trial, task, torch.device(device))
        except Exception:  # noqa: S112 -- a cell without meta support is counted on the cpu
            continue
    return float("nan")


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
