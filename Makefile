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

.PHONY: help setup run test test-fast lint mutation bench clean airflow superset-env dashboard

help:
	@echo "make run    - set up, generate 3 days of demo exports, run the daily DAG for each, print the summary"
	@echo "make airflow - start scheduler, dag-processor, triggerer and api-server on 127.0.0.1 (UI)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff and mypy (make test runs it first)"
	@echo "make mutation MODULES=\"analytics/evaluation.py\" BUDGET=600 - mutmut score per module"
	@echo "make clean  - remove data/ (warehouse, runs, landing, Airflow metadata)"
	@echo "make dashboard - Superset on 127.0.0.1:8088 with the dashboard on the served warehouse"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --compile-bytecode
	@touch $@

setup: .venv/.synced

# Apache Superset in its own environment (it needs SQLAlchemy < 2), pinned by
# superset/requirements.txt; the dashboard test calls this target.
SUPERSET_VENV := .tools/superset-venv
$(SUPERSET_VENV)/.installed: superset/requirements.txt | $(UV)
	$(UV) venv --python 3.11 --allow-existing $(SUPERSET_VENV)
	$(UV) pip install --python $(SUPERSET_VENV)/bin/python -r superset/requirements.txt
	@touch $@

superset-env: $(SUPERSET_VENV)/.installed

# `make dashboard` serves data/warehouse.duckdb (run `make run` first); SW_SUPERSET_PORT=8088.
dashboard: setup superset-env
	$(PY) superset/dashboard.py setup
	$(PY) superset/dashboard.py serve

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

# Airflow on this machine with the generated airflow.cfg (AIRFLOW_HOME, default data/airflow);
# prints the UI address; Ctrl-C stops every process it started.
airflow: setup
	$(PY) -m social_warehouse.cli airflow up

# The suite on PYTEST_WORKERS pytest-xdist workers (0: one process), one test file per work
# unit; the files sharing the built two-day world are one unit (tests/conftest.py,
# pytest_xdist_make_scheduler). The slowest tests are listed at the end.
PYTEST_WORKERS ?= 2
test: setup lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=30

test-fast: setup
	$(PY) -m pytest -m "not e2e and not integration" -n $(PYTEST_WORKERS) --dist loadfile \
	  --durations=15

lint: setup
	.venv/bin/ruff check plugins dags tests benchmarks
	.venv/bin/mypy

# `make mutation [MODULES="analytics/evaluation.py quality/metrics.py"] [BUDGET=seconds]`:
# mutmut on the chosen modules (paths under plugins/social_warehouse) with their fast test
# files only, stopped after BUDGET seconds; prints killed/survived/timeout per module.
MODULES ?= analytics/evaluation.py analytics/graph analytics/influence.py analytics/_common.py \
	quality/metrics.py mapping/rules.py
BUDGET ?= 900
mutation: setup
	$(PY) scripts/mutation.py $(MODULES) --budget $(BUDGET)

clean:
	rm -rf data
