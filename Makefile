# Social Warehouse: `make run` (demo end to end) and `make test` (the whole suite) work
# on a fresh clone with nothing installed but Python 3.11.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export PYTHONDONTWRITEBYTECODE := 1
export GX_ANALYTICS_ENABLED := False
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help setup run test test-fast lint bench clean

help:
	@echo "make run    - set up, generate 3 days of demo exports, run the daily DAG for each, print the summary"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff"
	@echo "make clean  - remove data/ (warehouse, runs, landing, Airflow metadata)"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --compile-bytecode
	@touch $@

setup: .venv/.synced

# `make run` runs the demo; `make run MAPPING=sources/x.yaml FROM=dir [DS=date]` runs the DAG
# on a real export instead, in its own data dir (data/<mapping name>/).
DS ?= 2026-01-01
run: setup
ifeq ($(strip $(MAPPING)),)
	$(PY) -m social_warehouse.cli demo
else
	SW_DATA_DIR=$(or $(DATA),data/$(basename $(notdir $(MAPPING)))) \
	  $(PY) -m social_warehouse.cli import --mapping $(MAPPING) --from $(FROM) --ds $(DS) \
	  --overwrite --run
endif

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not e2e"

lint: setup
	.venv/bin/ruff check plugins dags tests benchmarks

clean:
	rm -rf data
