# wfapp: `make run` sets up and serves the app with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres bench bench-quick install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) quickstart
	$(FLASK) run --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The suite against PostgreSQL: WFAPP_TEST_DATABASE_URL=postgresql://user:pw@127.0.0.1/db make test-postgres
test-postgres: $(STAMP)
	test -n "$$WFAPP_TEST_DATABASE_URL"
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python tests/perf/run.py

bench-quick: $(STAMP)
	$(BIN)/python tests/perf/run.py --quick

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-output
