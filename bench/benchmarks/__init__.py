"""Benchmarks of rnnbench itself (its overheads), run as `python -m bench.benchmarks.NAME`."""
