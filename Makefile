# Support Ledger — developer and CI entry points.
#   make run            install, create the schema, load demo data, serve on http://127.0.0.1:5000
#   make test           run the whole suite against a throwaway PostgreSQL (scripts/postgres.sh)
#   make test PYTEST_ARGS="-x -k appointment"
#   make test-fast      the quick loop: no served app, browser or PostgreSQL (-m "not slow"), few
#                       hypothesis examples (--hypothesis-profile=fast); `make test` runs everything
#   make lint           ruff check ledger tests bench
#   make venv           .venv/ with the test extra, and node_modules/ (axe-core, `npm ci`)
#   make bench | clean | pg-start | pg-stop | pg-status | s3-start | s3-stop | s3-status
#   make i18n-extract | i18n-update | i18n-compile   the gettext catalogues under translations/ (.mo committed)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG := scripts/postgres.sh
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
# Tests keep their databases and archives in /dev/shm when it has 4 GiB free: a commit there costs no
# disk flush. pytest numbers each run's folder there as under /tmp (runs side by side never share
# one), and removes a passed test's folder as soon as it passes (pyproject.toml).
SHM_FREE_KIB := $(shell df --output=avail -k /dev/shm 2>/dev/null | tail -n 1)
TEST_TMP := $(if $(shell [ "$(SHM_FREE_KIB)" -gt 4194304 ] 2>/dev/null && echo yes),PYTEST_DEBUG_TEMPROOT=/dev/shm)
# _l is flask_babel.lazy_gettext (form labels); N_ (a default keyword) marks text translated when shown
I18N_KEYWORDS := -k _l

.PHONY: venv venv-run run test test-fast lint bench clean pg-start pg-stop pg-status s3-start s3-stop s3-status i18n-extract i18n-update i18n-compile

# Two stamps: `make run` installs what running needs, `make test` adds the test extra.
venv: $(VENV)/.installed-test node_modules/.package-lock.json
venv-run: $(VENV)/.installed-run

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-run

# axe-core, pinned by package-lock.json, for the browser tests' accessibility check. Without npm
# those tests are skipped locally; CI installs npm (.ci/run) and fails if axe-core is missing.
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then echo "+ npm ci"; npm ci --no-audit --no-fund; \
	else echo "make: npm is missing (apt-get install npm): the accessibility tests will be skipped" >&2; fi

run: venv-run
	$(BIN)/ledger init
	LEDGER_PUBLIC_URL=http://$(HOST):$(PORT) $(BIN)/ledger demo --if-empty
	$(BIN)/ledger serve --host $(HOST) --port $(PORT)

test-fast: venv
	$(TEST_TMP) $(BIN)/pytest -n 2 -m "not slow" --hypothesis-profile=fast $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check ledger tests bench

# LEDGER_TEST_POSTGRES_URL already in the environment wins over the local cluster.
test: venv
	@if [ -n "$${LEDGER_TEST_POSTGRES_URL:-}" ]; then \
		echo "make test: using LEDGER_TEST_POSTGRES_URL from the environment"; \
	elif $(PG) installed; then \
		$(PG) start; \
		export LEDGER_TEST_POSTGRES_URL="$$($(PG) url)"; \
	elif [ -n "$${CI:-}" ]; then \
		echo "make test: ERROR: CI is set but PostgreSQL is not installed (apt-get install postgresql)." >&2; \
		exit 1; \
	else \
		echo "" >&2; \
		echo "make test: WARNING: PostgreSQL is not installed; PostgreSQL and concurrency tests will be SKIPPED." >&2; \
		echo "make test: install it with 'apt-get install postgresql' (or set LEDGER_TEST_POSTGRES_URL)." >&2; \
		echo "" >&2; \
	fi; \
	echo "+ $(TEST_TMP) $(BIN)/pytest -n 2 $(PYTEST_ARGS)"; \
	$(TEST_TMP) $(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/run.py
	$(BIN)/python bench/invoicing.py
	$(BIN)/python bench/documents.py

# Labels of documents and pages: mark with _() / {% trans %}, extract, translate the .po, compile.
i18n-extract: venv-run
	$(BIN)/pybabel extract -F babel.cfg $(I18N_KEYWORDS) --project "Support Ledger" --no-location --sort-output \
		-o translations/messages.pot .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i translations/messages.pot -d translations --width 100

i18n-compile: venv-run
	$(BIN)/pybabel compile -d translations --statistics

pg-start:
	$(PG) start

pg-stop:
	$(PG) stop

pg-status:
	$(PG) status

# SeaweedFS for the S3 archive tests; the suite starts it by itself when it is not running.
s3-start: venv
	scripts/seaweedfs.sh start

s3-stop:
	scripts/seaweedfs.sh stop

s3-status:
	scripts/seaweedfs.sh status

# Leaves instance/ and invoices/ alone: they hold local data, not build output.
clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .ruff_cache .mypy_cache test-artifacts build dist .coverage htmlcov
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
