#!/usr/bin/env bash
# Stock serf agents record into snapshotd through `snapshotd forward` (`make test-live-serf`, part
# of `make test`; issue 14 part 1). Three Debian `serf agent` processes, each on its own loopback
# address with Serf's port 7946 (127.0.0.N:7946, RPC on 127.0.0.N:7373), each with
# `-event-handler "snapshotd forward --url URL"`, one snapshotd (`serve --listen 127.0.0.1:0`).
# Every check fails the run, naming what failed:
#  1. joins: every agent's named snapshot (its node name) holds the three agents alive;
#  2. a user event and a query: every snapshot has their clocks; the query got no response from
#     the handlers (forward prints nothing on success: the agent would send it as the response);
#  3. a crashed member (kill -9): the survivors see it failed, and their snapshots drop it;
#  4. an agent stopped (SIGTERM: no leave) and restarted on an empty disk with `-snapshot` set
#     to `GET /v1/snapshots/NAME/export?format=v1`, no -join: it rejoins (both sides see each
#     other alive, its log shows the re-join from the snapshot), and records again.
# Agents reconnect to failed members every 30 s by default; here every hour (a config file), so
# that only the snapshot can bring the restarted agent back. No handler run may fail.
# Env: SNAPSHOTD (the binary, default .build/debug/snapshotd), KEEP_TMP=1 (keep logs and data).
# A && B || die: die exits.
# shellcheck disable=SC2015
set -euo pipefail

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$ROOT"
SNAPSHOTD=${SNAPSHOTD:-.build/debug/snapshotd}
T0=$(date +%s)
REPORT=live-serf
REPORT_T0=$T0
# shellcheck source=Tests/Container/report.sh
. "$ROOT/Tests/Container/report.sh"

# --- what it needs --------------------------------------------------------------------------------
[ -x "$SNAPSHOTD" ] || fail "no snapshotd binary at $SNAPSHOTD (build it: swift build --product snapshotd; or set SNAPSHOTD)"
SNAPSHOTD=$(cd "$(dirname "$SNAPSHOTD")" && pwd)/$(basename "$SNAPSHOTD")
if ! command -v serf >/dev/null 2>&1; then
    echo "$REPORT: serf missing: installing Debian's serf (scripts/install-deps.sh serf)"
    sh scripts/install-deps.sh serf || fail "could not install serf (Debian package serf; needs root or sudo)"
fi
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (Debian packages curl, python3)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/live-serf.XXXXXX")
declare -A AGENT_PID=()
PID_SNAPSHOTD=''
cleanup() {
    set +e
    local p
    for p in "${AGENT_PID[@]}" $PID_SNAPSHOTD; do kill -TERM "$p" 2>/dev/null; done
    for p in "${AGENT_PID[@]}" $PID_SNAPSHOTD; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "${KEEP_TMP:-}" ]; then echo "$REPORT: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# On a failure, the last lines of every log, then fail.
