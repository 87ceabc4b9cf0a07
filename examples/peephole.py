"""A cell defined outside rnnbench: an LSTM with peephole connections (Gers & Schmidhuber 2000).

Run it with `cell = ["lstm", "examples.peephole:PeepholeLSTM"]` in a suite (from the repository root, or
with this folder on PYTHONPATH). It follows rnnbench's cell contract: PeepholeLSTM(input_size, hidden,
layers) is an nn.Module mapping (T, B, input_size) to (T, B, hidden); like torch.nn.LSTM it returns
(output, (h, c)), and rnnbench keeps the output.
"""

from __future__ import annotations

import torch
from torch import nn


class PeepholeLayer(nn.Module):
    """i, f, o gates also read the cell state c (diagonal peephole weights); 4 * (H*I + H*H + H) + 3H params."""

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.input = nn.Linear(input_size, 4 * hidden)  # all time steps in one matmul
        self.recurrent = nn.Linear(hidden, 4 * hidden, bias=False)
        self.peephole = nn.Parameter(torch.zeros(3, hidden))  # i, f, o read c

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        projected = self.input(x)  # (T, B, 4H)
        h = c = x.new_zeros(x.shape[1], self.hidden)  # (B, H)
        outputs = []
        for p_t in projected:
            i, f, g, o = (p_t + self.recurrent(h)).chunk(4, dim=-1)
            i = torch.sigmoid(i + self.peephole[0] * c)
            f = torch.sigmoid(f + self.peephole[1] * c)
            c = f * c + i * torch.tanh(g)
            o = torch.sigmoid(o + self.peephole[2] * c)
            h = o * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h, c)  # (T, B, H)


class PeepholeLSTM(nn.Module):
    """`layers` peephole layers stacked, the factory rnnbench calls: PeepholeLSTM(input_size, hidden, layers)."""

    def __init__(self, input_size: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(PeepholeLayer(input_size if i == 0 else hidden, hidden) for i in range(layers))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        state = None
        for layer in self.layers:
            x, state = layer(x)
        return x, state
