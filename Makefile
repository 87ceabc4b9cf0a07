# rnnbench: `make bench` runs the default suite and writes reports/latest.html; `make test` runs the tests.
# Both create .venv and install everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
SUITE ?= suites/default.toml
SUITE_NAME = $(basename $(notdir $(SUITE)))
RUN ?= results/$(SUITE_NAME)/latest
ARGS ?=

.PHONY: FORCE runtime install bench report test test-fast lint overhead repeatability gate gate-calibration machine-reference browser clean

# The torch requirement is a prerequisite too: `make bench TORCH=...` reinstalls when it changes.
$(VENV)/.torch-spec: FORCE
	@mkdir -p $(VENV) && echo '$(TORCH)' | cmp -s - $@ || echo '$(TORCH)' > $@

# What a run, a report and the benchmarks need: torch and rnnbench's own dependencies.
$(VENV)/.installed: pyproject.toml $(VENV)/.torch-spec
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .
	touch $@

# Plus Dask (`rnnbench run --scheduler`, `--workers`) and the test tools (playwright, ruff, zizmor).
$(VENV)/.installed-all: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dask,test]"
	touch $@

runtime: $(VENV)/.installed

install: $(VENV)/.installed-all

bench: runtime
	$(PY) -m bench run $(SUITE) $(ARGS)
	$(PY) -m bench report $(RUN) -o reports/latest.html
	@echo "report: $(CURDIR)/reports/latest.html"

report: runtime
	$(PY) -m bench report $(RUN) -o reports/latest.html

# Headless Chromium for the report's browser test (Debian packages; needs root, else the test skips).
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver >/dev/null; } || echo "chromium could not be installed; the browser test will skip"

test: install browser
	$(PY) -m ruff check bench tests
	$(VENV)/bin/zizmor --offline .github/workflows/
	$(PY) -m pytest -q

# Unit tests only: not the end-to-end CLI runs marked slow, not the browser test.
test-fast: install
	$(PY) -m ruff check bench tests
	$(PY) -m pytest -q -m "not slow and not browser"

lint: install
	$(PY) -m ruff check bench tests
	$(PY) -m ruff format --check bench tests

# Harness against a bare loop over the same step: rnn/lstm/gru at three sizes, one torch thread.
overhead: runtime
	$(PY) -m bench.benchmarks.overhead $(ARGS)

# The same suite run twice (SUITE=..., default smoke): seed spread and run-to-run change of every ratio.
repeatability: SUITE = suites/smoke.toml
repeatability: runtime
	$(PY) -m bench.benchmarks.repeatability $(SUITE) $(ARGS)

gate: runtime
	$(PY) -m bench gate $(BASELINE) $(CURRENT) --normalize rnn $(ARGS)

gate-calibration: runtime
	$(PY) -m bench.benchmarks.gate_calibration $(ARGS)

# Candidate machine workloads for --normalize machine, timed beside the smoke steps under deliberate load.
machine-reference: runtime
	$(PY) -m bench.benchmarks.machine_reference $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
