"""What a report shows, as chosen on the command line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportOptions:
    title: str = "rnnbench: what LSTM and GRU cost over a plain RNN"
    heatmap: tuple[str, str] = ("hidden", "seq_len")  # (rows, columns) of the ratio heatmap
    iqr_warning: float = 0.1  # flag timings whose IQR exceeds this fraction of the median
    confidence: float = 0.95  # of the bootstrap interval on the median time ratio
    random_state: int = 0  # of the bootstrap, so a report is reproducible
