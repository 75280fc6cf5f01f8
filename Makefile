# shipshape — every command developers and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
CHECKOV_VERSION := 3.3.30
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/pytest -p no:cacheprovider
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: help venv system-deps tools lint test test-unit test-integration test-e2e test-faults \
        test-deploy test-cluster cluster-tools chart-check terraform-check image smoke bench docs \
        run migrate clean

help: ## list targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q "uv==$(UV_VERSION)"

$(BIN)/shipshape: $(UV) pyproject.toml uv.lock
	@# Bytecode compiled once here: the suites start hundreds of processes, and where
	@# PYTHONDONTWRITEBYTECODE is set each would compile every import again (~5 s of CPU).
	$(UV) sync --frozen --compile-bytecode
	@touch $@

venv: $(BIN)/shipshape ## create .venv from the lock file (runtime + dev tools)

system-deps: ## Debian packages for tests (apt-get, only when root and missing)
	bash scripts/install-system-deps.sh

.tools/checkov/bin/checkov:
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install -q "checkov==$(CHECKOV_VERSION)"

ACTIONLINT_VERSION := v1.7.12
.tools/bin/actionlint: | $(UV)
	GOBIN=$(abspath .tools/bin) GOFLAGS=-mod=mod go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

tools: $(UV) .tools/checkov/bin/checkov .tools/bin/actionlint ## pinned CLI tools kept apart from the app's venv

run: venv ## serve on http://127.0.0.1:8000 with the embedded SQLite database
	$(BIN)/shipshape migrate
	SHIPSHAPE_LOG_FORMAT=$${SHIPSHAPE_LOG_FORMAT:-text} $(BIN)/shipshape serve

migrate: venv ## apply migrations to DATABASE_URL
	$(BIN)/shipshape migrate

lint: venv ## ruff, format check, mypy --strict and the import layering (lint-imports)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test-unit: venv ## pure unit tests
	$(PYTEST) tests/unit

test-integration: venv system-deps ## API, migrations and concurrency on SQLite, PostgreSQL and MariaDB
	$(PYTEST) tests/integration

test-e2e: venv system-deps ## real processes, nginx, headless Chromium, Prometheus
	$(PYTEST) tests/e2e

test-faults: venv system-deps ## fault campaign on real processes (writes docs/reliability.md)
	$(PYTEST) tests/faults

test-deploy: venv tools system-deps ## chart, image, compose, terraform, workflows
	$(PYTEST) tests/deploy

cluster-tools: venv system-deps ## build kube-apiserver/controller-manager/scheduler, kwok and helm once per machine (versions in tests/support/kube.py)
	$(BIN)/python -c 'from tests.support.kube import build_tools; build_tools()'

test-cluster: cluster-tools ## deploy rehearsal: every environment installed, upgraded, rolled back on a real control plane
	$(PYTEST) -v tests/cluster

chart-check: venv tools system-deps ## Helm render matrix, lint, schemas, policies, contract test
	$(PYTEST) tests/deploy/test_chart*.py tests/deploy/test_alert_rules.py

terraform-check: venv tools ## terraform fmt/validate, HCL consistency, checkov
	$(PYTEST) tests/deploy/test_terraform*.py

image: ## build the container image with podman (offline base image)
	bash scripts/build-base-image.sh
	bash scripts/container-smoke.sh --build-only

smoke: ## build and run the image against a throwaway PostgreSQL
	bash scripts/container-smoke.sh

bench: venv system-deps ## load benchmarks; results in bench/results and docs/performance.md
	$(BIN)/python -m bench.run

docs: venv ## regenerate generated docs (chart README, Terraform module READMEs)
	$(BIN)/python scripts/gen_chart_readme.py
	$(BIN)/python scripts/gen_tf_docs.py

test: system-deps venv tools lint ## everything CI runs: lint, then every test suite
	$(PYTEST) tests

clean: ## remove local state
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache shipshape.db* test-artifacts
