#!/usr/bin/env bash
# Sharding by snapshot name behind nginx (`make test-sharding`, part of `make test`; docs/SCALING.md).
# Two snapshotd instances, nginx in front with `hash $snapshot_name consistent` on the name taken
# from the path, no fail-over (proxy_next_upstream off, max_fails=0). Every check fails the run,
# naming what failed:
#  1. ~200 names get an event each through nginx; read on each instance directly, every name lives
#     on exactly one instance, the one nginx said it sent it to, and both instances hold some.
#     The legacy routes (/v1/events, /v1/snapshot) reach the owner of the snapshot `default`.
#  2. Instance B stopped (SIGTERM, exit 0): A's names still served through nginx (reads and new
#     events); B's names fail (503 from nginx, never 200 or 404 from A), and a POST to one of them
#     creates nothing on A.
#  3. B restarted on the same data directory and port: every event acknowledged before is there,
#     on both (nothing lost), read directly and through nginx; new events to B's names land on B.
# Env: SNAPSHOTD (the binary, default .build/debug/snapshotd), NAMES (default 200),
# KEEP_TMP=1 (keep the temp dir: logs, nginx.conf, data).
# A && B || die: die exits. ${members[$n]}: member names (no blanks, no glob characters), split on purpose.
# shellcheck disable=SC2015,SC2086
set -euo pipefail

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$ROOT"
SNAPSHOTD=${SNAPSHOTD:-.build/debug/snapshotd}
NAMES=${NAMES:-200}
T0=$(date +%s)
REPORT=nginx-sharding
REPORT_T0=$T0
# shellcheck source=Tests/Container/report.sh
. "$ROOT/Tests/Container/report.sh"

# --- what it needs --------------------------------------------------------------------------------
[ -x "$SNAPSHOTD" ] || fail "no snapshotd binary at $SNAPSHOTD (build it: swift build --product snapshotd; or set SNAPSHOTD)"
SNAPSHOTD=$(cd "$(dirname "$SNAPSHOTD")" && pwd)/$(basename "$SNAPSHOTD")
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    echo "$REPORT: nginx missing: installing Debian's nginx (scripts/install-deps.sh nginx)"
    sh scripts/install-deps.sh nginx || fail "could not install nginx (Debian package nginx; needs root or sudo)"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (Debian packages curl, python3)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nginx-sharding.XXXXXX")
PID_A='' PID_B='' PID_NGINX=''
cleanup() {
    set +e
    for p in $PID_NGINX $PID_A $PID_B; do kill -TERM "$p" 2>/dev/null; done
    for p in $PID_NGINX $PID_A $PID_B; do
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
    for log in "$TMP"/a.log "$TMP"/b.log "$TMP"/nginx/error.log "$TMP"/nginx/stdout.log; do
        [ -s "$log" ] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
    done
    fail "$@"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT_A=$(free_port) PORT_B=$(free_port) PORT_N=$(free_port)
while [ "$PORT_B" = "$PORT_A" ]; do PORT_B=$(free_port); done
while [ "$PORT_N" = "$PORT_A" ] || [ "$PORT_N" = "$PORT_B" ]; do PORT_N=$(free_port); done
A=http://127.0.0.1:$PORT_A B=http://127.0.0.1:$PORT_B N=http://127.0.0.1:$PORT_N

# start_instance a|b: serve on its port and data dir (appending to its log); sets PID_A/PID_B.
start_instance() {
    local which=$1 port
    port=$([ "$which" = a ] && echo "$PORT_A" || echo "$PORT_B")
    "$SNAPSHOTD" serve --listen "127.0.0.1:$port" --data-dir "$TMP/data-$which" >>"$TMP/$which.log" 2>&1 &
    if [ "$which" = a ]; then PID_A=$!; else PID_B=$!; fi
    wait_ready "$which" "$!" "http://127.0.0.1:$port"
}
wait_ready() {
    local which=$1 pid=$2 url=$3
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "instance $which (snapshotd serve on $url) exited during start"
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    die "instance $which (snapshotd serve on $url) not ready (/readyz 200) within 30 s"
}

# req METHOD URL [BODY]: sets CODE (000: no answer), UP (nginx's X-Upstream header: the instance
# it sent the request to; - when none) and BODY.
req() {
    local method=$1 url=$2 body=${3:-}
    local args=(-s -X "$method" -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' --max-time 10)
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    : >"$TMP/h"; : >"$TMP/b"
    CODE=$(curl "${args[@]}" "$url") || CODE=000
    UP=- BODY=
    local line
    while IFS= read -r line; do
        line=${line%$'\r'}
        case ${line,,} in x-upstream:*) UP=${line#*:}; UP=${UP# } ;; esac
    done <"$TMP/h"
    IFS= read -r -d '' BODY <"$TMP/b" || true
}
event() { # event MEMBER LTIME: a member-join of one member
    printf '{"type":"member-join","members":[{"name":"%s","addr":"10.0.0.1","port":7946}],"ltime":%d}' "$1" "$2"
}
# has URL NAME MEMBER...: the snapshot NAME read at URL is 200 with every MEMBER alive (else MSG).
has() {
    local url=$1 name=$2 m; shift 2
    req GET "$url/v1/snapshots/$name"
    [ "$CODE" = 200 ] || { MSG="GET $url/v1/snapshots/$name: expected 200, got $CODE $BODY"; return 1; }
    for m in "$@"; do
        case $BODY in *"\"$m\""*) ;; *) MSG="GET $url/v1/snapshots/$name: no member $m in $BODY"; return 1 ;; esac
    done
}
# absent URL NAME: the instance at URL has no snapshot NAME (404; else MSG).
absent() {
    req GET "$1/v1/snapshots/$2"
    [ "$CODE" = 404 ] || { MSG="GET $1/v1/snapshots/$2: expected 404 (no such snapshot), got $CODE $BODY"; return 1; }
}

