"""What this machine can run: device presence, dtype support, execution modes."""

from __future__ import annotations

import contextlib

import torch

from bench.trial import Trial


def skip_reason(trial: Trial) -> str:
    """Why `trial` cannot run here ('' when it can): the reason recorded on a `skipped` row."""
    if trial.device == "cuda" and not torch.cuda.is_available():
        return "device cuda not available (torch.cuda.is_available() is False)"
    if trial.device == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        return "device mps not available (torch.backends.mps.is_available() is False)"
    if trial.mode == "graph" and trial.device != "cuda":
        return f"mode 'graph' captures the step in a CUDA graph; device {trial.device!r} cannot"
    if trial.mode == "graph" and trial.impl == "cell" and trial.dtype != "float32":
        return "mode 'graph' with autocast is not supported by rnnbench"
    if trial.dtype == "float16" and trial.device == "cpu" and not _cpu_autocast_ok(torch.float16):
        return "float16 autocast is not supported on cpu by this torch build"
    if trial.dtype == "bfloat16" and trial.device == "cuda" and not torch.cuda.is_bf16_supported():
        return "bfloat16 not supported by this GPU"
    return ""


def _cpu_autocast_ok(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.mm(torch.ones(2, 2), torch.ones(2, 2))
        return True
    except (RuntimeError, AssertionError):
        return False


def autocast(trial: Trial) -> contextlib.AbstractContextManager:
    if trial.dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(trial.device, dtype=getattr(torch, trial.dtype))


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def device_names() -> dict[str, str]:
    names = {"cpu": _cpu_name()}
    if torch.cuda.is_available():
        names["cuda"] = torch.cuda.get_device_name(0)
    return names


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
