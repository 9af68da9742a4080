# ragplane: one Makefile for people and CI. `make demo` and `make test` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RAGPLANE := $(VENV)/bin/ragplane
TOOLS := .tools
BUF := $(TOOLS)/node_modules/.bin/buf
BUF_VERSION := 1.75.0
PYTHON ?= python3
# llama.cpp's native build uses AMX kernels that crash on these CPUs; build for AVX2 instead.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

LOCAL_PACKAGES := libs/proto libs/runtime libs/client libs/cli $(wildcard services/*) $(wildcard operators/*)
STAMP := $(VENV)/.deps-stamp

-include mk/*.mk

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: ## Debian packages: redis-server (local stack), etcd (operator tests)
	@if ! command -v redis-server >/dev/null || ! command -v etcd >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server etcd-server >/dev/null; \
	fi
	@# the Debian package may start a system-wide Redis on 6379; the local stack runs its own
	@if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then systemctl stop redis-server || true; fi

$(STAMP): requirements.lock $(foreach p,$(LOCAL_PACKAGES),$(p)/pyproject.toml)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade 'pip>=24'
	@# llama.cpp first, built here from source with CMAKE_ARGS (never a cached wheel built with native flags)
	$(PIP) install -q --no-cache-dir --no-deps "$$(grep -i '^llama.cpp.python==' requirements.lock)"
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps $(foreach p,$(LOCAL_PACKAGES),-e $(p))
	@touch $@

.PHONY: venv
venv: $(STAMP) ## Python virtual environment with every package (pinned in requirements.lock)

$(BUF):
	@mkdir -p $(TOOLS)
	npm install --silent --no-save --no-audit --no-fund --prefix $(TOOLS) @bufbuild/buf@$(BUF_VERSION)

.PHONY: deps
deps: system-deps venv $(BUF) ## everything the tests and the demo need

.PHONY: proto
proto: venv ## regenerate libs/proto from protos/
	$(PY) scripts/gen_protos.py

.PHONY: lint
lint: $(BUF) venv ## buf lint, ruff (lint and format, ruff.toml), import boundaries, no import cycles
	$(BUF) lint protos
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_import_cycles.py

.PHONY: format
format: venv ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: test
test: deps chart-tools ## the whole test suite (unit, integration, e2e, chart, operator)
	$(MAKE) --no-print-directory lint
	PY=$(PY) scripts/run-tests.sh

.PHONY: up
up: deps ## start the local stack (broker, Redis, model server, services) on loopback
	$(RAGPLANE) up

.PHONY: down
down: ## stop the local stack
	@test -x $(RAGPLANE) && $(RAGPLANE) down || true

.PHONY: status
status:
	$(RAGPLANE) status

.PHONY: demo
demo: deps ## start the local stack, ingest examples/corpus, ask examples/questions.txt, leave the stack running
	@$(RAGPLANE) status >/dev/null 2>&1 || $(RAGPLANE) up
	$(RAGPLANE) ingest examples/corpus --wait --timeout 900
	@while IFS= read -r question; do \
	  [ -n "$$question" ] || continue; \
	  printf '\n\033[1m>>> %s\033[0m\n' "$$question"; \
	  $(RAGPLANE) ask "$$question" --stream || exit 1; \
	done < examples/questions.txt
	@printf '\nThe local stack is still running. Ask your own questions:\n'
	@printf '  %s ask "Why did the Black Death spread so quickly?" --stream\n' "$(RAGPLANE)"
	@printf '  %s ingest PATH... --wait      add your own documents (txt, md, html, pdf, docx)\n' "$(RAGPLANE)"
	@printf '  %s status | make down\n' "$(RAGPLANE)"

.PHONY: proto-breaking
proto-breaking: $(BUF) ## fail when protos/ breaks wire or JSON compatibility with main (run on a branch)
	$(BUF) breaking protos --against '.git#branch=main,subdir=protos'