# --- 0 --------------------------------------------------------------------------------------------
section "0. two snapshotd instances, nginx in front"
echo "$REPORT: snapshotd $SNAPSHOTD ($("$SNAPSHOTD" --version 2>/dev/null || echo '?')), $("$NGINX" -v 2>&1)"
start_instance a
start_instance b
ok "instance A on $A (data $TMP/data-a), instance B on $B (data $TMP/data-b)"

mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user root root;"   # workers as root: they write in the temp dir
# The configuration of docs/SCALING.md, with this run's ports, paths under the temp dir, and an
# X-Upstream header saying which instance nginx sent each request to (for the checks).
cat >"$TMP/nginx/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log $TMP/nginx/access.log;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;

$(sed -n '/^# BEGIN shard-http/,/^# END shard-http/p' docs/SCALING.md | sed '1d;$d' |
    sed "s/SNAPSHOTD_A/127.0.0.1:$PORT_A/; s/SNAPSHOTD_B/127.0.0.1:$PORT_B/; s/LISTEN_PORT/127.0.0.1:$PORT_N/" |
    sed 's/^/    /')
}
EOF
# For the checks only: which instance nginx chose.
sed -i "s|^\( *\)proxy_pass http://snapshotd;|\1proxy_pass http://snapshotd;\n\1add_header X-Upstream \$upstream_addr always;|" "$TMP/nginx/nginx.conf"
grep -q "hash \\\$snapshot_name consistent" "$TMP/nginx/nginx.conf" || fail "the nginx configuration taken from docs/SCALING.md has no 'hash \$snapshot_name consistent' (markers # BEGIN shard-http / # END shard-http)"
grep -q 'X-Upstream' "$TMP/nginx/nginx.conf" || fail "the nginx configuration taken from docs/SCALING.md has no 'proxy_pass http://snapshotd;'"
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -t >"$TMP/nginx-t.log" 2>&1 ||
    { cat "$TMP/nginx-t.log" >&2; cat -n "$TMP/nginx/nginx.conf" >&2; fail "nginx -t refuses the configuration (above)"; }
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;' >"$TMP/nginx/stdout.log" 2>&1 &
PID_NGINX=$!
for _ in $(seq 100); do
    kill -0 "$PID_NGINX" 2>/dev/null || die "nginx exited at start"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$N/v1/snapshots/probe")" != 000 ] && break
    sleep 0.1
done
ok "nginx on $N (configuration: docs/SCALING.md's, nginx -t passes)"

# --- 1 --------------------------------------------------------------------------------------------
section "1. $NAMES names through nginx: each on exactly one instance"
names=()
for i in $(seq -w 1 "$NAMES"); do names+=("agent-$i"); done
declare -A owner=()  # name -> A|B (where it lives)
declare -A members=() # name -> the members acknowledged for it, blank-separated
addr_of() { [ "$1" = A ] && echo "127.0.0.1:$PORT_A" || echo "127.0.0.1:$PORT_B"; }
url_of() { [ "$1" = A ] && echo "$A" || echo "$B"; }
other() { [ "$1" = A ] && echo B || echo A; }
declare -A routed=()
for n in "${names[@]}"; do
    req POST "$N/v1/snapshots/$n/events" "$(event "m1.$n" 1)"
    [ "$CODE" = 200 ] || die "POST $N/v1/snapshots/$n/events (through nginx): expected 200, got $CODE $BODY (from $UP)"
    case $BODY in *'"durable":true'*) ;; *) die "POST $N/v1/snapshots/$n/events: not durable: $BODY" ;; esac
    routed[$n]=$UP
    members[$n]="m1.$n"
