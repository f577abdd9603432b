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
AIRFLOW := $(VENV)/bin/airflow
# Backfill window (inclusive) and what to do with dates that already have a run: none, failed, completed.
FROM ?=
TO ?=
REPROCESS ?= failed

.PHONY: install run test chromium bench docs lint clean airflow-db scheduler backfill trigger bi-install bi-lock bi

$(PY):
	$(PYTHON) -m venv $(VENV)

# The CSS, JavaScript and fonts the Great Expectations Data Docs load, from pinned npm packages, so
# that the docs render offline (jobs/pipecast/validate/data_docs_offline.py copies them into the site).
DOCS_ASSETS := jobs/pipecast/validate/data_docs_assets

# --compile-bytecode: uv, unlike pip, leaves the installed packages' .pyc files to the first import,
# and where PYTHONDONTWRITEBYTECODE is set (as on these machines) no import ever writes them: every
# process then compiles each module it imports from source. Measured on a 2-core machine with it set:
# `import great_expectations` 16.1 -> 6.2 s, dbt.cli.main 5.6 -> 2.9 s, airflow.models 6.8 -> 2.8 s,
# sklearn.ensemble 7.1 -> 2.4 s; compiling once at install takes about 50 s.
$(STAMP): requirements.lock pyproject.toml $(DOCS_ASSETS)/package-lock.json Makefile | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(PY) --no-deps -e .
	@if command -v npm > /dev/null; then \
		npm ci --prefix $(DOCS_ASSETS) --no-audit --no-fund --ignore-scripts --loglevel=error; \
	else \
		echo "note: npm missing: the Data Docs keep their CDN links (they need the network to render)"; \
	fi
	touch $(STAMP)

install: $(STAMP)

# The nightly pipeline through the real Airflow DAG (airflow dags test, SQLite metadata in .state/).
# No run deadline here: Airflow 3.3.2's `dags test` fails after a successful run of a DAG with one.
run: export PIPECAST_RUN_DEADLINE_MINUTES := 0
# The forecast's own loops (blocks of rows through the trees, Monte-Carlo draws) take two threads
# where there are two cores: plain threads, they slow down in proportion when other work shares the
# machine. The fits' OpenMP threads stay at one (PIPECAST_FORECAST_OPENMP_THREADS; README, "Benchmark"):
# on two, the demo's first-night forecast took 56 s on a quiet 2-core machine against 66 s so, but
# 687 s against 104 s beside two busy loops. A value set in the environment wins.
run: export PIPECAST_FORECAST_THREADS ?= $(shell [ "$$(nproc)" -ge 2 ] && echo 2 || echo 1)
run: install
	$(VENV)/bin/pipecast generate
	$(VENV)/bin/airflow db migrate > $(STATE)/airflow-migrate.log 2>&1 || (cat $(STATE)/airflow-migrate.log; exit 1)
	$(VENV)/bin/airflow pools set duckdb_writer 1 "single writer of the DuckDB warehouse" > /dev/null
	@set -o pipefail; PYTHONUNBUFFERED=1 $(VENV)/bin/airflow dags test pipecast_nightly $(RUN_DATE) 2>&1 \
		| $(PY) -m pipecast.orchestration.progress --log $(STATE)/airflow-dags-test.log \
		|| (tail -n 40 $(STATE)/airflow-dags-test.log; echo "DAG run failed: see $(STATE)/airflow-dags-test.log"; exit 1)
	$(VENV)/bin/pipecast report

# The suite on one pytest-xdist worker per core, at most 4, each taking whole files (a file's
# fixtures are built once; the session fixtures once per worker). It spends most of its time in
# single-threaded Python (dbt, Great Expectations, Airflow): on 2 cores, 2,600 s on one worker ->
# 1,399 s on two (596 tests). --no-loadscope-reorder: the files in collection order, where
# tests/conftest.py puts the slow ones first (xdist would order them by their number of tests, and
# the few-test files of whole nights came last). PYTEST_ARGS= runs it on one process.
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))
PYTEST_ARGS ?= -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: install chromium bi-install
	$(PY) -m pytest $(PYTEST_ARGS)

# The HTML report's browser tests drive Debian's Chromium (Playwright with executable_path; no browser
# is downloaded). A clean CI machine runs as root: install it there when it is missing; elsewhere say so
# (those tests then skip).
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /dev/null; \
		else \
			echo "note: $(CHROMIUM) missing and not root: the HTML report's browser tests will skip"; \
		fi; \
	fi

docs: install
	$(VENV)/bin/pipecast docs

bench: install
	$(PY) bench/run_bench.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(STATE)

