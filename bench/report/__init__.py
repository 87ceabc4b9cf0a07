"""The HTML comparison report: results files -> tables -> seaborn figures -> one self-contained page.

Data flows one way through small modules: `runs` reads run folders (through
`bench.results.load_run` only); `cost`, `training` and `provenance` turn the tables into
plot-ready DataFrames (pure functions); `plots_cost` and `plots_training` draw them through
`figures`; `sections_cost` and `sections_training` decide what each section shows or leave a
plot out with a note; `page` assembles the escaped HTML; `build.render_report` ties them
together. Nothing here imports torch, so a report renders wherever the results files are.
This file imports nothing, so that `rnnbench --help` does not load matplotlib.
"""
