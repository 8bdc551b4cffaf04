# switchyard — every target installs what it needs first (scripts/setup.sh is idempotent and quick
# when nothing changed), so a fresh Debian 12 machine needs only `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup build demo demo-vms test test-unit lint layers typecheck fuzz bench bench-micro bench-controller clean

help:
	@echo "make demo     the Figure 8 scenario on two namespace hosts (root)"
	@echo "make test     lint, layering, type check, unit, integration and two-VM tests; unit again under Node 22 (root)"
	@echo "make bench    iperf3/ping through switchyard vs kernel VXLAN (root)"
	@echo "make bench-micro       VFP fast/slow path, compile, 10 vs 10k rules (no root)"
	@echo "make bench-controller  controller convergence: 2, 200 and 1000 agents (100,000 ports), no root"
	@echo "make demo-vms          Figure 8 across two qemu VMs (root)"
	@echo "make fuzz     the isolation property test with 10^6 frames (no root; FRAMES=, SEED=)"
	@echo "make build    native addon + TypeScript;  make clean"

setup:
	@bash scripts/setup.sh

build: setup

demo: setup
	@bash scripts/demo.sh

demo-vms: setup
	@bash scripts/demo-vms.sh

lint: setup
	@echo "== eslint"
	npx eslint src test bench scripts --max-warnings 0

layers: setup
	@echo "== dependency-cruiser (layering rules)"
	npx depcruise src bench --config .dependency-cruiser.cjs

typecheck: setup
	@echo "== tsc (type check of sources and tests)"
	npx tsc -p tsconfig.check.json

test-unit: setup
	npx vitest run test/unit

test: setup lint layers typecheck
	@bash scripts/run-tests.sh

# The isolation property test (issue 12) with a million frames instead of CI's 10^5.
# SWITCHYARD_FUZZ_SURVEY=1 make fuzz counts disagreements by class instead of stopping at the first.
FRAMES ?= 1000000
fuzz: setup
	SWITCHYARD_FUZZ_FRAMES=$(FRAMES) $(if $(SEED),SWITCHYARD_FUZZ_SEED=$(SEED)) npx vitest run test/unit/isolation-property.test.ts

bench: setup
	@bash scripts/bench.sh

bench-micro: setup
	node --expose-gc --import tsx bench/micro-vfp.ts

bench-controller: setup
	node --import tsx bench/controller-convergence.ts

clean:
	rm -rf dist native-bindings/build .cache
