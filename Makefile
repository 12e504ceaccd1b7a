# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create the venv (pip) and node_modules (npm) first when they are missing or stale.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export NODE_NO_WARNINGS := 1

.PHONY: setup test test-unit lint typecheck synth demo bench traces loadtest clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-loadtest.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -r requirements-loadtest.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The live load test runs alone, after the rest: its shop runs on wall-clock pacing (0.4 s a trace
# minute), and a second worker's simulations on the same two cores kept it shedding for minutes after
# the surge (a CI run, 2026-11-30).
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambdas/surgeguard gameday loadtest
	$(PY) -m pytest -n 2 -m "not loadtest"
	$(PY) -m pytest -m loadtest

test-unit: setup
	$(PY) -m pytest tests/unit -n 2

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy lambdas/surgeguard gameday loadtest

synth: setup
	npx --no-install cdk synth --no-notices -q

demo: setup
	$(VENV)/bin/surgeguard gameday

bench: setup
	$(VENV)/bin/surgeguard bench $(TRACES)

# The 16 NAB traces the README's results are measured on (AGPL-3.0, so fetched, not vendored), sha256-verified.
traces: setup
	$(VENV)/bin/surgeguard fetch-traces traces

# The shop, its fleet, Locust and three policies on this machine (about 16 minutes on 2 cores).
loadtest: setup
	$(VENV)/bin/surgeguard loadtest $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache gameday.png gameday-lambda.log loadtest-out
