"""Provenance recorded with every run: versions, devices, threads, backend flags, git commit."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys

import torch

from bench import SCHEMA_VERSION, __version__, devices


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=10, cwd=os.path.dirname(__file__),
        )  # fmt: skip
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def env_info(suite_name: str, extra: dict) -> dict:
    cudnn = torch.backends.cudnn
    return {
        "schema_version": SCHEMA_VERSION,
        "rnnbench_version": __version__,
        "suite": suite_name,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": cudnn.version() if cudnn.is_available() else None,
        "devices": devices.device_names(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        "cudnn_enabled": cudnn.enabled,
        "cudnn_benchmark": cudnn.benchmark,
        "cudnn_deterministic": cudnn.deterministic,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": cudnn.allow_tf32,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        **extra,
    }


def benchmark_meta() -> dict:
    """The header of a pytest-benchmark JSON file, made by pytest-benchmark's own helpers."""
    from pytest_benchmark import __version__ as pb_version
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
    from pytest_benchmark.utils import get_commit_info

    return {
        "machine_info": pytest_benchmark_generate_machine_info(),
        "commit_info": get_commit_info("rnnbench"),
        "datetime": datetime.datetime.now(datetime.UTC).isoformat(),
        "version": pb_version,
    }
