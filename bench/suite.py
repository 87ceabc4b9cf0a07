"""Suite files (TOML) -> validated, expanded, de-duplicated `Trial` specs.

A suite has top-level settings (name, description, seeds), axes fixed for every block
(top-level axis keys or a [fixed] table), any number of [[grid]] blocks (lists are swept
as a full grid) and [[around]] blocks (a centre, lists in it crossed, plus a [around.vary]
table whose axes are varied one at a time), and [[exclude]] filters.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.trial import AXES, AXIS_FIELDS, Trial

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")
TOP_KEYS = ("name", "description", "seeds", "cells", "fixed", "grid", "around", "exclude")
# torch.manual_seed and the data generator take seeds below 2**64; seed*7919+1 must fit too, and a
# seed that fails there fails every trial it is in, so seeds stay in [0, 2**32).
MAX_SEED = 2**32
# Trials a suite may expand to (configurations x seeds, counted before expanding or de-duplicating):
# beyond this even --dry-run takes minutes, and the run would take weeks.
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: str
    trials: tuple[Trial, ...]
    text: str  # the suite file as read, saved beside the results


def _choices(name: str) -> tuple[str, ...]:
    meta = AXIS_FIELDS[name].metadata
    if meta["registry"] == "cell":
        from bench import cells

        return tuple(cells.names())
    if meta["registry"] == "task":
        from bench.tasks import TASKS

        return tuple(TASKS.names())
    return tuple(meta["choices"])


def _unknown_key(where: str, key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(valid)}"


def check_value(name: str, value: object) -> str:
    """'' when `value` is valid for axis `name`, else what is wrong and what would be valid."""
    f = AXIS_FIELDS[name]
    kind = type(f.default)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{value!r} is not an integer"
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"{value!r} is not a number"
    if kind is str:
        choices = _choices(name)
        if not isinstance(value, str):
            return f"{value!r} is not a string; choose one of: {', '.join(choices)}"
        if name == "cell" and value not in choices and ":" in value:
            from bench.cells.probe import cell_problem

            return cell_problem(value)  # a user's factory: imported and probed here, before any trial
        if value not in choices:
            more = ", or a factory as module:attribute" if name == "cell" else ""
            return f"unknown {name} {value!r}; choose one of: {', '.join(choices)}{more}"
        return ""
    minimum = f.metadata["min"]
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if minimum is not None and value < minimum:
        return f"{value!r} must be >= {minimum:g}"
    if name == "seed" and value >= MAX_SEED:
        return f"{value!r} must be < 2**32 ({MAX_SEED})"
    if name == "lr" and value <= 0:
        return f"{value!r} must be > 0"
    return ""


def _values(where: str, name: str, raw: object) -> list:
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise BenchError(f"{where}, field {name!r}: empty list; give at least one value")
    for v in values:
        problem = check_value(name, v)
        if problem:
            raise BenchError(f"{where}, field {name!r}: {problem}")
    return [float(v) if type(AXIS_FIELDS[name].default) is float else v for v in values]


def _axes_table(where: str, table: object, allowed: tuple[str, ...] = ()) -> dict[str, list]:
    if not isinstance(table, dict):
        raise BenchError(f"{where}: expected a table of axes, got {table!r}")
    out = {}
    for key, raw in table.items():
        if key in allowed:
            continue
        if key not in AXES:
            raise BenchError(_unknown_key(where, key, AXES + allowed))
        out[key] = _values(where, key, raw)
    return out


def _grid(axes: dict[str, list]) -> list[dict]:
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(axes[n] for n in names))]


@dataclass(frozen=True)
class _Block:
    """A centre (lists crossed) and axes varied one at a time around it; a [[grid]] varies nothing."""

    where: str
    centre: dict[str, list]
    vary: dict[str, list]

    def configs(self) -> list[dict]:
        combos = _grid(self.centre)
        configs = list(combos)
        for axis, values in self.vary.items():
            for combo in combos:
                configs += [{**combo, axis: v} for v in values]
        return configs

    def count(self, default_seeds: int, override: int) -> int:
        """Trials this block expands to before de-duplication, without expanding it."""

        def seeds(has_seed_axis: bool) -> int:
            return override or (1 if has_seed_axis else default_seeds)

        combos = math.prod(len(v) for v in self.centre.values())
        total = combos * seeds("seed" in self.centre)
        for axis, values in self.vary.items():
            total += combos * len(values) * seeds("seed" in self.centre or axis == "seed")
        return total


def _around(where: str, block: object, fixed: dict[str, list]) -> _Block:
    if not isinstance(block, dict):
        raise BenchError(f"{where}: expected a table with centre and vary, got {block!r}")
    for key in block:
        if key not in ("centre", "center", "vary"):
            raise BenchError(_unknown_key(where, key, ("centre", "vary")))
    centre = {**fixed, **_axes_table(f"{where}.centre", block.get("centre", block.get("center", {})))}
    return _Block(where, centre, _axes_table(f"{where}.vary", block.get("vary", {})))


def _grid_block(where: str, block: object, fixed: dict[str, list]) -> _Block:
    axes = _axes_table(where, block, allowed=("label",))
    if "label" in block:
        _string(where, "label", block["label"])
    return _Block(where, {**fixed, **axes}, {})


def _blocks(where: str, doc: dict, fixed: dict[str, list]) -> list[_Block]:
    blocks = []
    for kind, make in (("grid", _grid_block), ("around", _around)):
        tables = doc.get(kind, [])
        if not isinstance(tables, list):
            raise BenchError(f"{where}: {kind!r} must be an array of tables ([[{kind}]])")
        blocks += [make(f"{where} [[{kind}]] #{i}", table, fixed) for i, table in enumerate(tables, start=1)]
    return blocks or [_Block(where, fixed, {})]


def _check_count(where: str, blocks: list[_Block], default_seeds: list[int], override: list[int] | None) -> None:
    count = sum(b.count(len(default_seeds), len(override or ())) for b in blocks)
    if count > MAX_TRIALS:
        raise BenchError(
            f"{where}: the suite expands to {count} trials (configurations x seeds, before de-duplication), "
            f"more than the cap of {MAX_TRIALS}; sweep fewer values, use [[around]] blocks, or fewer seeds"
        )


def check_seeds(values: object, where: str) -> list[int]:
    """`values` as a list of seeds, each an integer in [0, MAX_SEED), at most MAX_TRIALS of them.

    `where` starts the BenchError message, e.g. "suite.toml: field 'seeds'" or "--seeds".
    """
    if not isinstance(values, list) or not values:
        raise BenchError(f"{where}: {values!r} is not a non-empty list of seeds")
    if len(values) > MAX_TRIALS:
        raise BenchError(f"{where}: {len(values)} seeds is more than the cap of {MAX_TRIALS} trials")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
            raise BenchError(
                f"{where}: {seed!r} is not a seed; a seed is an integer in [0, 2**32) (0 to {MAX_SEED - 1})"
            )
    return list(values)


def _seeds(path: str, raw: object) -> list[int]:
    where = f"{path}: field 'seeds'"
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw <= 0:
            raise BenchError(f"{where}: {raw!r} is not a positive count or a list of seeds in [0, 2**32)")
        if raw > MAX_TRIALS:
            raise BenchError(f"{where}: a count of {raw} seeds is more than the cap of {MAX_TRIALS} trials")
        return list(range(raw))
    if not isinstance(raw, list):
        raise BenchError(f"{where}: {raw!r} is not a positive count or a list of seeds in [0, 2**32)")
    return check_seeds(raw, where)


def _string(where: str, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise BenchError(f"{where}: field {field!r}: {value!r} is not a string; write it in quotes")
    return value


def _excluded(trial: Trial, excludes: list[dict[str, list]]) -> bool:
    """Matched on the final trial: after seeds are set and the task has pinned its axes."""
    return any(all(getattr(trial, k) in vs for k, vs in ex.items()) for ex in excludes)


def _read(path: Path) -> tuple[str, dict]:
    if not path.is_file():
        raise BenchError(f"suite file {str(path)!r} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a UTF-8 byte-order mark (some Windows editors) is dropped
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: cannot be read as UTF-8 text: {e}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BenchError(f"{path}: not valid TOML: {e}") from None


def parse_suite(path: str | Path, seeds: list[int] | None = None) -> Suite:
    """Read, validate and expand a suite file; raises BenchError before any work on bad input."""
    path = Path(path)
    text, doc = _read(path)
    where = str(path)
    for key in doc:
        if key not in AXES and key not in TOP_KEYS:
            raise BenchError(_unknown_key(where, key, TOP_KEYS + AXES))
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise BenchError(f"{where}: field 'name': {str(name)[:80]!r} is not a suite name: 1 to 100 letters, digits, "
                         f"'.', '_' or '-' (it names the results folder)")  # fmt: skip
    description = _string(where, "description", doc.get("description", ""))
    from bench.cells.tables import cell_tables, with_aliases  # imports torch: not at import time (--help)

    doc = with_aliases(doc, cell_tables(where, doc["cells"]) if "cells" in doc else {})
    override = check_seeds(seeds, "--seeds") if seeds is not None else None
    fixed = _axes_table(where, {k: v for k, v in doc.items() if k in AXES})
    fixed.update(_axes_table(f"{where} [fixed]", doc.get("fixed", {})))
    blocks = _blocks(where, doc, fixed)
    excludes = [_axes_table(f"{where} [[exclude]] #{i}", ex) for i, ex in enumerate(doc.get("exclude", []), 1)]
    default_seeds = _seeds(where, doc["seeds"]) if "seeds" in doc else [0]
    _check_count(where, blocks, default_seeds, override)
    configs = [config for block in blocks for config in block.configs()]
    trials = _expand(where, configs, excludes, default_seeds, override)
    return Suite(name, description, str(path), tuple(trials), text)


def _impl_problem(trial: Trial) -> str:
    """'' unless `trial.cell` lacks `trial.impl` (a user's factory is one implementation: impl 'fused')."""
    from bench import cells

    impls = cells.resolve(trial.cell).impls
    if trial.impl in impls:
        return ""
    return f"field 'impl': cell {trial.cell!r} has no impl {trial.impl!r}; it has: {', '.join(impls)}"


def _expand(
    where: str, configs: list[dict], excludes: list[dict], default_seeds: list[int], override: list[int] | None
) -> list[Trial]:
    """Cross configs with seeds (a --seeds override, else a block's own seed axis, else the suite's)."""
    from bench.tasks import TASKS

    trials: dict[str, Trial] = {}
    for config in configs:
        for seed in override or ([config["seed"]] if "seed" in config else default_seeds):
            trial = Trial(**{**config, "seed": seed})
            task = TASKS.get(trial.task)()
            trial = task.normalize(trial)
            if _excluded(trial, excludes):
                continue
            problem = task.check(trial) or _impl_problem(trial)
            if problem:
                raise BenchError(f"{where}: trial {trial.label()}: {problem}")
            trials.setdefault(trial.trial_id, trial)
    if not trials:
        raise BenchError(f"{where}: the suite expands to no trials (check [[exclude]])")
    return list(trials.values())
