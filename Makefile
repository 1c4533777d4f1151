# gobg: the two commands of the README (`make run`, `make test`) do all set-up
# themselves, so a fresh machine needs nothing else.
SHELL := /bin/bash
PY    := $(or $(GOBG_VENV),.venv)/bin/python
GO    ?= go

.PHONY: setup build run test test-short bench fuzz vet clean

setup:
	bash scripts/setup.sh

build:
	mkdir -p bin && $(GO) build -o bin/gobg ./gobg

# The main job on the embedded default system (alanine dipeptide).
run: setup
	bin/gobg run --out out/default

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# Everything CI runs: vet, the Go tests (long checks included, fuzz seeds
# included), and the Python tests.
# Every skipped test is listed with its reason; under CI=true a skip fails.
test: setup vet
	set -o pipefail; $(GO) test -count=1 -timeout 60m -json ./... | \
	  $(GO) run ./scripts/testsummary $$([ "$${CI:-}" = true ] && echo -no-skips)
	bash scripts/pytest.sh

test-short: build
	$(GO) test -short ./...

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin out
