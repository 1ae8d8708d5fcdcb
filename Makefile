# Junction's porcelain. `make run` runs the platform; `make test` runs every test tier.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
# uv from PATH, else installed on first use with pip (as `python3 -m uv`).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: help setup run test test-unit test-integration test-e2e lint format clean bench images \
	push cluster up down chart-check chaos screenshots bench-live bench-reads bench-sweep

REGISTRY ?= localhost:5005

REPLICAS ?= 1
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## install uv (if missing) and the locked dependencies, nats-server included
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check --user \
			--break-system-packages uv \
		|| { echo "could not install uv: see https://docs.astral.sh/uv/getting-started/installation/"; exit 1; }
	@$(UV) sync --locked --quiet

run: setup ## run the whole platform locally (foreground; Ctrl-C stops it); REPLICAS=2: two processes per service
	@$(UV) run --locked --quiet junction-run --replicas $(REPLICAS)

test: setup lint ## lint, type-check and run every test tier
	@$(UV) run --locked --quiet pytest

test-unit: setup ## unit tests only (fakes, no processes)
	@$(UV) run --locked --quiet pytest -m unit

test-integration: setup ## integration tests (real nats-server, real HTTP)
	@$(UV) run --locked --quiet pytest -m integration

test-e2e: setup ## the e2e suite (starts the platform unless JUNCTION_STOREFRONT_URL is set)
	@$(UV) run --locked --quiet pytest tests/e2e

lint: setup ## ruff and mypy --strict
	@$(UV) run --locked --quiet ruff check .
	@$(UV) run --locked --quiet ruff format --check .
	@$(UV) run --locked --quiet mypy

format: setup ## apply ruff's fixes and formatting
	@$(UV) run --locked --quiet ruff check --fix .
	@$(UV) run --locked --quiet ruff format .

clean: ## remove local state (.run/: NATS data, mail, logs)
	rm -rf .run

cluster: ## create the kind cluster and its local registry (ctlptl), and the namespace
	ctlptl apply -f k8s/kind.yaml
	kubectl apply -f k8s/namespace.yaml

up: ## deploy to kind with live update (tilt up); Ctrl-C leaves it running
	tilt up

down: ## remove what Tilt deployed (the cluster stays; `ctlptl delete -f k8s/kind.yaml` removes it)
	tilt down

chart-check: setup ## helm lint, render both profiles, validate schemas and policies
	@$(UV) run --locked --quiet pytest -q tests/packaging

images: setup ## build every image (Debian's Docker, a debootstrapped base; needs root)
	@$(UV) run --locked --quiet python -m junction_devtools.images build storefront orders inventory payments notifications e2e

push: setup ## push the built images to $(REGISTRY) (default localhost:5005, the kind registry)
	@$(UV) run --locked --quiet python -m junction_devtools.images push --registry $(REGISTRY) storefront orders inventory payments notifications e2e

chaos: setup ## the full chaos runs: 1000 checkouts under faults (1 and 3 NATS nodes, then 2 replicas of every service), then the crash faults
	@$(UV) run --locked --quiet python -m tests.chaos.run --checkouts 1000 --rate 20
	@$(UV) run --locked --quiet python -m tests.chaos.run --checkouts 1000 --rate 20 --nats-nodes 1 --replicas 2
	@$(UV) run --locked --quiet python -m tests.chaos.crash --checkouts 300 --rate 15

bench: setup ## benchmarks against raw baselines (writes bench/results/)
	@$(UV) run --locked --quiet python -m bench.run

bench-live: setup ## the checkout with live order pages open and without (bench/results/live-pages-*)
	@$(UV) run --locked --quiet python -m bench.live_pages

bench-reads: setup ## replicated key-value reads: through the leader against direct gets (bench/results/kv-reads-*)
	@$(UV) run --locked --quiet python -m bench.kv_reads

bench-sweep: setup ## the outbox relay's start-up sweep of a large bucket: a read per key against one streamed pass (bench/results/sweep-*)
	@$(UV) run --locked --quiet python -m bench.sweep

screenshots: setup ## the storefront page in Chromium, saved to docs/images/ (for the README)
	@$(UV) run --locked --quiet python -m junction_devtools.screenshots
