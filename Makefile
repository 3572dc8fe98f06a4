# payd — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/payd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
export PAYD_CACHE ?= $(CURDIR)/.cache
# Test timeout for the whole suite (real nodes, browser, crash tests).
TEST_TIMEOUT ?= 25m
FUZZTIME ?= 3s

.PHONY: help build test tools vet lint bench demo fuzz soak clean

#? help: list the targets
help:
	@grep -E '^#\? ' $(MAKEFILE_LIST) | sed -e 's/^#? /  /'

#? build: build bin/payd
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/payd

#? tools: install the pinned local nodes and browser the tests need (btcd, anvil, geth, lnd, bolt11 decoder, bitcoinjs-lib, chromium) into .cache/, and the PostgreSQL server packages (apt) when missing
tools:
	bash scripts/install-tools.sh

#? vet: go vet every package
vet:
	$(GO) vet ./...

#? test: vet, then every test with -race, including integration tests on real nodes and a browser, then the end-to-end tests (test/e2e) again on PostgreSQL, and short fuzz runs
# Then the end-to-end suite again with every payd on its own PostgreSQL
# database (internal/testnode: PAYD_TEST_DATABASE), without -race (the first
# pass has it) to stay well within CI's 30 minutes, in two go test at once:
# E2E_WAITING, the tests that mostly wait (invoice expiry, lnd), next to all
# the others. TestPostgres* set their PostgreSQL database themselves, so the
# first pass ran them as they are.
E2E_WAITING := ^(TestEngine|TestGreenfieldOnRealNodes|TestLightning)$$
test: tools vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@echo "test/e2e on PostgreSQL, in two halves at once (TestPostgres* left out: the first pass ran them on PostgreSQL)"
	PAYD_TEST_DATABASE=postgres $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '$(E2E_WAITING)' ./test/e2e/ & w=$$!; \
	PAYD_TEST_DATABASE=postgres $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -skip '^TestPostgres|$(E2E_WAITING)' ./test/e2e/; rc=$$?; \
	wait $$w && exit $$rc
	bash scripts/fuzz.sh $(FUZZTIME)

#? lint: gofmt, vet and staticcheck
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...

#? bench: run the benchmarks against raw baselines and write docs/benchmarks.md and bench/results.json
bench: tools
	$(GO) run ./bench

#? demo: start local nodes and payd, create and pay a BTC and a USDC invoice (and a Lightning one between two local lnd nodes when lnd is installed), show the webhooks and checkout URLs (Ctrl-C stops it all)
demo: build
	bash scripts/install-tools.sh btcd anvil
	$(GO) build -o bin/payd-demo ./cmd/demo
	bin/payd-demo

#? fuzz: run every fuzz target for longer (FUZZTIME=2m by default here)
fuzz:
	bash scripts/fuzz.sh $${FUZZTIME:-2m}

#? soak: bounded soak test (loopback only)
soak: tools
	PAYD_SOAK=1 $(GO) test -race -count=1 -timeout 30m -run Soak ./test/...

#? clean: remove build output and local data (keeps the tool cache; `rm -rf .cache` for that)
clean:
	rm -rf bin data
