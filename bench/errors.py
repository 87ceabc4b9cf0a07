"""The one user-facing error type: the CLI prints it as `error: ...` and exits 2."""


class BenchError(Exception):
    """Bad input caught at the edge (suite file, CLI argument, results folder)."""
