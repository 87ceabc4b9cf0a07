"""Cells: a name -> how to build the recurrent stack, for torch's cells, minGRU/minLSTM and users' own.

The one contract every cell follows (built-in or not): `factory(input_size, hidden, layers) -> nn.Module`
whose forward maps a float tensor (T, B, input_size) to (T, B, hidden), or to an (output, state) tuple
whose first element is that. A cell is named by

- a registered name: rnn, lstm, gru, mingru, minlstm, and those installed packages register through the
  entry point group `rnnbench.cells` (the entry point loads the factory);
- an import path `module:attribute` (the attribute is the factory, e.g. an nn.Module class).

Built-in cells have two implementations (`impl`): fused and cell (see `BUILTIN`). A user's factory is
one implementation, run as impl 'fused'; impl 'cell' is refused for it.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from torch import nn

from bench.cells import builtin, mincells
from bench.errors import BenchError
from bench.registry import Registry

ENTRY_POINTS = "rnnbench.cells"
IMPLS = ("fused", "cell")
Factory = Callable[[int, int, int], nn.Module]


@dataclass(frozen=True)
class CellSpec:
    name: str
    impls: Mapping[str, Factory]  # impl -> factory(input_size, hidden, layers)
    gates: int | None = None  # G weight blocks of H x (I + H) per layer (rnn 1, gru 3, lstm 4); None: not that form

    def factory(self, impl: str) -> Factory:
        if impl not in self.impls:
            raise BenchError(f"cell {self.name!r} has no impl {impl!r}; it has: {', '.join(self.impls)}")
        return self.impls[impl]


BUILTIN: Registry[CellSpec] = Registry("cell")
for _name, _gates, _fused, _step in (("rnn", 1, nn.RNN, nn.RNNCell), ("lstm", 4, nn.LSTM, nn.LSTMCell),
                                     ("gru", 3, nn.GRU, nn.GRUCell)):  # fmt: skip
    BUILTIN.register(_name)(CellSpec(_name, {"fused": builtin.fused(_fused), "cell": builtin.loop(_step)}, _gates))
# fused = the parallel log-space scan, cell = the sequential loop (the paper's two modes).
BUILTIN.register("mingru")(CellSpec("mingru", {"fused": mincells.mingru, "cell": mincells.mingru_sequential}))
BUILTIN.register("minlstm")(CellSpec("minlstm", {"fused": mincells.minlstm, "cell": mincells.minlstm_sequential}))


def is_path(name: str) -> bool:
    return ":" in name


@functools.cache
def _entry_points() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINTS) if ep.name not in BUILTIN}


def names() -> list[str]:
    """Every registered cell name: the built-ins, then those of installed packages' entry points."""
    return BUILTIN.names() + sorted(_entry_points())


@functools.cache
def resolve(name: str) -> CellSpec:
    """The cell called `name`; BenchError naming the underlying error when it cannot be loaded."""
    if name in BUILTIN:
        return BUILTIN.get(name)
    if name in _entry_points():
        try:
            factory = _entry_points()[name].load()
        except Exception as e:
            raise BenchError(f"cell {name!r} (entry point group {ENTRY_POINTS!r}) cannot be loaded: {_say(e)}") from e
        return CellSpec(name, {"fused": factory})
    if not is_path(name):
        raise BenchError(
            f"unknown cell {name!r}; choose one of: {', '.join(names())}, or give a factory as module:attribute"
        )
    return CellSpec(name, {"fused": _import(name)})


def _import(path: str) -> Factory:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise BenchError(f"cell {path!r} is not module:attribute (e.g. mypkg.cells:PeepholeLSTM)")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: a cell file in the current folder imports
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:
        raise BenchError(f"cell {path!r}: cannot import module {module_name!r}: {_say(e)}") from e
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise BenchError(f"cell {path!r}: module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise BenchError(
            f"cell {path!r}: {attribute!r} is not callable; it must be factory(input_size, hidden, layers)"
        )
    return obj


def _say(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"
