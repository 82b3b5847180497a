#!/usr/bin/env bash
# Start-to-exit time of `snapshotd forward`, one run per event as a serf agent makes it, against
# a running snapshotd on loopback (fsync mode, its store in a temp dir); interleaved with the
# floor of the same binary (`snapshotd --version`: loading it and parsing a command line) and
# with curl posting the same event. perf stat -r RUNS for each, in rounds, best round kept. Each
# figure includes the sh that starts the command (about the same for all; `sh-true` is it).
#   Benchmarks/forward-startup.sh [SNAPSHOTD]   (default .build/release/snapshotd)
# Env: RUNS [100] per perf stat, ROUNDS [3].
set -euo pipefail
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
SNAPSHOTD=${1:-$ROOT/.build/release/snapshotd}
RUNS=${RUNS:-100} ROUNDS=${ROUNDS:-3}
[ -x "$SNAPSHOTD" ] || { echo "no $SNAPSHOTD (swift build -c release --product snapshotd)" >&2; exit 1; }
command -v perf >/dev/null 2>&1 || { echo "perf is missing (Debian linux-perf)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/forward-startup.XXXXXX")
PID=''
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
"$SNAPSHOTD" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" >"$TMP/serve.log" 2>&1 &
PID=$!
URL=
for _ in $(seq 100); do
    URL=$(grep -o 'listening on http://[0-9.:]*' "$TMP/serve.log" | head -n 1 | sed 's/^listening on //') || true
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { cat "$TMP/serve.log" >&2; exit 1; }
printf 'agent-1\t127.0.0.2\tweb\trole=web\nagent-2\t127.0.0.3\t\t\n' >"$TMP/join"
export SERF_SELF_NAME=bench SERF_USER_EVENT=deploy SERF_USER_LTIME=1
# ms COMMAND...: the mean elapsed ms and CPU ms of RUNS runs of COMMAND, each through `sh -c 'exec …'` with
# the member lines on its stdin (perf stat -r would hand every run after the first an empty one).
ms() {
    # shellcheck disable=SC2016
    sh -c 'exec "$@" <"$0"' "$TMP/join" "$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
    # shellcheck disable=SC2016 # $@ and $0 are the inner sh's
    perf stat -r "$RUNS" sh -c 'exec "$@" <"$0"' "$TMP/join" "$@" 2>"$TMP/perf" >/dev/null || { cat "$TMP/perf" >&2; exit 1; }
    awk '/task-clock/ { cpu = $1 } /seconds time elapsed/ { printf "%.2f %.2f", $1 * 1000, cpu }' "$TMP/perf"
}
declare -A best=()
names=(sh-true version forward-join forward-user curl-user)
for _ in $(seq "$ROUNDS"); do
    for name in "${names[@]}"; do
        case $name in
            sh-true) t=$(ms true) ;;
            version) t=$(ms "$SNAPSHOTD" --version) ;;
            forward-join) t=$(SERF_EVENT=member-join ms "$SNAPSHOTD" forward --url "$URL") ;;
            forward-user) t=$(SERF_EVENT=user ms "$SNAPSHOTD" forward --url "$URL") ;;
            curl-user) t=$(ms curl -sf -o /dev/null -H 'Content-Type: application/json' \
                --data-binary '{"type":"user","ltime":1,"name":"deploy"}' "$URL/v1/snapshots/bench/events") ;;
        esac
        if [ -z "${best[$name]:-}" ] || awk -v a="${t% *}" -v b="${best[$name]% *}" 'BEGIN { exit !(a < b) }'; then best[$name]=$t; fi
    done
done
echo "start-to-exit (elapsed) and CPU time, mean of $RUNS runs, best of $ROUNDS rounds ($(nproc) cores, $SNAPSHOTD):"
for name in "${names[@]}"; do printf '  %-13s %6s ms elapsed  %6s ms CPU\n' "$name" "${best[$name]% *}" "${best[$name]#* }"; done