done
ok "$NAMES events acknowledged through nginx (200, durable)"

count_a=0 count_b=0
for n in "${names[@]}"; do
    req GET "$A/v1/snapshots/$n"; ca=$CODE
    req GET "$B/v1/snapshots/$n"; cb=$CODE
    if [ "$ca" = 200 ] && [ "$cb" = 404 ]; then owner[$n]=A; count_a=$((count_a + 1))
    elif [ "$ca" = 404 ] && [ "$cb" = 200 ]; then owner[$n]=B; count_b=$((count_b + 1))
    else die "snapshot $n: GET on A answers $ca, on B $cb: it must be on exactly one instance (200 there, 404 on the other)"
    fi
    [ "${routed[$n]}" = "$(addr_of "${owner[$n]}")" ] ||
        die "snapshot $n is on instance ${owner[$n]} ($(addr_of "${owner[$n]}")) but nginx said it sent its event to ${routed[$n]}"
    has "$(url_of "${owner[$n]}")" "$n" m1."$n" || die "$MSG"
done
ok "every name on exactly one instance, the one nginx chose, with its event: A holds $count_a, B $count_b"
[ "$count_a" -gt 0 ] && [ "$count_b" -gt 0 ] || die "one instance holds every name (A $count_a, B $count_b): the hash does not spread names"
ok "both instances hold names ($((count_a * 100 / NAMES))% on A, $((count_b * 100 / NAMES))% on B)"

for n in "${names[@]:0:20}"; do
    req POST "$N/v1/snapshots/$n/events" "$(event "m1b.$n" 2)"
    [ "$CODE" = 200 ] && [ "$UP" = "${routed[$n]}" ] ||
        die "a second event to $n: $CODE from $UP, its first went to ${routed[$n]}: a name must always go to the same instance"
    members[$n]+=" m1b.$n"
done
ok "a name always goes to the same instance (a second event to 20 names)"

# The legacy routes are the snapshot `default`: nginx hashes them as the name `default`.
req POST "$N/v1/events" "$(event legacy-1 1)"
[ "$CODE" = 200 ] || die "POST $N/v1/events (legacy, through nginx): expected 200, got $CODE $BODY"
legacy_up=$UP
def_owner=A; [ "$legacy_up" = "$(addr_of B)" ] && def_owner=B
req POST "$N/v1/snapshots/default/events" "$(event default-1 2)"
[ "$CODE" = 200 ] && [ "$UP" = "$legacy_up" ] ||
    die "POST /v1/snapshots/default/events: $CODE from $UP, POST /v1/events went to $legacy_up: both are the snapshot default and must reach the same instance"
has "$(url_of $def_owner)" default legacy-1 default-1 || die "the owner of default: $MSG"
# Every instance has a snapshot default (empty until written): the other one's got none of these.
req GET "$(url_of "$(other $def_owner)")/v1/snapshots/default"
case $CODE:$BODY in
    404:* | 200:*) case $BODY in *'"legacy-1"'* | *'"default-1"'*) die "the other instance's default holds an event sent to the owner's: $BODY" ;; esac ;;
    *) die "GET $(url_of "$(other $def_owner)")/v1/snapshots/default: $CODE $BODY" ;;
esac
req GET "$N/v1/snapshot"
[ "$CODE" = 200 ] && [ "$UP" = "$legacy_up" ] || die "GET $N/v1/snapshot (legacy): $CODE from $UP, not from the owner of default ($legacy_up)"
case $BODY in *'"legacy-1"'*) ;; *) die "GET $N/v1/snapshot (legacy) lacks legacy-1: $BODY" ;; esac
case $BODY in *'"default-1"'*) ;; *) die "GET $N/v1/snapshot (legacy) lacks default-1: $BODY" ;; esac
ok "legacy /v1/events and /v1/snapshot reach the owner of default (instance $def_owner), as /v1/snapshots/default does; the other's default has neither"

