# Two commands do everything on a fresh clone:
#   make run   set up, build, start the assistant (SQLite, in-memory lock)
#   make test  set up, build, run every check and test
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  := models/traveler.tar.gz
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false
# Import this checkout's code (also in a git worktree sharing the venv).
export PYTHONPATH := $(CURDIR)

# Rasa 3.6 needs Python 3.10. Use python3.10 from PATH when it runs, else a pyenv 3.10.
PYTHON310 ?= $(shell python3.10 -c 'import sys' >/dev/null 2>&1 && echo python3.10 || \
               ls -d $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 2>/dev/null | tail -n 1)

.PHONY: help setup index model run test lint typecheck validate bench clean

help:
	@echo "make run    start the assistant (sets up and builds what is missing)"
	@echo "make test   run every check and test (sets up and builds what is missing)"

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: install it (Rasa 3.6 needs 3.10)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON310) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip check
	@touch $@

setup: $(STAMP)

index: $(STAMP)
	$(BIN)/travelbot index

var/nlu/questions.yml: $(STAMP) $(wildcard knowledge/corpus/*/*.yml) travelbot/nlu_data.py
	$(BIN)/travelbot nlu-data --out $@

$(MODEL): $(STAMP) var/nlu/questions.yml config.yml bot/domain.yml $(wildcard bot/data/*.yml)
	$(BIN)/rasa train --config config.yml --domain bot/domain.yml --data bot/data var/nlu \
	  --out models --fixed-model-name traveler
	@touch $@

model: $(MODEL)

run: index $(MODEL)
	@$(BIN)/python -m travelbot.launch

validate: $(STAMP)
	$(BIN)/travelbot validate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

test: index $(MODEL) validate lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Regenerates bench/RESULTS.md (and its PNGs); niced: it runs for a while on a shared machine.
# The paced load run offers 60 messages/s: a run paced at the 50/s target can only measure just under 50.
bench: index $(MODEL)
	rm -rf var/bench/results
	nice -n 10 $(BIN)/python -m bench.compare
	nice -n 10 $(BIN)/python -m bench.compare bench/heldout.jsonl --name heldout
	nice -n 10 $(BIN)/python -m bench.clinc
	nice -n 10 $(BIN)/python -m bench.scale
	nice -n 10 $(BIN)/python -m bench.scale --kind random --sizes 10000,100000
	nice -n 10 $(BIN)/python -m bench.speed
	nice -n 10 $(BIN)/python -m bench.load
	nice -n 10 $(BIN)/python -m bench.load --rate 60 --messages 20 --name load-paced
	$(BIN)/python -m bench.report

clean:
	rm -rf var models .pytest_cache .mypy_cache .ruff_cache

# --- Browser tests (tests/test_webchat_browser.py): Debian's Chromium driven by Playwright, and
# axe-core from npm. Playwright never downloads a browser here: the tests launch /usr/bin/chromium.
CHROMIUM := /usr/bin/chromium
AXE      := tests/browser/node_modules/axe-core/axe.min.js
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: browser-deps

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

browser-deps: $(CHROMIUM) $(AXE)

test: browser-deps
