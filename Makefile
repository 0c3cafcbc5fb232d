# The two commands: `make run` and `make test`. Both create .venv and install on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs what running needs; the test, bench and lint targets add the dev extras.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast test-loaded bench lint fmt clean

$(RUN_STAMP): pyproject.toml hatch_build.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/simctl up

# Four test processes on two cores: the live tiers mostly wait on the sim clock. Each file
# stays on one process (its module fixtures are built once); the slow files start first.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile

# The fast tier: unit, codec, validate and CLI tests; no broker, no live fleet (under 2 minutes).
FAST_TIERS := tests/unit tests/codec tests/validate tests/cli tests/packs tests/scenarios
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q --durations=10 -n 2 -m "not integration and not slow and not docker" $(FAST_TIERS)

# The whole suite as a busy CI machine runs it: a busy process per core beside it, and every
# live deadline stretched 3x (tests/live.py: SIMFLEET_TEST_SLOWDOWN).
test-loaded: $(STAMP)
	SIMFLEET_TEST_SLOWDOWN=3 $(BIN)/python tests/load.py -- $(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/bench.py

lint: $(STAMP)
	$(BIN)/ruff check simfleet tests bench examples hatch_build.py
	$(BIN)/ruff format --check simfleet tests bench examples hatch_build.py
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format simfleet tests bench examples hatch_build.py
	$(BIN)/ruff check --fix simfleet tests bench examples hatch_build.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
