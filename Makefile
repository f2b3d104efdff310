# Two commands on a fresh Debian 12 machine: `make demo` and `make test`.
# Both install what is missing first (Debian packages, .venv) and do nothing twice.

VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup system demo test unit integration e2e bench lint format clean

setup: system $(INSTALLED)

system:
	@bash scripts/setup-system.sh

$(INSTALLED): pyproject.toml scripts/setup-venv.sh
	@bash scripts/setup-venv.sh
	@$(PY) -m central.web.assets fetch
	@touch $@

demo: setup
	$(PY) -m demo

# Two workers (the machine has two cores); --dist loadscope keeps each test module on one worker so its
# module-scoped broker, database and models are started once. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
PYTEST = $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadscope

test: setup
	$(PYTEST) tests

unit: setup
	$(PYTEST) tests/unit

integration: setup
	$(PYTEST) tests/integration

e2e: setup
	$(PYTEST) tests/e2e

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/protocols.py
	$(PY) bench/vision.py
	$(PY) bench/speech.py
	$(PY) bench/rules.py
	$(PY) bench/monitoring.py
	$(PY) bench/edge.py
	$(PY) bench/kiosk.py
	$(PY) bench/web.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .demo