# Scheduled on this machine: the metadata database and the DuckDB writers' pool, then Airflow's own
# one-machine mode (api-server on http://localhost:8080, scheduler, dag-processor, triggerer; SQLite,
# LocalExecutor). The nightly runs on PIPECAST_NIGHTLY_SCHEDULE; the admin password is printed and
# kept in $(STATE)/airflow/simple_auth_manager_passwords.json.generated.
airflow-db: install
	@mkdir -p $(STATE)
	$(AIRFLOW) db migrate > $(STATE)/airflow-migrate.log 2>&1 || (cat $(STATE)/airflow-migrate.log; exit 1)
	$(AIRFLOW) pools set duckdb_writer 1 "single writer of the DuckDB warehouse" > /dev/null

scheduler: airflow-db
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(AIRFLOW) standalone

# Replay history night by night, oldest first, one run at a time (needs `make scheduler` running):
#   make backfill FROM=2026-10-01 TO=2026-11-28
backfill: airflow-db
	@test -n "$(FROM)" -a -n "$(TO)" || (echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD [REPROCESS=none|failed|completed]"; exit 2)
	$(AIRFLOW) backfill create --dag-id pipecast_nightly --from-date $(FROM) --to-date $(TO) \
		--max-active-runs 1 --reprocess-behavior $(REPROCESS)

# One nightly run now, on the running scheduler.
trigger: airflow-db
	$(AIRFLOW) dags trigger pipecast_nightly

# Apache Superset for the dashboards (bi/superset/): its own venv, pinned by bi/superset/requirements.lock
# (Superset pins SQLAlchemy 1.4 and pandas 2.1, which the pipeline's venv cannot share). `make test`
# installs it for tests/report/test_bi_dashboards.py.
BI_DIR := bi/superset
BI_VENV := $(BI_DIR)/.venv
BI_PY := $(BI_VENV)/bin/python
BI_STAMP := $(BI_VENV)/.installed
BI_PORT ?= 8088
export SUPERSET_CONFIG_PATH := $(CURDIR)/$(BI_DIR)/superset_config.py
export SUPERSET_HOME ?= $(STATE)/superset

$(BI_PY):
	$(PYTHON) -m venv --without-pip $(BI_VENV)

$(BI_STAMP): $(BI_DIR)/requirements.lock $(STAMP) | $(BI_PY)
	$(UV) pip sync --quiet --compile-bytecode --python $(BI_PY) $(BI_DIR)/requirements.lock
	touch $(BI_STAMP)

bi-install: $(BI_STAMP)

bi-lock: install
	$(UV) pip compile --quiet --python-version 3.11 $(BI_DIR)/requirements.in -o $(BI_DIR)/requirements.lock

# The dashboards on this machine's warehouse (run `make run` first): provisions Superset's metadata
# (SQLite in .state/superset/), the admin user and the dashboards, then serves them on
# http://localhost:$(BI_PORT)/superset/dashboard/pipeline/ (also forecast/, funnel/). The admin password
# is SUPERSET_ADMIN_PASSWORD, or a generated one kept in .state/superset/admin_password.
bi: bi-install
	@mkdir -p $(SUPERSET_HOME)
	@test -f $(STATE)/warehouse.duckdb || (echo "no warehouse at $(STATE)/warehouse.duckdb: run 'make run' first"; exit 1)
	@test -f $(SUPERSET_HOME)/secret_key || $(PY) -c "import secrets; print(secrets.token_urlsafe(42))" > $(SUPERSET_HOME)/secret_key
	@test -n "$$SUPERSET_ADMIN_PASSWORD" -o -f $(SUPERSET_HOME)/admin_password || $(PY) -c "import secrets; print(secrets.token_urlsafe(12))" > $(SUPERSET_HOME)/admin_password
	@export SUPERSET_SECRET_KEY="$$(cat $(SUPERSET_HOME)/secret_key)"; \
	export SUPERSET_ADMIN_PASSWORD="$${SUPERSET_ADMIN_PASSWORD:-$$(cat $(SUPERSET_HOME)/admin_password)}"; \
	$(BI_PY) $(BI_DIR)/provision.py --warehouse-uri "duckdb:///$(STATE)/warehouse.duckdb?access_mode=read_only" \
	&& echo "Superset on http://localhost:$(BI_PORT)/superset/dashboard/pipeline/ (user admin, password: $$SUPERSET_ADMIN_PASSWORD)" \
	&& $(BI_VENV)/bin/gunicorn --bind 127.0.0.1:$(BI_PORT) --workers 1 --threads 8 --timeout 120 "superset.app:create_app()"
