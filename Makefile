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

test: setup
	$(PY) -m pytest tests -q

unit: setup
	$(PY) -m pytest tests/unit -q

integration: setup
	$(PY) -m pytest tests/integration -q

e2e: setup
	$(PY) -m pytest tests/e2e -q

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
