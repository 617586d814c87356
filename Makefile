# The targets README and CI use. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A second venv with the core dependencies only (`.[dev]`, no `train` extra): what
# `pip install janitr` users have. The fast tier must pass there, skipping what needs torch.
CORE_VENV ?= .venv-core
DEMO   ?= runs/demo

.PHONY: setup demo test test-fast test-core lint format clean

setup: $(VENV)/.installed

# torch is installed first and pinned: the CPU build is on this machine, while an unpinned
# torch would pull several GB of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev]"
	touch $@

## The main job: the whole pipeline on the project's own demo data (JANITR_DATA=DIR for real data).
demo: setup
	$(BIN)/janitr run --out $(DEMO) $(if $(JANITR_DATA),--data $(JANITR_DATA),) --config configs/fast.toml

## Lint, every test (unit, integration, slow tiny-model chains), then the fast tier without
## the `train` extra.
test: setup lint
	$(BIN)/pytest -q
	$(MAKE) test-core

test-fast: setup
	$(BIN)/pytest -q -m "not slow and not integration"

## The fast tier in a venv with `.[dev]` only: tests needing the `train` extra are skipped.
test-core: $(CORE_VENV)/.installed
	$(CORE_VENV)/bin/pytest -q -m "not slow and not integration"

$(CORE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/pip install -q --upgrade pip
	$(CORE_VENV)/bin/pip install -q -e ".[dev]"
	touch $@

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) $(CORE_VENV) runs .pytest_cache .ruff_cache
