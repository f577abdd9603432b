# pipecast: `make run` runs the nightly pipeline end to end on demo data; `make test` runs the tests.
# Both create the virtual environment and install the pinned dependencies (requirements.lock) first.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STATE := $(CURDIR)/.state
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(STATE)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__LOGGING__BASE_LOG_FOLDER := $(STATE)/airflow/logs
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export NO_PROXY := *

RUN_DATE ?= $(shell date -u +%Y-%m-%d)

.PHONY: install run test bench docs lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The nightly pipeline through the real Airflow DAG (airflow dags test, SQLite metadata in .state/).
run: install
	$(VENV)/bin/pipecast generate
	$(VENV)/bin/airflow db migrate > $(STATE)/airflow-migrate.log 2>&1 || (cat $(STATE)/airflow-migrate.log; exit 1)
	$(VENV)/bin/airflow pools set duckdb_writer 1 "single writer of the DuckDB warehouse" > /dev/null
	$(VENV)/bin/airflow dags test pipecast_nightly $(RUN_DATE) > $(STATE)/airflow-dags-test.log 2>&1 \
		|| (tail -n 80 $(STATE)/airflow-dags-test.log; echo "DAG run failed: see $(STATE)/airflow-dags-test.log"; exit 1)
	@grep -E "Marking run|state=" $(STATE)/airflow-dags-test.log | tail -n 8 || true
	$(VENV)/bin/pipecast report

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

docs: install
	$(VENV)/bin/pipecast docs

bench: install
	$(PY) bench/run_bench.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(STATE)
