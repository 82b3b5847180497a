#!/bin/sh
# Installs what `make bench` needs and the machine lacks, from Debian: what the build and tests
# need (scripts/install-deps.sh) plus wrk and nginx (the HTTP peers; nginx's service is not
# started by us), etcd-server (etcd 3.4) and redis-server/redis-tools (Redis 7, redis-benchmark):
# the multi section's peers, which the bench starts itself on its own ports and temp dirs (their
# Debian services are not used), a C compiler, curl, flock and procps. Idempotent.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
exec sh "$here/../scripts/install-deps.sh" wrk nginx etcd-server redis-server redis-tools gcc libc6-dev curl util-linux procps python3
