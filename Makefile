# The front door. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES := platform testkit vote worker result analyzer loadgen secrets-init e2e deploytest audit bench deploy/release/sbomscan
# Build tags of the tests that need Docker; vet covers those files too.
DOCKER_TAGS := e2e,swarm,chaos
PKGS    := $(addsuffix /...,$(addprefix ./,$(MODULES)))
GO      ?= go

# On an engine without registry access (no route to Docker Hub: the case on CI here) the images
# build on the local stand-ins made by deploy/offline/bases.sh, named in deploy/compose/offline.env.
# With a registry the same Dockerfiles and compose file use the upstream images. Override with
# OFFLINE=0 or OFFLINE=1.
OFFLINE     ?= $(shell getent hosts registry-1.docker.io >/dev/null 2>&1 && echo 0 || echo 1)
COMPOSE_ENV ?= $(if $(filter 1,$(OFFLINE)),deploy/compose/offline.env)
COMPOSE     := docker compose $(if $(COMPOSE_ENV),--env-file $(COMPOSE_ENV))
# Stamped into the binaries and OCI labels. CREATED is the commit time, so rebuilding the same
# commit labels the images the same.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
CREATED  ?= $(shell git log -1 --format=%cI 2>/dev/null || echo 1970-01-01T00:00:00Z)
export VERSION REVISION CREATED

##@ Run
.PHONY: demo
demo: up ## Build and start the whole app: vote http://127.0.0.1:8080, result :8081, analyzer :8082
	@echo
	@echo "vote      http://127.0.0.1:8080"
	@echo "result    http://127.0.0.1:8081"
	@echo "analyzer  http://127.0.0.1:8082/api/v1/summary"
	@echo "more votes: make seed    stop: make down"

.PHONY: up
up: images ## Start the stack (without rebuilding what is built; secrets-init makes the secrets on the first start)
	$(COMPOSE) up --detach --wait --no-build

.PHONY: seed
seed: ## Cast a burst of votes from many voters through the vote service
	$(COMPOSE) --profile seed run --rm seed

.PHONY: down
down: ## Stop the stack and delete its volumes (votes included)
	$(COMPOSE) --profile seed --profile monitoring down --volumes --remove-orphans

.PHONY: logs
logs: ## Follow the stack's logs
	$(COMPOSE) logs --follow

##@ Test
.PHONY: test
test: vet ## Run every unit and integration test (starts private PostgreSQL and Redis servers)
	$(GO) test -race -count=1 $(PKGS)

.PHONY: e2e
e2e: images ## Compose-level end-to-end test (own project name and ports; removed afterwards)
	E2E_ENV_FILE=$(COMPOSE_ENV) $(GO) test -tags e2e -count=1 -v -timeout 15m -run TestCompose ./e2e/...

.PHONY: e2e-clone
e2e-clone: $(if $(filter 1,$(OFFLINE)),bases) ## Fresh clone of HEAD, bare `docker compose up` (no make, no script), a vote counted, restart, racing secrets-init, down -v, nothing left
	E2E_ENV_FILE=$(COMPOSE_ENV) $(GO) test -tags e2e -count=1 -v -timeout 30m -run '^TestBareClone$$' ./e2e/...

.PHONY: e2e-monitoring
e2e-monitoring: images ## The stack with the monitoring profile: every target up, Prometheus kept from the stores, the dashboard in a browser (docs/dashboard.png)
	E2E_ENV_FILE=$(COMPOSE_ENV) E2E_PROJECT=$${E2E_PROJECT:-voting-app-e2e-monitoring} $(GO) test -tags e2e -count=1 -v -timeout 15m -run '^TestMonitoring$$' ./e2e/...

.PHONY: chaos
chaos: images ## Fault-injection test: the stack under load while worker, Postgres, Redis and vote fail (report: out/chaos-report.md)
	E2E_ENV_FILE=$(COMPOSE_ENV) $(GO) test -tags e2e,chaos -count=1 -v -timeout 20m -run '^TestChaos$$' ./e2e/

.PHONY: fuzz
fuzz: ## Every fuzz target for FUZZTIME each (default 30s); failing inputs land in <pkg>/testdata/fuzz/
	scripts/fuzz.sh

.PHONY: swarm-test
swarm-test: images ## Swarm test: one-node swarm on this engine, the stack deployed and voted through, then removed
	SWARM_ENV_FILE=$(COMPOSE_ENV) $(GO) test -tags swarm -count=1 -v -timeout 8m -run Swarm ./deploytest/...

# The Kubernetes programs of make k8s-test, built from source once per version into a cache that
# outlives the clone (scripts/kube-bins.sh).
KUBE_VERSION    ?= v1.37.2
ETCD_VERSION    ?= v3.7.3
COREDNS_VERSION ?= v1.14.7
KUBE_BINS       := kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy pause coredns
KUBE_BIN_DIR    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/voting-app/kube-$(KUBE_VERSION)

