#!/bin/sh
# Builds and tests the Go client (clients/go/snapshotd) against Debian's serf 0.9.4 in GOPATH
# mode: no module downloads. The live-cluster test starts a real snapshotd: SNAPSHOTD (default
# .build/debug/snapshotd from the repository's root).
#   clients/go/test.sh                 vet + every test
#   clients/go/test.sh -run TestLive   go test's own flags pass through
#   clients/go/test.sh -bench . -run '^$' -benchtime 100000x    the throughput figure
# Needs: apt-get install -y golang-go golang-github-hashicorp-serf-dev (scripts/install-deps.sh).
# Environment: SNAPSHOTD_GOPATH overrides the GOPATH holding the serf source (/usr/share/gocode).
set -eu

die() { echo "clients/go/test.sh: error: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "'go' not found; install it with: apt-get install -y golang-go"
case $0 in */*) scriptdir=${0%/*} ;; *) scriptdir=. ;; esac
here=$(CDPATH= cd -- "$scriptdir" && pwd)
root=$(CDPATH= cd -- "$here/../.." && pwd)

gocode=${SNAPSHOTD_GOPATH:-/usr/share/gocode}
[ -f "$gocode/src/github.com/hashicorp/serf/serf/snapshot.go" ] ||
    die "serf source not found under $gocode; install it with: apt-get install -y golang-github-hashicorp-serf-dev"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/snapshotd-goclient.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
: "${GOCACHE:=${TMPDIR:-/tmp}/snapshotd-goclient-gocache-$(id -u)}"
mkdir -p "$GOCACHE"
# The temporary directory first: nothing is ever written under the Debian tree.
export GO111MODULE=off GOFLAGS= GOPATH="$tmp:$gocode" GOCACHE GOPROXY=off
: "${SNAPSHOTD:=$root/.build/debug/snapshotd}"
case $SNAPSHOTD in /*) ;; *) SNAPSHOTD="$root/$SNAPSHOTD" ;; esac
export SNAPSHOTD
[ -x "$SNAPSHOTD" ] || die "no snapshotd binary at $SNAPSHOTD (swift build, or set SNAPSHOTD)"

cd "$here/snapshotd"
go vet .
if [ $# -eq 0 ]; then
    set -- -count=1 -timeout 300s
fi
exec go test -v "$@" .
