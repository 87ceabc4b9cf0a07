"""torch's own cells as factories: fused torch.nn.RNN/LSTM/GRU, or a Python loop over the *Cell."""

from __future__ import annotations

import functools

import torch
from torch import nn


class StepLoop(nn.Module):
    """The tutorial's first model: one *Cell call per time step and layer, from Python."""

    def __init__(self, step: type[nn.Module], input_size: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(step(input_size if i == 0 else hidden, hidden) for i in range(layers))
        self.is_lstm = step is nn.LSTMCell

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, I) -> (T, B, H)
        states: list = [None] * len(self.cells)
        outputs = []
        for t in range(x.shape[0]):
            h = x[t]  # (B, features)
            for i, cell in enumerate(self.cells):
                states[i] = cell(h, states[i])
                h = states[i][0] if self.is_lstm else states[i]
            outputs.append(h)
        return torch.stack(outputs)  # (T, B, hidden)


def fused(kind: type[nn.Module]):
    """A factory(input_size, hidden, layers) for torch.nn.RNN/LSTM/GRU (returns (output, state))."""
    return functools.partial(kind)


def loop(step: type[nn.Module]):
    """A factory(input_size, hidden, layers) for a Python loop over torch.nn.RNNCell/LSTMCell/GRUCell."""
    return functools.partial(StepLoop, step)
