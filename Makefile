# Ollama observability stack. `make` (or `make help`) lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Node >= 22.19 first on PATH (fetched into a cache when the system node is older); see scripts/use-node.sh.
export PATH := $(shell bash -c 'source scripts/use-node.sh >&2 && echo "$$PATH"')

VITEST_REPORT := .cache/vitest-report.json

# Each concern keeps its targets in mk/<concern>.mk.
-include mk/*.mk

.PHONY: help
help: ## list the targets
	@echo "Start here: make up (the stack), make test (no Docker needed), make traffic (load for the dashboards)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST) | sort

node_modules/.package-lock.json: package-lock.json
	@echo "==> npm ci"
	npm ci --no-audit --no-fund

.PHONY: install
install: node_modules/.package-lock.json ## install the npm dependencies (npm ci)

.PHONY: build
build: install ## compile the proxy to proxy/dist
	@echo "==> tsc (proxy build)"
	npm run --silent build

.PHONY: lint
lint: install ## eslint, prettier --check and tsc --noEmit over src and tests
	@echo "==> eslint + prettier"
	npm run --silent lint
	@echo "==> tsc --noEmit"
	npm run --silent typecheck

.PHONY: test
test: lint build ## lint, typecheck, then every unit, integration and config test (no Docker needed)
	@echo "==> vitest"
	@mkdir -p .cache
	npx vitest run --reporter=default --reporter=json --outputFile.json=$(VITEST_REPORT)

# The date-bomb guard: the same suites with the whole process tree's clock a year ahead (libfaketime; Debian's
# faketime package). A fixed instant that meets "now" (Loki's window, limits, expiry) fails here the day it is
# written. redis-server and Go programs (Prometheus) keep the real clock, as separate machines would.
VITEST_FUTURE_REPORT := .cache/vitest-future-report.json
FUTURE_OFFSET ?= +400d

.PHONY: test-future
test-future: install ## the unit, config and integration tests with the clock a year ahead (needs faketime)
	@command -v faketime >/dev/null || { echo "error: faketime is missing (Debian: apt-get install faketime)" >&2; exit 1; }
	@echo "==> vitest under faketime $(FUTURE_OFFSET)"
	@mkdir -p .cache
	faketime -f "$(FUTURE_OFFSET)" npx vitest run --reporter=default --reporter=json \
		--outputFile.json=$(VITEST_FUTURE_REPORT)

.PHONY: check
check: test test-future ## what CI runs on every push (.ci/run adds test-stack)

.PHONY: start
start: install ## run the proxy in the foreground (OLLAMA_URL points at the real Ollama)
	npm start

.PHONY: emulator
emulator: install ## run the Ollama emulator on :11435 for demos
	npm run emulator
