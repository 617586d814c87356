# The targets README and CI use. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= runs/demo

.PHONY: setup demo test test-fast lint format clean extension-deps extension-fixtures \
	test-extension test-extension-node

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

## Lint, then every test (unit, integration, slow tiny-model chains), then the extension's.
test: setup lint
	$(BIN)/pytest -q
	$(MAKE) test-extension

test-fast: setup
	$(BIN)/pytest -q -m "not slow and not integration"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache

## The browser extension (extension/): npm packages, parity fixtures written by Python, tests.
# Probes come from the shared data when it is beside the repo (>= 2,000 texts), else from the
# demo run's data.
WEB_FIXTURES ?= runs/web-fixtures
PROBE_DATA   ?= $(or $(wildcard ../shared/data/janitr),$(DEMO)/data)

extension-deps: extension/node_modules/.installed

extension/node_modules/.installed: extension/package.json extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund
	touch $@

# The demo bundles exported to web, their probe files and the code point sweep (~1 min).
extension-fixtures: setup extension-deps
	test -f $(DEMO)/bundles/student-int8/bundle.json || $(MAKE) demo
	for p in int8 fp32; do \
	  $(BIN)/janitr export web --model $(DEMO)/bundles/student-$$p --out $(WEB_FIXTURES)/$$p && \
	  $(BIN)/janitr export probes --model $(DEMO)/bundles/student-$$p --data $(PROBE_DATA) \
	    --out $(WEB_FIXTURES)/probes-$$p.json || exit 1; \
	done
	$(BIN)/janitr export sweep --out $(WEB_FIXTURES)/sweep.json

test-extension: test-extension-node

# normalize.js, tokenize.js and classifier.js against the Python runtime (node --test).
test-extension-node: extension-fixtures
	cd extension && JANITR_WEB_FIXTURES=$(abspath $(WEB_FIXTURES)) npm run --silent test:node
