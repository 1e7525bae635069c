# webfunnel: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# two workers for two cores: test files run in parallel, each file whole on one worker
TEST_WORKERS ?= 2
DATA ?= data
DEMO_START ?= 2026-10-05
DEMO_DAYS ?= 21
DEMO_VISITORS ?= 3000

export WEBFUNNEL_LANDING ?= $(CURDIR)/$(DATA)/landing
export WEBFUNNEL_WAREHOUSE ?= $(CURDIR)/$(DATA)/warehouse.duckdb

.PHONY: demo test lint bench bench-collect airflow install clean

# the venv is (re)installed when pyproject.toml changes
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf $(DATA)/landing $(DATA)/landing-archive $(DATA)/warehouse.duckdb $(DATA)/warehouse.work.duckdb
	$(BIN)/webfunnel generate --out $(DATA)/landing --start $(DEMO_START) --days $(DEMO_DAYS) --visitors $(DEMO_VISITORS) --seed 7
	$(BIN)/webfunnel run
	$(BIN)/webfunnel summary
	@if $(PY) -c "import ingest.report" 2>/dev/null; then \
		$(BIN)/webfunnel report --out $(DATA)/dashboard.html; fi

# lint first: a style regression fails CI like a failing test
test: install lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

lint: install
	$(BIN)/ruff check ingest tests dags bench
	$(BIN)/ruff format --check ingest tests dags bench
	@# sqlfluff's dbt templater opens the profile's DuckDB file: a throwaway one, so that
	@# linting works in a fresh clone (no data/ folder) and never touches the pipeline's
	d=$$(mktemp -d) && WEBFUNNEL_WORK_DB=$$d/lint.duckdb $(BIN)/sqlfluff lint models; \
		status=$$?; rm -rf "$$d"; exit $$status

bench: install
	$(PY) -m bench.pipeline_bench

AIRFLOW_HOME ?= $(CURDIR)/$(DATA)/airflow
# a local Airflow (standalone: scheduler, API server, SQLite) with the project's DAGs
airflow: install
	mkdir -p $(AIRFLOW_HOME) $(DATA)/crm-drop
	export PATH=$(CURDIR)/$(BIN):$$PATH AIRFLOW_HOME=$(AIRFLOW_HOME) \
		AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
		AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=ingest.airflow_settings.SQLITE_CONNECT_ARGS \
		WEBFUNNEL_CRM_DROP=$(CURDIR)/$(DATA)/crm-drop; \
	$(BIN)/airflow db migrate >/dev/null && \
	$(BIN)/airflow pools set webfunnel_warehouse 1 "DuckDB has one writer" >/dev/null && \
	$(BIN)/airflow standalone

bench-collect: install
	$(PY) bench/collect_bench.py

clean:
	rm -rf $(DATA) target logs
