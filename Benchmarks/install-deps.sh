#!/bin/sh
# Installs what `make bench` needs and the machine lacks, from Debian: what the build and tests
# need (scripts/install-deps.sh) plus wrk and nginx (the HTTP peers; nginx's service is not
# started by us), a C compiler, curl, flock and procps. Idempotent.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
exec sh "$here/../scripts/install-deps.sh" wrk nginx gcc libc6-dev curl util-linux procps python3
