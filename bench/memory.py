"""Peak memory of a trial: CUDA's allocator peak, or the growth of this process's RSS on cpu."""

from __future__ import annotations

import os
import threading

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class PeakMemory:
    """Context manager; `peak_bytes` after exit. On cpu a thread samples RSS every `interval_s`."""

    def __init__(self, device: str, interval_s: float = 0.005) -> None:
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        else:
            self._start = _rss_bytes()
            self._high = self._start
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._high = max(self._high, _rss_bytes())

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated() - self._start
            return
        self._stop.set()
        self._thread.join()
        self._high = max(self._high, _rss_bytes())
        self.peak_bytes = self._high - self._start