die() {
    local log
    for log in "$TMP"/*.log; do
        [ -s "$log" ] && { echo "--- tail of $log" >&2; tail -n 25 "$log" >&2; }
    done
    fail "$@"
}

# eventually SECONDS CHECK...: runs CHECK every 0.2 s until it succeeds; dies with MSG (set by
# CHECK) after SECONDS.
eventually() {
    local seconds=$1; shift
    local end=$(($(date +%s) + seconds))
    MSG=
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || die "after ${seconds} s: $MSG"
        sleep 0.2
    done
}

# --- snapshotd ------------------------------------------------------------------------------------
section "0. snapshotd, and three loopback addresses for the agents"
echo "$REPORT: snapshotd $SNAPSHOTD ($("$SNAPSHOTD" --version 2>/dev/null || echo '?')), serf $(serf version 2>/dev/null | head -n 1)"
"$SNAPSHOTD" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" >"$TMP/snapshotd.log" 2>&1 &
PID_SNAPSHOTD=$!
URL=
for _ in $(seq 300); do
    kill -0 "$PID_SNAPSHOTD" 2>/dev/null || die "snapshotd serve exited during start"
    URL=$(grep -o 'listening on http://[0-9.:]*' "$TMP/snapshotd.log" | head -n 1 | sed 's/^listening on //') || true
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || die "snapshotd serve did not print 'listening on http://HOST:PORT' within 30 s"
ok "snapshotd on $URL (data $TMP/data)"

# Three consecutive addresses 127.0.0.B+1..B+3 whose ports 7946 (TCP and UDP) and 7373 are free:
# B random, so that two runs on one machine (other worktrees) do not meet.
free_block() {
    python3 - "$1" <<'PY'
import socket, sys
base = int(sys.argv[1])
for n in range(base + 1, base + 4):
    for kind, port in ((socket.SOCK_STREAM, 7946), (socket.SOCK_DGRAM, 7946), (socket.SOCK_STREAM, 7373)):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((f"127.0.0.{n}", port))
        except OSError:
            sys.exit(1)
        finally:
            s.close()
PY
}
BASE=
for _ in $(seq 20); do
    candidate=$((10 + RANDOM % 240))
    free_block "$candidate" && { BASE=$candidate; break; }
done
[ -n "$BASE" ] || fail "no three loopback addresses 127.0.0.N with ports 7946 and 7373 free"
ip_of() { echo "127.0.0.$((BASE + $1))"; }
ok "agents on $(ip_of 1), $(ip_of 2), $(ip_of 3) (port 7946, RPC 7373)"

# Agents reconnect to failed members every hour, not every 30 s: only a snapshot brings one back.
cat >"$TMP/agent.json" <<'JSON'
{"reconnect_interval": "1h"}
JSON
# The handler, as an operator writes it (no '=' in it: serf reads 'FILTER=SCRIPT'). Its stderr
# goes to a log; a failed run is counted in forward-failures.
HANDLER="$(printf '%q' "$SNAPSHOTD") forward --url $URL --timeout 10 2>>$(printf '%q' "$TMP/forward.log") || echo \"\$SERF_SELF_NAME: exit \$? on \$SERF_EVENT\" >>$(printf '%q' "$TMP/forward-failures")"

# start_agent N [ARG...]: agent-N on its address, logging to agent-N.log; sets AGENT_PID[N].
start_agent() {
    local n=$1; shift
    local ip; ip=$(ip_of "$n")
    serf agent -node "agent-$n" -bind "$ip:7946" -rpc-addr "$ip:7373" -profile local -log-level debug \
        -config-file "$TMP/agent.json" -event-handler "$HANDLER" "$@" >>"$TMP/agent-$n.log" 2>&1 &
    AGENT_PID[$n]=$!
    for _ in $(seq 100); do
        kill -0 "${AGENT_PID[$n]}" 2>/dev/null || die "agent-$n exited during start"
        serf members -rpc-addr "$ip:7373" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "agent-$n: its RPC ($ip:7373) did not answer within 10 s"
}

# sees N NAME STATUS: agent-N's `serf members` lists NAME with STATUS.
sees() {
    local out
    out=$(serf members -rpc-addr "$(ip_of "$1"):7373" 2>&1) || { MSG="serf members on agent-$1: $out"; return 1; }
    printf '%s\n' "$out" | awk -v n="$2" -v s="$3" '$1 == n && $3 == s { found = 1 } END { exit !found }' ||
        { MSG="agent-$1 does not see $2 $3: serf members says: $(printf '%s' "$out" | tr '\n' ';')"; return 1; }
}

# snapshot_check NAME PYTHON-EXPR: GET /v1/snapshots/NAME; the expression, on the decoded body
# `s` (alive: the set of "name addr"), must hold.
snapshot_check() {
    local name=$1 expr=$2 body code
    code=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 5 "$URL/v1/snapshots/$name") || code=000
    body=$(cat "$TMP/body" 2>/dev/null || true)
    [ "$code" = 200 ] || { MSG="GET /v1/snapshots/$name: $code $body"; return 1; }
    python3 -c '
import json, sys
s = json.loads(sys.argv[1]); alive = {n["name"] + " " + n["addr"] for n in s["alive_nodes"]}
sys.exit(0 if eval(sys.argv[2]) else 1)' "$body" "$expr" || { MSG="GET /v1/snapshots/$name: $body: expected $expr"; return 1; }
}
alive_set() { # alive_set N...: the python set of "agent-N IP:7946"
    local n out="{"
    for n in "$@"; do out+="'agent-$n $(ip_of "$n"):7946',"; done
    echo "$out}"
}

# --- 1 --------------------------------------------------------------------------------------------
section "1. three agents join: each one's snapshot holds the three"
start_agent 1
start_agent 2 -join "$(ip_of 1):7946"
start_agent 3 -join "$(ip_of 1):7946"
for n in 1 2 3; do for m in 1 2 3; do eventually 20 sees "$n" "agent-$m" alive; done; done
ok "every agent sees the three alive (serf members)"
for n in 1 2 3; do eventually 20 snapshot_check "agent-$n" "alive == $(alive_set 1 2 3) and not s['leaving']"; done
ok "snapshots agent-1, agent-2, agent-3 each hold the three alive, at port 7946"

# --- 2 --------------------------------------------------------------------------------------------
section "2. a user event and a query"
serf event -rpc-addr "$(ip_of 1):7373" -coalesce=false deploy v1 >"$TMP/event.out" 2>&1 || die "serf event: $(cat "$TMP/event.out")"
for n in 1 2 3; do eventually 20 snapshot_check "agent-$n" "s['event_clock'] >= 1"; done
ok "user event 'deploy': every snapshot's event_clock >= 1"
serf query -rpc-addr "$(ip_of 2):7373" -timeout 3s uptime >"$TMP/query.out" 2>&1 || die "serf query: $(cat "$TMP/query.out")"
grep -q 'Total Responses: 0' "$TMP/query.out" || die "the query got responses: a handler printed something: $(cat "$TMP/query.out")"
for n in 1 2 3; do eventually 20 snapshot_check "agent-$n" "s['query_clock'] >= 1"; done
ok "query 'uptime': every snapshot's query_clock >= 1, and no handler answered it (forward prints nothing)"

# --- 3 --------------------------------------------------------------------------------------------
section "3. agent-3 crashes (kill -9)"
kill -KILL "${AGENT_PID[3]}"
wait "${AGENT_PID[3]}" 2>/dev/null || true
unset 'AGENT_PID[3]'
for n in 1 2; do eventually 30 sees "$n" agent-3 failed; done
ok "agent-1 and agent-2 see agent-3 failed"
for n in 1 2; do eventually 20 snapshot_check "agent-$n" "alive == $(alive_set 1 2)"; done
ok "snapshots agent-1 and agent-2 no longer hold agent-3 alive"

# --- 4 --------------------------------------------------------------------------------------------
section "4. agent-2 restarts on an empty disk from snapshotd's export, without -join"
kill -TERM "${AGENT_PID[2]}"
for _ in $(seq 100); do kill -0 "${AGENT_PID[2]}" 2>/dev/null || break; sleep 0.1; done
kill -0 "${AGENT_PID[2]}" 2>/dev/null && die "agent-2 still running 10 s after SIGTERM"
wait "${AGENT_PID[2]}" 2>/dev/null || true
unset 'AGENT_PID[2]'
eventually 30 sees 1 agent-2 failed
ok "agent-2 stopped (SIGTERM, no leave); agent-1 sees it failed"
mkdir "$TMP/disk-2"
code=$(curl -s -o "$TMP/disk-2/serf.snapshot" -w '%{http_code}' "$URL/v1/snapshots/agent-2/export?format=v1") || code=000
[ "$code" = 200 ] || die "GET /v1/snapshots/agent-2/export?format=v1: $code $(cat "$TMP/disk-2/serf.snapshot")"
grep -qx "alive: agent-1 $(ip_of 1):7946" "$TMP/disk-2/serf.snapshot" || die "the export has no 'alive: agent-1 $(ip_of 1):7946': $(cat "$TMP/disk-2/serf.snapshot")"
grep -q "^leave" "$TMP/disk-2/serf.snapshot" && die "the export records a leave: $(cat "$TMP/disk-2/serf.snapshot")"
ok "the v1 export: $(tr '\n' ';' <"$TMP/disk-2/serf.snapshot")"
start_agent 2 -snapshot "$TMP/disk-2/serf.snapshot"
eventually 30 sees 1 agent-2 alive
eventually 30 sees 2 agent-1 alive
ok "agent-2 is back: agent-1 sees it alive, it sees agent-1 alive (serf members, both sides)"
grep -q "Attempting re-join to previously known node" "$TMP/agent-2.log" || die "agent-2's log shows no re-join from its snapshot"
ok "agent-2 re-joined from its snapshot (log: $(grep -m1 -o 'Attempting re-join to previously known node.*' "$TMP/agent-2.log"))"
eventually 20 snapshot_check agent-2 "alive == $(alive_set 1 2)"
eventually 20 snapshot_check agent-1 "alive == $(alive_set 1 2)"
ok "snapshots agent-1 and agent-2 hold agent-1 and agent-2 alive again"

[ -s "$TMP/forward-failures" ] && die "handler runs failed: $(tr '\n' ';' <"$TMP/forward-failures"); forward.log: $(tail -n 5 "$TMP/forward.log" | tr '\n' ';')"
runs=$(grep -c "Received event" "$TMP"/agent-*.log | awk -F: '{ s += $2 } END { print s }')
ok "no handler run failed ($runs events handled by the agents)"
echo "$REPORT: $passed passed$(elapsed)"
