# mailferry: the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
SERVICES := project discovery mapping billing transfer telemetry exporter mailferry connector-agent
PKGS := ./events/... ./libs/... $(patsubst %,./services/%/...,$(SERVICES))
BIN := bin/mailferry
# Downloads are cached outside the repository so a fresh clone re-uses them.
export MAILFERRY_CACHE ?= $(HOME)/.cache/mailferry
export GOFLAGS ?= -buildvcs=false
TEST_TIMEOUT ?= 40m
# chDB, the embedded analytics engine: libchdb.so from the npm package
# @chdb/lib-linux-x64-gnu, kept outside the repository. libs/analytics/chdbenv
# pins the same version and finds this copy; tests and binaries load it
# through CHDB_LIB_PATH.
CHDB_VERSION := 26.5.3
CHDB_DIR := $(MAILFERRY_CACHE)/chdb/$(CHDB_VERSION)
export CHDB_LIB_PATH ?= $(CHDB_DIR)/libchdb.so

.PHONY: screenshots run build test deps chdb fmt-check vet catalog bench clean agent-windows agent-linux

## run: build and start every service in one process with embedded NATS and demo sandbox tenants
run: chdb build
	MAILFERRY_DATA_DIR=$${MAILFERRY_DATA_DIR:-.data} $(BIN) up

## build: build the mailferry binary into bin/
build:
	$(GO) build -o $(BIN) ./services/mailferry

## deps: fetch Go modules (cached in the Go module cache, outside the repo) and libchdb
deps: chdb
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/dl/"; exit 1; }
	@mkdir -p $(MAILFERRY_CACHE)
	@command -v xmllint >/dev/null || { echo "installing libxml2-utils: xmllint validates the EWS sandbox's traffic against Microsoft's schemas"; \
	  (apt-get update -q >/dev/null && apt-get install -y -q libxml2-utils >/dev/null) || echo "could not install libxml2-utils: EWS schema checks will say they were skipped"; }
	@command -v chromium >/dev/null || { echo "installing chromium: the web console's browser tests drive it headless"; \
	  (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null) || echo "could not install chromium: the console's browser tests will say they were skipped"; }
	@for m in $$($(GO) list -m -f '{{.Dir}}'); do (cd $$m && $(GO) mod download) || exit 1; done

## chdb: install libchdb.so of chDB $(CHDB_VERSION) into $(CHDB_DIR) (once; npm fetches it)
chdb:
	@if [ ! -s "$(CHDB_DIR)/libchdb.so" ]; then \
	  command -v npm >/dev/null || { echo "npm is required to fetch chDB (apt-get install npm)"; exit 1; }; \
	  echo "installing libchdb $(CHDB_VERSION) into $(CHDB_DIR)"; \
	  tmp=$$(mktemp -d) && mkdir -p "$(CHDB_DIR)" && \
	  (cd $$tmp && npm pack --silent @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) >/dev/null && \
	   tar xzf chdb-lib-linux-x64-gnu-$(CHDB_VERSION).tgz package/libchdb.so) && \
	  mv $$tmp/package/libchdb.so "$(CHDB_DIR)/libchdb.so.part" && \
	  mv "$(CHDB_DIR)/libchdb.so.part" "$(CHDB_DIR)/libchdb.so"; \
	  rc=$$?; rm -rf $$tmp; exit $$rc; \
	fi

## test: install what is needed and run every test with the race detector
test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

fmt-check:
	@out=$$(gofmt -l events libs services); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## agent-windows: the connector agent for Windows (amd64) in $(AGENT_OUT); signed with osslsigncode when MAILFERRY_SIGN_CERT and MAILFERRY_SIGN_KEY (PEM) are set
AGENT_OUT ?= bin/connector-agent.exe
AGENT_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
AGENT_LDFLAGS := -s -w -X github.com/mailferry/mailferry/services/connector-agent.Version=$(AGENT_VERSION)
agent-windows:
	@mkdir -p $(dir $(AGENT_OUT))
	cd services/connector-agent && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(AGENT_LDFLAGS)" -o $(abspath $(AGENT_OUT)) ./cmd/connector-agent
	@if [ -n "$$MAILFERRY_SIGN_CERT" ] && [ -n "$$MAILFERRY_SIGN_KEY" ]; then \
	  command -v osslsigncode >/dev/null || { echo "osslsigncode is required to sign (apt-get install osslsigncode)"; exit 1; }; \
	  osslsigncode sign -certs "$$MAILFERRY_SIGN_CERT" -key "$$MAILFERRY_SIGN_KEY" -h sha256 \
	    -n "mailferry connector agent" -i https://github.com/mailferry/mailferry \
	    $${MAILFERRY_SIGN_TIMESTAMP_URL:+-ts $$MAILFERRY_SIGN_TIMESTAMP_URL} \
	    -in $(AGENT_OUT) -out $(AGENT_OUT).signed >/dev/null && mv $(AGENT_OUT).signed $(AGENT_OUT) && \
	  echo "$(AGENT_OUT): signed with $$MAILFERRY_SIGN_CERT"; \
	else \
	  echo "$(AGENT_OUT): unsigned (set MAILFERRY_SIGN_CERT and MAILFERRY_SIGN_KEY to sign it)"; \
	fi

## agent-linux: the connector agent for Linux (amd64) in bin/connector-agent
agent-linux:
	cd services/connector-agent && GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(AGENT_LDFLAGS)" -o $(abspath bin/connector-agent) ./cmd/connector-agent

## screenshots: run the console's browser tests writing their pictures to docs/screenshots (the README shows them)
screenshots: deps
	MAILFERRY_SCREENSHOTS=docs/screenshots $(GO) test -count=1 -run 'TestConsole' ./services/mailferry/internal/e2e/

## catalog: regenerate the event catalog docs/events.md
catalog:
	$(GO) run ./events/catalog/cmd/gencatalog docs/events.md

## bench: run the benchmarks and write bench/results.md
bench: chdb build
	$(GO) run ./services/mailferry/internal/benchrun -out bench/results.md

clean:
	rm -rf bin .data
