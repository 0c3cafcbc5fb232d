# The two commands: `make run` and `make test`. Both create .venv and install on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint fmt clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/simctl up

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15

bench: $(STAMP)
	$(BIN)/python bench/bench.py

lint: $(STAMP)
	$(BIN)/ruff check simfleet producers orchestrator simctl admin tests bench
	$(BIN)/ruff format --check simfleet producers orchestrator simctl admin tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format simfleet producers orchestrator simctl admin tests bench
	$(BIN)/ruff check --fix simfleet producers orchestrator simctl admin tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
