"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), sequential and as a parallel scan.

The gates read only x_t, never h_{t-1}, so h_t = a_t * h_{t-1} + b_t is a linear recurrence whose
coefficients are known up front: the parallel form computes every h_t at once with a cumulative sum and a
log-cumsum-exp in log space (Heinsen 2023; the paper's `parallel_scan_log`). The sequential form is the
paper's sequential mode: one step per time step from Python, projections included. Both hold the same
parameters and compute the same function; h_0 = g(0) = 0.5, as the paper's log-space code starts from
log g(0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation for candidate states: x + 0.5 for x >= 0, else sigmoid(x)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without ever taking the log of a non-positive number."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def parallel_scan_log(log_coeffs: torch.Tensor, log_values: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t for every t at once, in log space, sequence-first.

    log_coeffs: (T, B, H) = log a_t; log_values: (T + 1, B, H) = log h_0, then log b_t.
    Returns h_1 .. h_T, (T, B, H)."""
    a_star = F.pad(torch.cumsum(log_coeffs, dim=0), (0, 0, 0, 0, 1, 0))  # (T + 1, B, H): log prod a
    log_h = a_star + torch.logcumsumexp(log_values - a_star, dim=0)
    return torch.exp(log_h[1:])


H0 = 0.5  # g(0): the state every sequence starts from


class MinGRULayer(nn.Module):
    """h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t), z_t = sigmoid(W_z x_t). Parameters: 2 (H*I + H)."""

    def __init__(self, input_size: int, hidden: int, parallel: bool) -> None:
        super().__init__()
        self.linear_z = nn.Linear(input_size, hidden)
        self.linear_h = nn.Linear(input_size, hidden)
        self.parallel = parallel

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, I) -> (T, B, H)
        if not self.parallel:
            return self._sequential(x)
        k, pre_h = self.linear_z(x), self.linear_h(x)
        log_z, log_one_minus_z = -F.softplus(-k), -F.softplus(k)
        log_h0 = torch.full_like(k[:1], math.log(H0))
        return parallel_scan_log(log_one_minus_z, torch.cat([log_h0, log_z + log_g(pre_h)]))

    def _sequential(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_full((x.shape[1], self.linear_z.out_features), H0)  # (B, H)
        outputs = []
        for x_t in x:  # (B, I)
            z = torch.sigmoid(self.linear_z(x_t))
            h = (1 - z) * h + z * g(self.linear_h(x_t))
            outputs.append(h)
        return torch.stack(outputs)


class MinLSTMLayer(nn.Module):
    """h_t = f'_t h_{t-1} + i'_t g(W_h x_t) with f' = f / (f + i), i' = i / (f + i), f and i sigmoid gates of
    x_t. Parameters: 3 (H*I + H)."""

    def __init__(self, input_size: int, hidden: int, parallel: bool) -> None:
        super().__init__()
        self.linear_f = nn.Linear(input_size, hidden)
        self.linear_i = nn.Linear(input_size, hidden)
        self.linear_h = nn.Linear(input_size, hidden)
        self.parallel = parallel

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, I) -> (T, B, H)
        if not self.parallel:
            return self._sequential(x)
        pre_f, pre_i, pre_h = self.linear_f(x), self.linear_i(x), self.linear_h(x)
        diff = F.softplus(-pre_f) - F.softplus(-pre_i)  # log(i / f)
        log_f, log_i = -F.softplus(diff), -F.softplus(-diff)  # log f', log i'
        log_h0 = torch.full_like(pre_f[:1], math.log(H0))
        return parallel_scan_log(log_f, torch.cat([log_h0, log_i + log_g(pre_h)]))

    def _sequential(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_full((x.shape[1], self.linear_f.out_features), H0)  # (B, H)
        outputs = []
        for x_t in x:  # (B, I)
            f, i = torch.sigmoid(self.linear_f(x_t)), torch.sigmoid(self.linear_i(x_t))
            h = f / (f + i) * h + i / (f + i) * g(self.linear_h(x_t))
            outputs.append(h)
        return torch.stack(outputs)


class MinStack(nn.Module):
    """`layers` min-cell layers, each feeding the next, sequence-first like torch.nn.GRU."""

    def __init__(self, layer: type[nn.Module], input_size: int, hidden: int, layers: int, parallel: bool) -> None:
        super().__init__()
        sizes = [input_size] + [hidden] * (layers - 1)
        self.layers = nn.ModuleList(layer(i, hidden, parallel) for i in sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, I) -> (T, B, H)
        for layer in self.layers:
            x = layer(x)
        return x


def mingru(input_size: int, hidden: int, layers: int) -> nn.Module:
    """minGRU, parallel log-space scan (impl 'fused')."""
    return MinStack(MinGRULayer, input_size, hidden, layers, parallel=True)


def mingru_sequential(input_size: int, hidden: int, layers: int) -> nn.Module:
    """minGRU, one step per time step (impl 'cell')."""
    return MinStack(MinGRULayer, input_size, hidden, layers, parallel=False)


def minlstm(input_size: int, hidden: int, layers: int) -> nn.Module:
    """minLSTM, parallel log-space scan (impl 'fused')."""
    return MinStack(MinLSTMLayer, input_size, hidden, layers, parallel=True)


def minlstm_sequential(input_size: int, hidden: int, layers: int) -> nn.Module:
    """minLSTM, one step per time step (impl 'cell')."""
    return MinStack(MinLSTMLayer, input_size, hidden, layers, parallel=False)
