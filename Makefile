# mailferry: the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
SERVICES := project discovery mapping billing transfer telemetry mailferry
PKGS := ./events/... ./libs/... $(patsubst %,./services/%/...,$(SERVICES))
BIN := bin/mailferry
# Downloads are cached outside the repository so a fresh clone re-uses them.
export MAILFERRY_CACHE ?= $(HOME)/.cache/mailferry
export GOFLAGS ?= -buildvcs=false
TEST_TIMEOUT ?= 40m

.PHONY: run build test deps fmt-check vet catalog bench clean

## run: build and start every service in one process with embedded NATS and demo sandbox tenants
run: build
	MAILFERRY_DATA_DIR=$${MAILFERRY_DATA_DIR:-.data} $(BIN) up

## build: build the mailferry binary into bin/
build:
	$(GO) build -o $(BIN) ./services/mailferry

## deps: fetch Go modules (cached in the Go module cache, outside the repo)
deps:
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/dl/"; exit 1; }
	@mkdir -p $(MAILFERRY_CACHE)
	@for m in $$($(GO) list -m -f '{{.Dir}}'); do (cd $$m && $(GO) mod download) || exit 1; done

## test: install what is needed and run every test with the race detector
test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

fmt-check:
	@out=$$(gofmt -l events libs services); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## catalog: regenerate the event catalog docs/events.md
catalog:
	$(GO) run ./events/catalog/cmd/gencatalog docs/events.md

## bench: run the benchmarks and write bench/results.md
bench: build
	$(GO) run ./services/mailferry/internal/benchrun -out bench/results.md

clean:
	rm -rf bin .data
