# Two commands on a fresh machine: `make run` and `make test`. Every target builds .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The template scanner lives apart: checkov pins its own boto3, which would clash with ours.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed
# Debian's Chromium, which the console's end-to-end tests drive headless (through Playwright).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST := $(BIN)/pytest
PORT ?= 8080

.PHONY: run test unit integration e2e lint scan format bench demo venv browser clean

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is needed (python3.12 preferred)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $@

venv: $(STAMP)

$(SCAN_STAMP): requirements-scan.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is needed (python3.12 preferred)"; exit 1; }
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.lock
	@touch $@

# Debian's package where apt-get is (this project's machines); elsewhere (CodeBuild's Amazon Linux)
# Playwright's own build of Chromium, which the tests use when /usr/bin/chromium is absent.
browser: venv
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
	else $(BIN)/python -m playwright install --with-deps chromium; fi

run: venv ## bring the whole stack up on this machine (Ctrl-C stops it)
	$(BIN)/payments local up --port $(PORT)

test: lint scan unit integration e2e ## every tier, as CI runs it

unit: venv ## UNIT_FLAGS="--cov=payments" adds coverage (CodeBuild does)
	$(PYTEST) tests/unit -q $(UNIT_FLAGS)

integration: venv
	$(PYTEST) tests/integration -q

e2e: venv browser ## includes the console's tests in headless Chromium; screenshots in artifacts/
	$(PYTEST) tests/e2e -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict bench/launcher.py bench/campaign.py bench/webhook_receiver.py bench/webhooks.py  # what tests import from bench/

scan: venv $(SCAN_STAMP) ## security scan of both templates; findings fixed or suppressed with a reason
	$(BIN)/python -m payments.delivery.scan --checkov $(SCAN_VENV)/bin/checkov

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv ## figures, not pass/fail
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/authorize.py
	$(BIN)/python bench/calls.py
	$(BIN)/python bench/checkout.py
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/refunds.py
	$(BIN)/python bench/settlement.py
	$(BIN)/python bench/bundle_size.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/chaos.py

demo: venv
	$(BIN)/payments demo

clean:
	rm -rf $(VENV) $(SCAN_VENV) .pytest_cache .mypy_cache .ruff_cache build dist
