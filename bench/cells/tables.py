"""A suite's `[cells.NAME]` tables: `factory = "module:callable"` declared once, so that `cell = "NAME"` works.

NAME is an alias: every trial that names it gets the factory's import path as its `cell`, so the trial id
holds the path, and Dask workers and the crash-isolated child load the same factory from the trial alone.
"""

from __future__ import annotations

from bench.errors import BenchError

TABLE_KEYS = ("factory",)
# Where a suite may name cells: top level, [fixed], [[grid]], [[around]] centre and vary, [[exclude]].
_SINGLE = ("fixed",)
_LISTS = ("grid", "exclude")


def cell_tables(where: str, raw: object) -> dict[str, str]:
    """The suite's [cells] tables as {NAME: 'module:callable'}; BenchError on a malformed one."""
    if not isinstance(raw, dict):
        raise BenchError(f"{where}: field 'cells' must be tables: [cells.NAME] with factory = \"module:callable\"")
    from bench.cells import BUILTIN, is_path

    aliases = {}
    for name, table in raw.items():
        at = f"{where} [cells.{name}]"
        if name in BUILTIN or is_path(name):
            raise BenchError(f"{at}: the name {name!r} is a built-in cell or an import path; choose another name")
        if not isinstance(table, dict) or "factory" not in table:
            raise BenchError(f'{at}: expected a table with factory = "module:callable", got {table!r}')
        for key in table:
            if key not in TABLE_KEYS:
                raise BenchError(f"{at}: unknown key {key!r}; valid keys: {', '.join(TABLE_KEYS)}")
        factory = table["factory"]
        if not isinstance(factory, str) or ":" not in factory:
            raise BenchError(f"{at}, field 'factory': {factory!r} is not a \"module:callable\" string")
        from bench.cells.probe import cell_problem

        problem = cell_problem(factory)
        if problem:
            raise BenchError(f"{at}, field 'factory': {problem}")
        aliases[name] = factory
    return aliases


def with_aliases(doc: dict, aliases: dict[str, str]) -> dict:
    """`doc` with every `cell` value that names a [cells.NAME] table replaced by its factory's path."""
    if not aliases:
        return doc
    doc = _swap(doc, aliases)
    for key in _SINGLE:
        if isinstance(doc.get(key), dict):
            doc[key] = _swap(doc[key], aliases)
    for key in (*_LISTS, "around"):
        if isinstance(doc.get(key), list):
            doc[key] = [_block(b, aliases) if key == "around" else _swap(b, aliases) for b in doc[key]]
    return doc


def _block(block: object, aliases: dict[str, str]) -> object:
    if not isinstance(block, dict):
        return block
    return {k: _swap(v, aliases) if k in ("centre", "center", "vary") else v for k, v in block.items()}


def _swap(table: object, aliases: dict[str, str]) -> object:
    if not isinstance(table, dict) or "cell" not in table:
        return table
    value = table["cell"]
    if isinstance(value, list):
        value = [aliases.get(v, v) if isinstance(v, str) else v for v in value]
    elif isinstance(value, str):
        value = aliases.get(value, value)
    return {**table, "cell": value}
