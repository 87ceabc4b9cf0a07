"""Recurrent models: cell x implementation x input encoding x head, and their analytic cost."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.registry import Registry


@dataclass(frozen=True)
class CellSpec:
    name: str
    gates: int  # G: weight blocks per layer (1 rnn, 3 gru, 4 lstm)
    fused: type[nn.Module]
    step: type[nn.Module]


CELLS: Registry[CellSpec] = Registry("cell")
CELLS.register("rnn")(CellSpec("rnn", 1, nn.RNN, nn.RNNCell))
CELLS.register("lstm")(CellSpec("lstm", 4, nn.LSTM, nn.LSTMCell))
CELLS.register("gru")(CellSpec("gru", 3, nn.GRU, nn.GRUCell))


class RecurrentNet(nn.Module):
    """Encoder -> recurrent stack -> optional linear head, sequence-first: (T, B, ...)."""

    def __init__(
        self,
        cell: str,
        impl: str,
        encoding: str,
        head: str,
        in_features: int,
        embed: int,
        hidden: int,
        layers: int,
        out_features: int,
    ) -> None:
        super().__init__()
        spec = CELLS.get(cell)
        self.encoding = encoding
        self.in_features = in_features
        self.embedding = nn.Embedding(in_features, embed) if encoding == "embedding" else None
        rnn_in = embed if encoding == "embedding" else in_features
        if impl == "fused":
            self.rnn = spec.fused(rnn_in, hidden, layers)
            self.cells = None
        else:
            self.rnn = None
            self.cells = nn.ModuleList(spec.step(rnn_in if i == 0 else hidden, hidden) for i in range(layers))
        self.is_lstm = spec.name == "lstm"
        self.head = nn.Linear(hidden, out_features) if head == "linear" else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoding == "embedding":
            return self.embedding(x)  # (T, B) -> (T, B, embed)
        if self.encoding == "onehot":
            return F.one_hot(x, self.in_features).float()  # (T, B) -> (T, B, vocab)
        return x  # dense features, already (T, B, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)
        h = self.rnn(h)[0] if self.rnn is not None else self._loop(h)  # (T, B, hidden)
        return self.head(h) if self.head is not None else h

    def _loop(self, x: torch.Tensor) -> torch.Tensor:
        # The tutorial's first model: one cell call per time step and layer, from Python.
        states: list = [None] * len(self.cells)
        outputs = []
        for t in range(x.shape[0]):
            h = x[t]  # (B, features)
            for i, cell in enumerate(self.cells):
                states[i] = cell(h, states[i])
                h = states[i][0] if self.is_lstm else states[i]
            outputs.append(h)
        return torch.stack(outputs)  # (T, B, hidden)


def recurrent_params(gates: int, in_features: int, hidden: int, layers: int) -> int:
    """G * (H*I + H^2 + 2H) per layer; layer 0 reads I features, deeper layers read H."""
    total = 0
    for layer in range(layers):
        i = in_features if layer == 0 else hidden
        total += gates * (hidden * i + hidden * hidden + 2 * hidden)
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_step(gates: int, rnn_in: int, hidden: int, layers: int, out: int, seq_len: int, batch: int) -> float:
    """Analytic matmul FLOPs of one training step: forward 2*m*n*k per GEMM, backward twice that."""
    forward = 0.0
    for layer in range(layers):
        i = rnn_in if layer == 0 else hidden
        forward += 2.0 * gates * hidden * (i + hidden) * batch * seq_len
    forward += 2.0 * hidden * out * batch * seq_len if out else 0.0
    return 3.0 * forward