req GET "$N/v1/snapshots"
[ "$CODE" = 404 ] && [ "$UP" = - ] || die "GET $N/v1/snapshots (the list) through nginx: $CODE from $UP, expected nginx's own 404: one instance's list would pass for all names"
req GET "$N/metrics"
[ "$CODE" = 404 ] && [ "$UP" = - ] || die "GET $N/metrics through nginx: $CODE from $UP, expected nginx's own 404 (scrape each instance)"
ok "the list and /metrics are not proxied (nginx's 404): each instance is asked directly"

# --- 2 --------------------------------------------------------------------------------------------
section "2. instance B stopped: A's names served, B's names refused, nothing moves to A"
kill -TERM "$PID_B"
rc=0; wait "$PID_B" || rc=$?
PID_B=
[ "$rc" = 0 ] || die "instance B exited $rc after SIGTERM (expected 0)"
ok "instance B stopped by SIGTERM (exit 0)"

served=0 refused=0
for n in "${names[@]}"; do
    if [ "${owner[$n]}" = A ]; then
        has "$N" "$n" ${members[$n]} || die "instance B down, a name of A through nginx: $MSG"
        req POST "$N/v1/snapshots/$n/events" "$(event "m2.$n" 3)"
        [ "$CODE" = 200 ] || die "instance B down, POST $N/v1/snapshots/$n/events (a name of A): expected 200, got $CODE $BODY"
        members[$n]+=" m2.$n"
        served=$((served + 1))
        continue
    fi
    req GET "$N/v1/snapshots/$n"
    case $CODE in
        503) ;;
        200) die "instance B down, GET $N/v1/snapshots/$n (a name of B) answered 200 from $UP: nginx failed it over to another instance" ;;
        404) die "instance B down, GET $N/v1/snapshots/$n (a name of B) answered 404 from $UP: nginx asked another instance" ;;
        *) die "instance B down, GET $N/v1/snapshots/$n (a name of B): expected nginx's 503, got $CODE from $UP: $BODY" ;;
    esac
    grep -qi '^retry-after:' "$TMP/h" || die "instance B down, nginx's 503 for $n has no Retry-After"
    case $BODY in '{"error":'*) ;; *) die "instance B down, nginx's 503 for $n is not a JSON error: $BODY" ;; esac
    req POST "$N/v1/snapshots/$n/events" "$(event "lost.$n" 3)"
    [ "$CODE" = 503 ] || die "instance B down, POST $N/v1/snapshots/$n/events (a name of B): expected nginx's 503, got $CODE from $UP: $BODY"
    refused=$((refused + 1))
done
ok "through nginx: A's $served names read and written (200); B's $refused names refused, reads and writes (503 + Retry-After, JSON)"
for n in "${names[@]}"; do
    [ "${owner[$n]}" = B ] || continue
    absent "$A" "$n" || die "instance B down, a POST to $n (a name of B) through nginx reached A: $MSG"
done
ok "none of B's names exists on A: nothing failed over"

# --- 3 --------------------------------------------------------------------------------------------
section "3. instance B restarted on its data: nothing lost, its names back on it"
start_instance b
ok "instance B restarted on $B, data $TMP/data-b"
for n in "${names[@]}"; do
    o=${owner[$n]}
    has "$(url_of "$o")" "$n" ${members[$n]} || die "after B's restart, on its owner $o: $MSG"
    absent "$(url_of "$(other "$o")")" "$n" || die "after B's restart, on the other instance: $MSG"
    has "$N" "$n" ${members[$n]} || die "after B's restart, through nginx: $MSG"
    [ "$UP" = "$(addr_of "$o")" ] || die "after B's restart, GET $n through nginx went to $UP, its owner is $o"
    case $BODY in *"\"lost.$n\""*) die "after B's restart: $n holds the event nginx refused (503) while B was down" ;; esac
done
has "$(url_of $def_owner)" default legacy-1 default-1 || die "after B's restart, default: $MSG"
ok "every acknowledged event is there, on its owner only (A's $count_a names, B's $count_b, and default)"

for n in "${names[@]}"; do
    [ "${owner[$n]}" = B ] || continue
    req POST "$N/v1/snapshots/$n/events" "$(event "m3.$n" 4)"
    [ "$CODE" = 200 ] && [ "$UP" = "$(addr_of B)" ] || die "after B's restart, POST to $n (a name of B) through nginx: $CODE from $UP, expected 200 from B"
    has "$B" "$n" ${members[$n]} "m3.$n" || die "after B's restart, the new event to $n: $MSG"
    absent "$A" "$n" || die "after B's restart: $MSG"
done
ok "new events to B's $count_b names land on B again"

echo "$REPORT: $passed passed, 0 failed$(elapsed)"
