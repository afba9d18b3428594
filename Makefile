# The front door. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES := platform vote worker result analyzer loadgen
PKGS    := $(addsuffix /...,$(addprefix ./,$(MODULES)))
GO      ?= go

##@ Develop
.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_-]+:.*##/ {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: vet ## Run every unit and integration test (starts private PostgreSQL and Redis servers)
	$(GO) test -race -count=1 $(PKGS)

.PHONY: vet
vet: ## gofmt check and go vet over the workspace
	@unformatted=$$(gofmt -l $(MODULES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $(MODULES)
