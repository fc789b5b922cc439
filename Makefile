# Parvis — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test test-fast lint check bench demo messages clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Parvis needs Python 3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start Parvis on its embedded default: SQLite, filesystem broker, sandbox network, demo data.
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	PORT=$(PORT) $(PY) scripts/run_embedded.py

## Run the whole test suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set).
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## Unit and integration tests only (no real processes, no browser).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not system and not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## What CI checks besides the tests: lint, migrations committed, Django's checks.
check: lint
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

bench: $(STAMP)
	$(PY) bench/run.py

demo: $(STAMP)
	$(PY) manage.py seed_demo

## Refresh the English catalogue from the French source strings.
messages: $(STAMP)
	$(PY) manage.py makemessages -l en --ignore=.venv --ignore=var --ignore=tests
	$(PY) manage.py compilemessages -l en --ignore=.venv

clean:
	rm -rf $(VENV) var
