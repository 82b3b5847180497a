#!/bin/sh
# Installs the Debian packages snapshotd needs (and any named as arguments) that the machine
# lacks, and the PyPI tool the spec check uses. Idempotent: installs nothing when all is there.
#   scripts/install-deps.sh            what build and `make test` need
#   scripts/install-deps.sh DEB...     those, plus more (Benchmarks/install-deps.sh)
set -eu

debs="golang-go golang-github-hashicorp-serf-dev libcurl4-openssl-dev libsimdjson-dev prometheus $*"
missing=""
for p in $debs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing$missing"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root (or sudo) for apt-get:$missing" >&2; exit 1; }
        SUDO=sudo
    else
        SUDO=
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if ! command -v openapi-spec-validator >/dev/null 2>&1; then
    echo "install-deps: installing openapi-spec-validator (PyPI)"
    python3 -m pip install -q openapi-spec-validator
fi
