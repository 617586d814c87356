# The targets README and CI use. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A second venv with the core dependencies only (`.[dev]`, no `train` extra): what
# `pip install janitr` users have. The fast tier must pass there, skipping what needs torch.
CORE_VENV ?= .venv-core
DEMO   ?= runs/demo

LOCK   := requirements.lock
UV     := uv==0.13.9

.PHONY: setup lock demo test test-fast test-core lint format clean extension-deps extension-fixtures \
	test-extension test-extension-node test-extension-browser chromium extension

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

## Refresh requirements.lock from pyproject.toml's ranges (extras train, audit, ray and dev, plus pip and
## setuptools), for Python 3.11 on this kind of machine; then `make clean setup test`.
## It keeps the versions already locked; move on with LOCK_ARGS=--upgrade, or one package:
## make lock LOCK_ARGS="--upgrade-package onnxruntime==1.32.0"
lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install -q $(UV)
	printf 'pip\nsetuptools>=68\n' | $(VENV)-lock/bin/uv pip compile pyproject.toml - \
		--extra train --extra audit --extra ray --extra dev --generate-hashes --python-version 3.11 \
		--find-links /opt/wheels --emit-find-links --custom-compile-command "make lock" \
		$(LOCK_ARGS) -o $(LOCK)

## The main job: the whole pipeline on the project's own demo data (JANITR_DATA=DIR for real data).
demo: setup
	$(BIN)/janitr run --out $(DEMO) $(if $(JANITR_DATA),--data $(JANITR_DATA),) --config configs/fast.toml

## Lint, every test (unit, integration, slow tiny-model chains), the fast tier without the
## `train` extra, then the extension's.
test: setup lint
	$(BIN)/pytest -q
	$(MAKE) test-core
	$(MAKE) test-extension

test-fast: setup
	$(BIN)/pytest -q -m "not slow and not integration"

## The fast tier in a venv with `.[dev]` only: tests needing the `train` extra are skipped.
test-core: $(CORE_VENV)/.installed
	$(CORE_VENV)/bin/pytest -q -m "not slow and not integration"

# Pinned by the lock too: its versions (hashes dropped) as constraints on `.[dev]`.
$(CORE_VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(CORE_VENV)
	sed -e '/--hash=/d' -e 's/ *\\$$//' $(LOCK) > $(CORE_VENV)/constraints.txt
	$(CORE_VENV)/bin/python -m pip install -q -c $(CORE_VENV)/constraints.txt -e ".[dev]"
	touch $@

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) $(VENV)-lock $(CORE_VENV) runs .pytest_cache .ruff_cache

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

test-extension: test-extension-node test-extension-browser

# normalize.js, tokenize.js and classifier.js against the Python runtime (node --test).
test-extension-node: extension-fixtures
	cd extension && JANITR_WEB_FIXTURES=$(abspath $(WEB_FIXTURES)) npm run --silent test:node

# Debian's Chromium for the browser tests (never a browser download): installed when missing.
CHROMIUM ?= $(or $(shell command -v chromium 2>/dev/null),/usr/bin/chromium)

chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "error: no Chromium at $(CHROMIUM); apt-get install chromium, or set CHROMIUM=PATH" >&2; exit 1; }

# The extension in headless Chromium on a fixture x.com page (test/browser.test.mjs). Its
# decisions are checked against the Python runtime on the same posts (the fp32 demo student:
# the smoke model's scores sit close to its thresholds, and fp32 agrees to 1e-5).
test-extension-browser: extension-fixtures chromium
	$(BIN)/python extension/test/fixture_posts.py --model $(DEMO)/bundles/student-fp32 \
	  --data $(PROBE_DATA) --out $(WEB_FIXTURES)/posts-fp32.json
	cd extension && JANITR_WEB_MODEL=$(abspath $(WEB_FIXTURES))/fp32 \
	  JANITR_POSTS=$(abspath $(WEB_FIXTURES))/posts-fp32.json CHROMIUM=$(CHROMIUM) \
	  npm run --silent test:browser

## Build the unpacked extension into extension/dist/ from a run's int8 student
## (RUN=runs/NAME, default the demo run), for chrome://extensions -> Load unpacked.
## The web bundle goes to runs/web/NAME (the run's own folder is left as the run wrote it).
RUN ?= $(DEMO)
RUN_WEB = runs/web/$(notdir $(abspath $(RUN)))
extension: setup extension-deps
	$(BIN)/janitr export web --model $(RUN)/bundles/student-int8 --out $(RUN_WEB)
	cd extension && npm run --silent build -- --model $(abspath $(RUN_WEB))
