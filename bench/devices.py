"""What this machine can run: device presence, dtype support, execution modes."""

from __future__ import annotations

import contextlib
import functools

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
    if trial.dtype == "bfloat16" and trial.device == "cuda" and not torch.cuda.is_bf16_supported():
        return "bfloat16 not supported by this GPU"
    if trial.dtype != "float32":
        problem = _autocast_probe(trial.device, trial.dtype, trial.cell, trial.impl)
        if problem:
            return f"{trial.dtype} autocast of {trial.impl} {trial.cell} on {trial.device} is not supported: {problem}"
    return ""


@functools.cache
def _autocast_probe(device: str, dtype: str, cell: str, impl: str) -> str:
    """Run a tiny forward+backward of this cell under autocast; '' if it works, else the error."""
    from bench.models import RecurrentNet

    try:
        model = RecurrentNet(cell, impl, "dense", "linear", 3, 1, 4, 1, 2).to(device)
    except Exception:  # a cell that cannot be built (e.g. not importable here) fails its trial, with the error
        return ""
    try:
        with torch.autocast(device, dtype=getattr(torch, dtype)):
            out = model(torch.randn(2, 1, 3, device=device))
        out.float().sum().backward()
        return ""
    except (RuntimeError, AssertionError) as e:
        return str(e).splitlines()[0][:200]


def autocast(trial: Trial) -> contextlib.AbstractContextManager:
    """Autocast for reduced dtypes (the loss is computed in float32 outside it)."""
    if trial.dtype == "float32":
        return contextlib.nullcontext()
    # Graph capture cannot keep autocast's weight-cast cache across replays.
    return torch.autocast(trial.device, dtype=getattr(torch, trial.dtype), cache_enabled=trial.mode != "graph")


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
