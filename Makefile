# snapshotd: two commands on a fresh machine: `make run` and `make test`.
SWIFT     ?= swift
LISTEN    ?= 127.0.0.1:8080
SNAPSHOT  ?= ./data/snapshot
GOSNAP    := Tests/Interop/bin/gosnap
CONTRACT_LOG := .build/contract-responses.jsonl

.PHONY: all build release run test deps interop spec clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Serve on the embedded default: 127.0.0.1:8080, snapshot at ./data/snapshot.
run: release
	$(SWIFT) run -c release snapshotd serve --listen $(LISTEN) --snapshot $(SNAPSHOT)

## Every test: unit, Go serf interop, integration (the real binary over libcurl), the spec.
test: deps interop spec
	$(SWIFT) build --build-tests
	rm -f $(CONTRACT_LOG)
	SNAPSHOTD_CONTRACT_LOG=$(CURDIR)/$(CONTRACT_LOG) $(SWIFT) test
	python3 Tests/Contract/check_responses.py openapi.yaml $(CONTRACT_LOG)

interop: deps
	sh Tests/Interop/build-gosnap.sh $(GOSNAP)

spec: deps
	openapi-spec-validator openapi.yaml

clean:
	rm -rf .build Tests/Interop/bin
