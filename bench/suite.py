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
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.trial import AXES, AXIS_FIELDS, Trial

TOP_KEYS = ("name", "description", "seeds", "fixed", "grid", "around", "exclude")


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
        from bench.models import CELLS

        return tuple(CELLS.names())
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
        if value not in choices:
            return f"unknown {name} {value!r}; choose one of: {', '.join(choices)}"
        return ""
    minimum = f.metadata["min"]
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if minimum is not None and value < minimum:
        return f"{value!r} must be >= {minimum:g}"
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


def _around(where: str, block: dict, fixed: dict[str, list]) -> list[dict]:
    for key in block:
        if key not in ("centre", "center", "vary"):
            raise BenchError(_unknown_key(where, key, ("centre", "vary")))
    centre = {**fixed, **_axes_table(f"{where}.centre", block.get("centre", block.get("center", {})))}
    vary = _axes_table(f"{where}.vary", block.get("vary", {}))
    combos = _grid(centre)
    configs = list(combos)
    for axis, values in vary.items():
        for combo in combos:
            configs += [{**combo, axis: v} for v in values]
    return configs


def _seeds(path: str, raw: object) -> list[int]:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return list(range(raw))
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw):
        return list(raw)
    raise BenchError(f"{path}: field 'seeds': {raw!r} is not a positive count or a list of seeds >= 0")


def _excluded(trial: Trial, excludes: list[dict[str, list]]) -> bool:
    """Matched on the final trial: after seeds are set and the task has pinned its axes."""
    return any(all(getattr(trial, k) in vs for k, vs in ex.items()) for ex in excludes)


def parse_suite(path: str | Path, seeds: list[int] | None = None) -> Suite:
    """Read, validate and expand a suite file; raises BenchError before any work on bad input."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"suite file {str(path)!r} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: cannot be read as UTF-8 text: {e}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BenchError(f"{path}: not valid TOML: {e}") from None
    where = str(path)
    fixed = _axes_table(where, {k: v for k, v in doc.items() if k in AXES})
    for key in doc:
        if key not in AXES and key not in TOP_KEYS:
            raise BenchError(_unknown_key(where, key, TOP_KEYS + AXES))
    fixed.update(_axes_table(f"{where} [fixed]", doc.get("fixed", {})))
    configs = []
    for kind in ("grid", "around"):
        blocks = doc.get(kind, [])
        if not isinstance(blocks, list):
            raise BenchError(f"{where}: {kind!r} must be an array of tables ([[{kind}]])")
        for i, block in enumerate(blocks, start=1):
            bw = f"{where} [[{kind}]] #{i}"
            if kind == "grid":
                configs += _grid({**fixed, **_axes_table(bw, block, allowed=("label",))})
            else:
                configs += _around(bw, block, fixed)
    if not doc.get("grid") and not doc.get("around"):
        configs = _grid(fixed)
    excludes = [_axes_table(f"{where} [[exclude]] #{i}", ex) for i, ex in enumerate(doc.get("exclude", []), 1)]
    default_seeds = _seeds(where, doc["seeds"]) if "seeds" in doc else [0]
    trials = _expand(where, configs, excludes, default_seeds, seeds)
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise BenchError(f"{where}: field 'name': {name!r} is not a non-empty name without '/'")
    return Suite(name, str(doc.get("description", "")), str(path), tuple(trials), text)


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
            problem = task.check(trial)
            if problem:
                raise BenchError(f"{where}: trial {trial.label()}: {problem}")
            trials.setdefault(trial.trial_id, trial)
    if not trials:
        raise BenchError(f"{where}: the suite expands to no trials (check [[exclude]])")
    return list(trials.values())
