# Everything installs into .venv from a bare machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
PORT ?= 3000

.PHONY: install system-deps run test lint ui bench clean sample-ore

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,hf,postgres]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## refine the sample ore in data/ and print the summary
	$(BIN)/refinery run --recipe data/recipes/forum-en.yaml

system-deps:  ## Debian packages the tests use: a PostgreSQL server (started per test in a temporary folder)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: $(STAMP) system-deps  ## the whole suite, on both cores
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check refinery refinery_tests benchmarks
	$(BIN)/ruff format --check refinery refinery_tests benchmarks
	$(BIN)/lint-imports  # layers and no cycles (pyproject.toml: tool.importlinter)

ui: $(STAMP)  ## the Dagster UI and daemon on the same instance as `make run`, at http://127.0.0.1:$(PORT)
	$(BIN)/refinery ui --port $(PORT)

bench: $(STAMP)  ## benchmarks against their baselines, measured in the same run (minutes; see docs/benchmarks.md)
	$(BIN)/python benchmarks/dedup_bench.py
	$(BIN)/python benchmarks/clean_bench.py
	$(BIN)/python benchmarks/gate_bench.py

sample-ore: $(STAMP)  ## regenerate data/ore (deterministic: same bytes every time)
	$(BIN)/python -m refinery_tests.synth data/ore

clean:
	rm -rf data/refined .dagster_home/* .pytest_cache
