"""Per-device calibration at the start of a run: measured matmul peak and memory bandwidth.

Every trial's achieved TFLOP/s is then reported as a fraction of what this device
reached on a large, plain matmul at the trial's dtype, not of a datasheet number.
"""

from __future__ import annotations

import time

import torch

from bench import devices


def _best_seconds(fn, device: str, repeats: int) -> float:
    fn()  # warm-up: allocation, library initialisation, autotuning
    devices.synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        devices.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_tflops(device: str, dtype: str, n: int | None = None, repeats: int = 5) -> float:
    """Best-of-`repeats` TFLOP/s of an n x n x n matmul (2 n^3 FLOPs) at `dtype`."""
    n = n or (8192 if device == "cuda" else 1024)
    a = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    return 2 * n**3 / _best_seconds(lambda: torch.mm(a, b), device, repeats) / 1e12


def bandwidth_gbs(device: str, megabytes: int | None = None, repeats: int = 5) -> float:
    """Best-of-`repeats` GB/s of a device-to-device copy (bytes read + bytes written)."""
    megabytes = megabytes or (1024 if device == "cuda" else 128)
    src = torch.empty(megabytes * 2**20 // 4, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / _best_seconds(lambda: dst.copy_(src), device, repeats) / 1e9


def calibrate(pairs: set[tuple[str, str]]) -> dict[str, dict]:
    """Measure each (device, dtype) pair's matmul peak and each device's bandwidth."""
    out: dict[str, dict] = {}
    for device, dtype in sorted(pairs):
        entry = out.setdefault(device, {"matmul_tflops": {}, "bandwidth_gbs": bandwidth_gbs(device)})
        try:
            entry["matmul_tflops"][dtype] = matmul_tflops(device, dtype)
        except RuntimeError as e:  # a dtype this device cannot multiply
            entry["matmul_tflops"][dtype] = float("nan")
            entry.setdefault("errors", {})[dtype] = str(e).splitlines()[0]
    return out


def peaks(calibration: dict[str, dict]) -> dict[str, float]:
    """'device/dtype' -> measured TFLOP/s, as carried by TrialOptions.peaks."""
    return {f"{d}/{t}": v for d, e in calibration.items() for t, v in e["matmul_tflops"].items()}
