# Earmark: `make run` starts the application, `make test` runs the whole suite.
# Both set up everything they need on a fresh machine (Python 3.11, Node 20 and apt).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.13.0
NPM := npm --prefix frontend

.PHONY: run test install install-dev frontend system-deps browser-deps lint typecheck pytest frontend-test \
        migrate demo serve bench clean

run: install frontend system-deps migrate demo serve

test: install-dev frontend system-deps browser-deps lint typecheck frontend-test pytest

$(VENV)/.created:
	@command -v $(PYTHON) >/dev/null || { echo "Earmark needs $(PYTHON) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: here it resolves to the machine's CPU wheel, not GBs of CUDA packages.
	$(PIP) install --quiet torch==$(TORCH_VERSION)
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	$(NPM) ci --no-audit --no-fund

frontend/dist/.vite/manifest.json: frontend/node_modules/.package-lock.json $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.ts
	$(NPM) run build

frontend: frontend/dist/.vite/manifest.json

# ffmpeg decodes MP3 and M4A. Installed when we may (root with apt); otherwise the app runs
# and says clearly that those formats need it.
system-deps:
	@if ! command -v ffmpeg >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; \
	  else \
	    echo "note: ffmpeg is missing; MP3/M4A uploads will be refused until you install it" >&2; \
	  fi; \
	fi

# Browser tests drive Debian's Chromium through Playwright (no browser download: none works here).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "note: /usr/bin/chromium is missing; browser tests will be skipped (failed in CI)" >&2; \
	  fi; \
	fi

migrate: install
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py collectstatic --noinput -v 0

demo: migrate
	$(PY) manage.py seed_demo

serve:
	$(PY) manage.py serve

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install-dev
	$(VENV)/bin/mypy

frontend-test: frontend
	$(NPM) run lint
	$(NPM) run typecheck
	$(NPM) test

pytest: install-dev
	$(PY) -m pytest

bench: install-dev
	@echo "see docs/benchmarks.md for the benchmark commands"

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
