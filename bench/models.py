"""Recurrent models: cell x implementation x input encoding x head, and their analytic cost (`bench.flops`
measures it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench import cells
from bench.cells.probe import output_of

CELLS = cells.BUILTIN  # the registered names; `cells.resolve` also loads import paths and entry points


class RecurrentNet(nn.Module):
    """Encoder -> recurrent stack (the cell's factory for this impl) -> optional linear head, (T, B, ...)."""

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
        factory = cells.resolve(cell).factory(impl)
        self.encoding = encoding
        self.in_features = in_features
        self.embedding = nn.Embedding(in_features, embed) if encoding == "embedding" else None
        self.rnn = factory(embed if encoding == "embedding" else in_features, hidden, layers)
        self.head = nn.Linear(hidden, out_features) if head == "linear" else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoding == "embedding":
            return self.embedding(x)  # (T, B) -> (T, B, embed)
        if self.encoding == "onehot":
            return F.one_hot(x, self.in_features).float()  # (T, B) -> (T, B, vocab)
        return x  # dense features, already (T, B, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = output_of(self.rnn(self.encode(x)))  # (T, B, hidden)
        return self.head(h) if self.head is not None else h


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
