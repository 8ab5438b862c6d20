# curatekit: two commands do all the set-up on a fresh machine.
#   make test   set up .venv, check notebooks/package/README are in sync, run notebook tests, then pytest
#   make demo   set up .venv, then curate the built-in sample corpus
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := $(VENV)/.curatekit-installed
export CURATEKIT_PROGRESS ?= 0

.PHONY: setup sync readme nbtest pytest test demo export clean-nbs bench

$(STAMP): pyproject.toml tools/constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing torch==2.13.0 (CPU) first, then curatekit[dev] into $(VENV)"
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c tools/constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

# Regenerate what is generated; fail if that changed anything (CI runs on a clean checkout).
sync: setup
	$(PY) tools/check_sync.py

readme: setup
	$(PY) tools/nb2readme.py nbs/index.ipynb README.md

export: setup
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export && $(PY) tools/nb2readme.py nbs/index.ipynb README.md

nbtest: setup
	$(BIN)/nbdev-test --n-workers 2

pytest: setup
	$(BIN)/pytest -n 2 tests

test: sync nbtest pytest

demo: setup
	$(BIN)/curatekit demo
