"""Check a user's cell before any trial: its factory's signature and one probe batch's output shape."""

from __future__ import annotations

import functools
import inspect

import torch

from bench.cells import resolve
from bench.errors import BenchError

PROBE_INPUT, PROBE_HIDDEN, PROBE_T, PROBE_B = 3, 4, 5, 2


def output_of(result: object) -> torch.Tensor:
    """The output tensor of a cell's forward: the tensor itself, or an (output, state) tuple's first element."""
    if isinstance(result, tuple) and result:
        result = result[0]
    if not isinstance(result, torch.Tensor):
        raise TypeError(f"forward returned {type(result).__name__}, not a tensor or an (output, state) tuple")
    return result


@functools.cache
def cell_problem(name: str, impl: str = "fused") -> str:
    """'' when cell `name` loads and follows the contract on a probe batch, else what is wrong."""
    try:
        factory = resolve(name).factory(impl)
    except BenchError as e:
        return str(e)
    try:
        inspect.signature(factory).bind(PROBE_INPUT, PROBE_HIDDEN, 1)
    except TypeError as e:
        return f"factory {name!r} cannot be called as factory(input_size, hidden, layers): {e}"
    except ValueError:
        pass  # no signature to read (a C function): the call below tells
    return _probe(name, factory)


def _probe(name: str, factory) -> str:
    expected = (PROBE_T, PROBE_B, PROBE_HIDDEN)
    try:
        module = factory(PROBE_INPUT, PROBE_HIDDEN, 1)
        if not isinstance(module, torch.nn.Module):
            return f"factory {name!r} returned {type(module).__name__}, not a torch.nn.Module"
        out = output_of(module(torch.randn(PROBE_T, PROBE_B, PROBE_INPUT)))
    except Exception as e:
        sizes = f"T={PROBE_T}, B={PROBE_B}, I={PROBE_INPUT}, H={PROBE_HIDDEN}"
        return f"cell {name!r} failed on a probe batch ({sizes}): {type(e).__name__}: {e}"
    if tuple(out.shape) != expected:
        given = (PROBE_T, PROBE_B, PROBE_INPUT)
        return f"cell {name!r} maps a probe batch (T, B, I) = {given} to {tuple(out.shape)}, not (T, B, H) = {expected}"
    return ""
