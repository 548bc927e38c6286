# The two commands of the README: `make demo` runs the product, `make test` runs the suite.
# Each creates .venv and installs what it needs on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# The demo installs only what the product runs (no [dev] extras: test, lint and load tools).
RUN_STAMP := $(VENV)/.installed-run
PYTHON_CHECK := $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "machipay needs Python 3.11 or newer")'

# The demo's address: `make demo DEMO_HOST=0.0.0.0 DEMO_PORT=8080`.
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000

.PHONY: demo test lint audit lock format install clean

$(RUN_STAMP): pyproject.toml requirements.lock
	@$(PYTHON_CHECK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON_CHECK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/machipay demo --host $(DEMO_HOST) --port $(DEMO_PORT)

# pytest exits 5 when it collected no tests; make fails on any non-zero exit, so an
# empty run can never pass as green. Two xdist workers by default (a test process spends much
# of its time waiting on PostgreSQL and Chromium); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy machipay ledger wallet_api merchant_api payments settlement campaigns benefits analytics desk web assembly identity ward migrations loadtest tests scripts

# Known vulnerabilities in the exact versions we install (pip-audit, PyPI's advisory data).
audit: $(STAMP)
	$(BIN)/pip-audit --requirement requirements.lock --no-deps --disable-pip --progress-spinner off

# Re-resolve the dependencies of pyproject.toml and pin them all in requirements.lock.
lock:
	$(PYTHON) scripts/lock.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
