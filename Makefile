# Kubently — `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
OUT := _output
BIN := $(OUT)/bin
KUBENTLY_CACHE_DIR ?= $(HOME)/.cache/kubently
TOOLS := $(KUBENTLY_CACHE_DIR)/tools
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
BINARIES := kubently:./cli/cmd/kubently gateway:./services/gateway/cmd/gateway session:./services/session/cmd/session dispatcher:./services/dispatcher/cmd/dispatcher executor:./services/executor/cmd/executor
MODULE_DIRS = $(shell $(GO) list -m -f '{{.Dir}}')
PKGS = $(shell $(GO) list -m -f '{{.Path}}/...')
DEV_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary into _output/bin
	@mkdir -p $(BIN)
	@for b in $(BINARIES); do name=$${b%%:*}; pkg=$${b#*:}; \
		echo "go build $$name"; $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$$name $$pkg || exit 1; done

.PHONY: dev
dev: build ## Build and run `kubently dev` (all services + an executor for your kubeconfig)
	$(BIN)/kubently dev $(DEV_ARGS)

.PHONY: demo
demo: ## Build kubently, start a local Kubernetes with a broken demo app and run kubently dev on it
	@mkdir -p $(BIN)
	@echo "go build kubently (the first build takes a minute or two)"
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/kubently ./cli/cmd/kubently
	KUBENTLY_REPO=$(CURDIR) $(BIN)/kubently dev --local-cluster $(DEV_ARGS)

.PHONY: test
test: ## Set up and run all tests (redis-server, local Kubernetes testbed, go test -race)
	hack/test.sh

.PHONY: test-unit
test-unit: ## Run tests that need no Kubernetes testbed (short mode)
	$(GO) test -race -count=1 -short $(PKGS)

.PHONY: bench
bench: ## Run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: bench-e2e
bench-e2e: ## Run the end-to-end load harness (separate processes, both stores, testbed apiserver); prints docs/performance.md's table
	KUBENTLY_BENCH=full $(GO) test -count=1 -timeout 60m -run '^TestE2E$$' -v ./tests/bench

.PHONY: fuzz
fuzz: ## Fuzz the command policy and the redactor (FUZZ_EXECS executions per target; CI runs this)
	hack/fuzz.sh

.PHONY: vet
vet: ## go vet every module
	$(GO) vet $(PKGS)

.PHONY: fmt
fmt: ## gofmt -w every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: tidy
tidy: ## go mod tidy in every module
	@for d in $(MODULE_DIRS); do (cd $$d && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy) || exit 1; done

.PHONY: verify
verify: ## gofmt, go vet and go.mod tidiness (CI runs this)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@for d in $(MODULE_DIRS); do (cd $$d && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy -diff) || { echo "go.mod/go.sum not tidy in $$d (run make tidy)"; exit 1; }; done

$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) GOWORK=off $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/golangci-lint $(GOLANGCI_LINT)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (pinned, installed once per machine into ~/.cache/kubently/tools)
	@for d in $(MODULE_DIRS); do echo "lint $$d"; (cd $$d && $(GOLANGCI_LINT) run --allow-serial-runners --config $(CURDIR)/.golangci.yaml ./...) || exit 1; done

.PHONY: testbed-up
testbed-up: ## Build and start the local Kubernetes testbed
	hack/testbed/testbed.sh build && hack/testbed/testbed.sh up && hack/testbed/testbed.sh seed

.PHONY: testbed-down
testbed-down: ## Stop the local Kubernetes testbed
	hack/testbed/testbed.sh down

.PHONY: clean
clean: ## Remove build output
	rm -rf $(OUT)
