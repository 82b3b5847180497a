#!/bin/sh
# Installs what `make bench` needs and the machine lacks, from Debian: Go and serf 0.9.4 (the
# Go peer), wrk, nginx (the HTTP peer; its service is not started by us), simdjson (to build
# snapshotd), a C compiler, curl and flock. Idempotent: installs nothing when all is there.
set -eu

debs="golang-go golang-github-hashicorp-serf-dev wrk nginx libsimdjson-dev gcc libc6-dev curl util-linux procps python3"
missing=""
for p in $debs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "bench install-deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "bench install-deps: need root (or sudo) for apt-get:$missing" >&2; exit 1; }
    SUDO=sudo
else
    SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
