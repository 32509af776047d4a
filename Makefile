# wfapp: `make run` sets up and serves the app with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-postgres lint typecheck bench bench-quick install clean fuzz

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

# The suite on 2 processes (pytest-xdist: `-n 2` in pyproject.toml's addopts); `-n 0` runs it serially.
test: $(STAMP)
	$(BIN)/python -m pytest -q

# Everything but the browser, fuzz and multi-process tests (markers in pyproject.toml)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not browser and not fuzz and not multiprocess"

# Ruff's linter and formatter (configured in pyproject.toml); `ruff format .` fixes the format.
lint: $(STAMP)
	$(BIN)/ruff check wfapp tests app.py gunicorn.conf.py
	$(BIN)/ruff format --check wfapp tests app.py gunicorn.conf.py

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite against PostgreSQL: WFAPP_TEST_DATABASE_URL=postgresql://user:pw@127.0.0.1/db make test-postgres
test-postgres: $(STAMP)
	test -n "$$WFAPP_TEST_DATABASE_URL"
	$(BIN)/python -m pytest -q

# Benchmarks (tests/perf/run.py; needs wrk): every hot path on SQLite and PostgreSQL, the
# lifecycle comparison with django-viewflow 2.4 (installed on the first run into
# ~/.cache/wfapp-bench/peer-venv, never into .venv) and the scale-out table.
bench: $(STAMP)
	$(BIN)/python tests/perf/run.py

bench-quick: $(STAMP)
	$(BIN)/python tests/perf/run.py --quick

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-output

# A longer schemathesis run over every API operation (random inputs; figures in test-output/fuzz.json)
fuzz: $(STAMP)
	mkdir -p test-output
	WFAPP_FUZZ_EXAMPLES=$${WFAPP_FUZZ_EXAMPLES:-200} WFAPP_FUZZ_RANDOM=1 WFAPP_FUZZ_REPORT=test-output/fuzz.json \
		$(BIN)/python -m pytest -q tests/test_fuzz_api.py
	cat test-output/fuzz.json
