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

# Four test processes on two cores: the live tiers mostly wait on the sim clock. Each file
# stays on one process (its module fixtures are built once); the slow files start first.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/bench.py

lint: $(STAMP)
	$(BIN)/ruff check simfleet producers orchestrator simctl admin tests bench examples
	$(BIN)/ruff format --check simfleet producers orchestrator simctl admin tests bench examples
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format simfleet producers orchestrator simctl admin tests bench examples
	$(BIN)/ruff check --fix simfleet producers orchestrator simctl admin tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