.PHONY: k8s-test
k8s-test: images ## Kubernetes manifests on a real API server, then on a one-node cluster (built once; as root)
	KUBE_VERSION=$(KUBE_VERSION) ETCD_VERSION=$(ETCD_VERSION) COREDNS_VERSION=$(COREDNS_VERSION) \
	  KUBE_BINS="$(KUBE_BINS)" scripts/kube-bins.sh $(KUBE_BIN_DIR)
	KUBE_BIN_DIR=$(KUBE_BIN_DIR) $(GO) test -tags k8s -count=1 -v -timeout 20m -run '^(TestAPIServer|TestNode)$$' ./deploytest/

.PHONY: vet
vet: ## gofmt check and go vet over the workspace
	@unformatted=$$(gofmt -l $(MODULES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags $(DOCKER_TAGS) ./e2e/... ./deploytest/...
	$(GO) vet -tags k8s ./deploytest/...

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $(MODULES)

##@ Images
.PHONY: bases
bases: ## Stand-in base images and CLI plugins for an engine without registry access (as root)
	deploy/offline/bases.sh

.PHONY: images
images: $(if $(filter 1,$(OFFLINE)),bases) ## Build the images of vote, worker, result, analyzer and loadgen
	$(COMPOSE) --profile seed build

.PHONY: secrets
secrets: ## Random password files in deploy/compose/secrets/ (made once, then kept), for deploy/compose/own-secrets.yml and Swarm
	deploy/compose/secrets.sh

##@ Release (a local registry and a current BuildKit; deploy/release/README.md)
RELEASE_OUT := out/release
# After make release, compose and the audit see every image by digest from the local registry.
RELEASE_ENV := $(if $(wildcard $(RELEASE_OUT)/images.env),$(RELEASE_OUT)/bases.env $(RELEASE_OUT)/images.env)

.PHONY: release-up
release-up: $(if $(filter 1,$(OFFLINE)),bases) ## Local registry (127.0.0.1:$${REGISTRY_PORT:-5125}) and BuildKit builder; the bases pushed and pinned
	deploy/release/up.sh

.PHONY: release
release: release-up ## Build, push, attest (SBOM, provenance) and sign every service image for linux/amd64 and linux/arm64
	deploy/release/build.sh

.PHONY: release-deploy
release-deploy: ## Verify the release's signatures, then start it with compose (images by digest)
	deploy/release/deploy.sh

.PHONY: release-repro
release-repro: ## Build the release again on a second builder with empty caches and compare every digest
	deploy/release/repro.sh

.PHONY: release-emulate
release-emulate: ## Run the released arm64 binaries under qemu-user-static: version and a real request
	$(AUDIT) emulate

.PHONY: release-down
release-down: ## Remove the registry and buildkitd containers and the builder (their volumes stay; --volumes: deploy/release/down.sh)
	deploy/release/down.sh

##@ Performance
.PHONY: bench
bench: images ## Measure the app on this machine -> docs/bench.md, docs/bench-*.svg (about 8 minutes)
	GOWORK=off $(GO) build -C bench -o ../bin/bench . && bin/bench $(if $(COMPOSE_ENV),-compose-env $(COMPOSE_ENV)) $(BENCH_FLAGS)

##@ Audit
AUDIT      := GOWORK=off $(GO) build -C audit -o ../bin/audit . && bin/audit
AUDIT_ARGS := $(if $(COMPOSE_ENV),-env-file $(COMPOSE_ENV))

.PHONY: audit
audit: ## Hardening rules on the Dockerfiles, images and compose services, and the release in the registry (run make release first)
	$(AUDIT) check $(AUDIT_ARGS) $(foreach f,$(RELEASE_ENV),-env-file $(f)) -release $(RELEASE_OUT) $(if $(filter 0,$(OFFLINE)),-pull)

.PHONY: standin-check
standin-check: ## Compare the distroless-static stand-in, file by file, with what the upstream image is built from
	$(AUDIT) standin

.PHONY: audit-selftest
audit-selftest: ## Build a deliberately bad image, and tamper with a released one: the audit must reject both
	$(AUDIT) selftest $(AUDIT_ARGS) -release $(RELEASE_OUT)

.PHONY: sizes
sizes: ## Image, layer and binary sizes of the service images -> docs/sizes.md, docs/sizes.svg
	$(AUDIT) sizes $(AUDIT_ARGS)

.PHONY: size-ladder
size-ladder: ## The vote image as naive, Debian, distroless and scratch, measured and audited -> docs/size-ladder.*
	$(AUDIT) ladder $(AUDIT_ARGS) $(if $(COMPOSE_ENV),-env-file deploy/size-ladder/offline.env)

##@ Help
.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_-]+:.*##/ {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
