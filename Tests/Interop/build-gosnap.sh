#!/bin/sh
# Build gosnap, a driver for the real Go serf Snapshotter (serf 0.9.4 from Debian).
# Usage: Tests/Interop/build-gosnap.sh OUTPUT_PATH
# Needs: apt-get install -y golang-go golang-github-hashicorp-serf-dev
# Environment: GOSNAP_GOPATH overrides the GOPATH holding the serf source
# (default /usr/share/gocode); GOCACHE defaults to a writable dir under TMPDIR.
set -eu

die() { echo "build-gosnap: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTPUT_PATH"
out=$1

command -v go >/dev/null 2>&1 ||
    die "'go' not found in PATH; install it with: apt-get install -y golang-go"

case $0 in */*) scriptdir=${0%/*} ;; *) scriptdir=. ;; esac
here=$(CDPATH= cd -- "$scriptdir" && pwd) || die "cannot find the script's directory"
src="$here/gosnap"
[ -f "$src/main.go" ] || die "missing $src/main.go"

gopath=${GOSNAP_GOPATH:-/usr/share/gocode}
serfdir="$gopath/src/github.com/hashicorp/serf/serf"
[ -f "$serfdir/snapshot.go" ] ||
    die "serf source not found at $serfdir; install it with: apt-get install -y golang-github-hashicorp-serf-dev (or set GOSNAP_GOPATH)"

case $out in /*) ;; *) out="$(pwd)/$out" ;; esac
mkdir -p "${out%/*}" || die "cannot create ${out%/*}"

: "${GOCACHE:=${TMPDIR:-/tmp}/gosnap-gocache-$(id -u)}"
export GOCACHE
mkdir -p "$GOCACHE" || die "cannot create GOCACHE $GOCACHE"

# GOPATH mode: the Debian serf package is not a module; GOFLAGS cleared so a user's
# -mod=... setting does not break a GOPATH build. The build is incremental (go's cache).
cd "$src"
if ! GO111MODULE=off GOPATH="$gopath" GOFLAGS= go build -o "$out" . ; then
    die "go build failed (GOPATH=$gopath, GOCACHE=$GOCACHE)"
fi
echo "build-gosnap: built $out" >&2
