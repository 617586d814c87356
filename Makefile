# The targets README and CI use. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= runs/demo

LOCK   := requirements.lock
UV     := uv==0.13.9

.PHONY: setup lock demo test test-fast lint format clean

setup: $(VENV)/.installed

# Installs exactly what requirements.lock pins, hash-checked (pip, setuptools and every
# runtime, train and dev dependency), then janitr itself without dependencies. torch is the
# CPU build from /opt/wheels (the lock names that folder): a torch from the index would
# pull several GB of CUDA wheels. fasttext comes as a source archive, built by pip.
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

## Refresh requirements.lock from pyproject.toml's ranges (extras train and dev, plus pip and
## setuptools), for Python 3.11 on this kind of machine; then `make clean setup test`.
## It keeps the versions already locked; move on with LOCK_ARGS=--upgrade, or one package:
## make lock LOCK_ARGS="--upgrade-package onnxruntime==1.32.0"
lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install -q $(UV)
	printf 'pip\nsetuptools>=68\n' | $(VENV)-lock/bin/uv pip compile pyproject.toml - \
		--extra train --extra dev --generate-hashes --python-version 3.11 \
		--find-links /opt/wheels --emit-find-links --custom-compile-command "make lock" \
		$(LOCK_ARGS) -o $(LOCK)

## The main job: the whole pipeline on the project's own demo data (JANITR_DATA=DIR for real data).
demo: setup
	$(BIN)/janitr run --out $(DEMO) $(if $(JANITR_DATA),--data $(JANITR_DATA),) --config configs/fast.toml

## Lint, then every test (unit, integration, slow tiny-model chains).
test: setup lint
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow and not integration"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) $(VENV)-lock runs .pytest_cache .ruff_cache
