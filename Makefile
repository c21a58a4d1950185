# One task runner. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/node/node_modules/.package-lock.json

.PHONY: help system-deps deps run test lint check proto proto-check bench soak clean

help:
	@echo "make run    - install and serve the example calendar (gRPC :9090, HTTP :8080)"
	@echo "make test   - install everything and run lint + the whole test suite"
	@echo "make bench  - benchmarks against a no-op gRPC floor (writes bench/RESULTS.md)"
	@echo "make soak   - 10-minute bounded soak test"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --ignore-scripts --no-audit --no-fund

# System packages the tests drive: Chromium for the status page, Prometheus for history.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (status page test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || { \
	  echo "installing prometheus (history tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

deps: $(STAMP) $(NODE_STAMP) system-deps

run: $(STAMP)
	@echo "serving the example calendar: gRPC on :9090, status page on http://localhost:8080/"
	@echo "try: $(BIN)/calendar-scaler query --namespace shop --name storefront --meta labels=tier=frontend --meta baseReplicas=4 --meta capacityPerReplica=500"
	$(BIN)/calendar-scaler serve

proto: $(STAMP)
	$(BIN)/python scripts/gen_proto.py

proto-check: $(STAMP)
	$(BIN)/python scripts/gen_proto.py --check

lint: $(STAMP)
	$(BIN)/ruff check scaler tests scripts bench
	$(BIN)/ruff format --check scaler tests scripts bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: deps proto-check lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@{ command -v h2load && command -v valgrind; } >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client valgrind >/dev/null; }
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.instructions

soak: $(STAMP)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) tests/node/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
