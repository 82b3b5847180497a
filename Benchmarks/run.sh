#!/usr/bin/env bash
# make bench: every performance comparison of issue 5 in one run, interleaved, into BENCHMARKS.md.
#
# Installs what is missing from Debian (Benchmarks/install-deps.sh), builds snapshotd and the
# engine bench (release), the Hummingbird peer (release, its own package and .build), gosnap
# (Go serf 0.9.4) and three small C tools, then runs, in order:
#   engine      in-process events/s: Swift buffered, Go serf, Swift fsync (user, member)
#   replay      the same 1M-record v1 file: Go serf, snapshotd v1, snapshotd v2
#   recovery    SnapshotEngine(path:) on a checkpoint + a 1M-event log, against Go serf
#               replaying the same records as one v1 file (checkpoints of 5k and 100k nodes)
#   stall       completion gaps during compaction (a checkpoint) of 100k alive nodes (fsync, buffered)
#   checkpoint  wrk -c16 durable one-event POSTs, 100k alive nodes: checkpoints back to back
#               (POST /v1/compact in a loop) against none: p99.9 and max
#   http        wrk, one event per POST, -c8 and -c64: snapshotd (fsync), nginx, Hummingbird
#   multi       durable one-event writes, -c8 and -c64, over 1,000 names: snapshotd spread over
#               1,000 named snapshots (POST /v1/snapshots/sNNNN/events, wrk/spread.lua) against
#               the same load on one snapshot (/v1/events), etcd 3.4 (one member, PUTs through its
#               JSON gateway, wrk/etcd-put.lua) and Redis 7 (appendfsync always, redis-benchmark
#               SET -r 1000); the peers are started here on their own ports and temp dirs
#   fairness    a quiet named snapshot posting one durable one-event POST every 10 ms (ratecli,
#               one connection, /v1/snapshots/quiet/events) alone, and while another snapshot
#               floods (wrk -t1 -c32 of one-event POSTs to /v1/snapshots/flood/events, then of
#               100-event NDJSON bodies; wrk/flood.lua counts its 503s): the quiet one's p50/p99,
#               its 503s (must be 0) and the flooder's
#   ndjson      wrk, 1,000-event NDJSON POSTs, -c8: snapshotd (fsync)
#   latency     20k requests/s open loop (ratecli) against snapshotd, and the fsync floor
#   segsync     fdatasync after a 64-byte append: preallocated (posix_fallocate, as the log's
#               segments), growing, and written-zeros files; idle and under wrk -c16 on snapshotd
#   overload    60 s of overloadcli (256 connections) against a slowed disk: RSS, 503s, last acknowledged joins on disk
#   memory      VmRSS of snapshotd holding 10,000 named snapshots x 100 alive nodes (one 100-line
#               NDJSON POST of member-joins each, on a fresh --data-dir), less its RSS before the
#               load: bytes per alive node and per snapshot; then SIGTERM, a restart on that store
#               until /readyz is 200 (timed, BENCH_RUNS times) and the RSS after it
#   allocs      heap allocations per event (alloccount.so): engine, HTTP single and NDJSON
#
# Environment (defaults in brackets; BENCH_QUICK=1 shrinks everything for a trial run):
#   BENCH_RUNS [3]  BENCH_ENGINE_RUNS [max(5, BENCH_RUNS)]  BENCH_ENGINE_EVENTS [1000000]  BENCH_ENGINE_INFLIGHT [64]  BENCH_ENGINE_BATCH [1]
#   BENCH_ENGINE_FSYNC_INFLIGHT [2048: Go serf's eventChSize, the events its snapshotter has outstanding]
#   BENCH_REPLAY_RECORDS [1000000]  BENCH_STALL_NODES [100000]  BENCH_HTTP_SECONDS [5]
#   BENCH_WRK_THREADS [1]  BENCH_NDJSON_BATCH [1000]  BENCH_LAT_RATE [20000]  BENCH_LAT_SECONDS [10]
#   BENCH_LAT_CONNS [32]  BENCH_OVERLOAD_SECONDS [60]  BENCH_OVERLOAD_WARMUP [10]
#   BENCH_OVERLOAD_CONNS [256]  BENCH_OVERLOAD_NAMES [20 a connection]  BENCH_OVERLOAD_DELAY_MS [5]
#   BENCH_OVERLOAD_ARGS [--queue-wait 0.05 --queue-capacity 16] (so that 503s happen: a request
#   parks about CONNS / capacity × delay = 80 ms, more than the 50 ms it may wait)
#   BENCH_RECOVERY_RECORDS [1000000 events]  BENCH_RECOVERY_NODES ["5000 100000": checkpoint sizes]
#   BENCH_CKPT_NODES [100000]  BENCH_CKPT_SECONDS [10]  BENCH_CKPT_CONNS [16]
#   BENCH_SEGSYNC_COUNT [2000]  BENCH_SEGSYNC_BYTES [64]  BENCH_SEGSYNC_CONNS [16]
#   BENCH_ALLOC_EVENTS [100000]
#   BENCH_MULTI_NAMES [1000: snapshot names, etcd keys, redis-benchmark -r]  BENCH_MULTI_SECONDS [BENCH_HTTP_SECONDS]
#   BENCH_FAIR_SECONDS [10]  BENCH_FAIR_RATE [100: the quiet snapshot's POSTs a second]  BENCH_FAIR_CONNS [32: the flooder's]
#   BENCH_FAIR_BATCH [100: events in the flooder's NDJSON bodies]
#   BENCH_MEM_SNAPSHOTS [10000]  BENCH_MEM_NODES [100 a snapshot]  BENCH_MEM_CONNS [8: the loader's connections]
#   BENCH_SECTIONS [engine replay recovery stall checkpoint http multi fairness ndjson latency segsync overload memory allocs]
#   BENCH_SKIP_BUILD=1 (reuse the binaries: only those the chosen sections use must exist)  BENCH_NO_INSTALL=1  BENCH_WORK [.build/bench]
#   BENCH_LOCK_HELD=1 (the caller holds /tmp/swift-build.lock for the whole run, as
#   `flock /tmp/swift-build.lock env BENCH_LOCK_HELD=1 make bench`: the builds do not take it again)
#   BENCH_ENGINE_BENCH (another snapshot-bench binary, e.g. one built with the ExtraModes hook)
#   BENCH_OUT [BENCHMARKS.md]
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH="$ROOT/Benchmarks"

QUICK=${BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
RUNS=${BENCH_RUNS:-3}
# The engine rows take seconds each and vary most from run to run on a shared machine (member
# events in fsync mode: 0.7M to 1.5M events/s seen): at least 5 runs for their medians.
ENGINE_RUNS=${BENCH_ENGINE_RUNS:-$(( RUNS > 5 ? RUNS : 5 ))}
ENGINE_EVENTS=${BENCH_ENGINE_EVENTS:-$(q 1000000 200000)}
ENGINE_INFLIGHT=${BENCH_ENGINE_INFLIGHT:-64}
ENGINE_FSYNC_INFLIGHT=${BENCH_ENGINE_FSYNC_INFLIGHT:-2048}
ENGINE_BATCH=${BENCH_ENGINE_BATCH:-1}
REPLAY_RECORDS=${BENCH_REPLAY_RECORDS:-$(q 1000000 200000)}
STALL_NODES=${BENCH_STALL_NODES:-100000}
HTTP_SECONDS=${BENCH_HTTP_SECONDS:-$(q 5 2)}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
NDJSON_BATCH=${BENCH_NDJSON_BATCH:-1000}
LAT_RATE=${BENCH_LAT_RATE:-20000}
LAT_SECONDS=${BENCH_LAT_SECONDS:-$(q 10 3)}
LAT_CONNS=${BENCH_LAT_CONNS:-32}
OVERLOAD_SECONDS=${BENCH_OVERLOAD_SECONDS:-$(q 60 8)}
OVERLOAD_WARMUP=${BENCH_OVERLOAD_WARMUP:-$(q 10 2)}
OVERLOAD_CONNS=${BENCH_OVERLOAD_CONNS:-256}
OVERLOAD_NAMES=${BENCH_OVERLOAD_NAMES:-20}
OVERLOAD_DELAY_MS=${BENCH_OVERLOAD_DELAY_MS:-5}
OVERLOAD_ARGS=${BENCH_OVERLOAD_ARGS:---queue-wait 0.05 --queue-capacity 16}
ALLOC_EVENTS=${BENCH_ALLOC_EVENTS:-$(q 100000 20000)}
RECOVERY_RECORDS=${BENCH_RECOVERY_RECORDS:-$(q 1000000 200000)}
RECOVERY_NODES=${BENCH_RECOVERY_NODES:-5000 100000}
CKPT_NODES=${BENCH_CKPT_NODES:-100000}
CKPT_SECONDS=${BENCH_CKPT_SECONDS:-$(q 10 3)}
CKPT_CONNS=${BENCH_CKPT_CONNS:-16}
SEGSYNC_COUNT=${BENCH_SEGSYNC_COUNT:-2000}
SEGSYNC_BYTES=${BENCH_SEGSYNC_BYTES:-64}
SEGSYNC_CONNS=${BENCH_SEGSYNC_CONNS:-16}
MULTI_NAMES=${BENCH_MULTI_NAMES:-1000}
MULTI_SECONDS=${BENCH_MULTI_SECONDS:-$HTTP_SECONDS}
FAIR_SECONDS=${BENCH_FAIR_SECONDS:-$(q 10 3)}
FAIR_RATE=${BENCH_FAIR_RATE:-100}
FAIR_CONNS=${BENCH_FAIR_CONNS:-32}
FAIR_BATCH=${BENCH_FAIR_BATCH:-100}
MEM_SNAPSHOTS=${BENCH_MEM_SNAPSHOTS:-$(q 10000 1000)}
MEM_NODES=${BENCH_MEM_NODES:-100}
MEM_CONNS=${BENCH_MEM_CONNS:-8}
ALL_SECTIONS="engine replay recovery stall checkpoint http multi fairness ndjson latency segsync overload memory allocs"
SECTIONS=${BENCH_SECTIONS:-$ALL_SECTIONS}
WORK=${BENCH_WORK:-$ROOT/.build/bench}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}

log() { printf '\n[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\n[bench] FAILED: %s\n' "$*" >&2; exit 1; }
trap 'echo "[bench] FAILED at Benchmarks/run.sh line $LINENO: $BASH_COMMAND" >&2' ERR

[ "$RUNS" -ge 1 ] 2>/dev/null || die "BENCH_RUNS must be a positive number"
[ "$OVERLOAD_SECONDS" -gt $((OVERLOAD_WARMUP + 2)) ] || die "BENCH_OVERLOAD_SECONDS must exceed BENCH_OVERLOAD_WARMUP + 2"
[ "$FAIR_SECONDS" -ge 2 ] 2>/dev/null || die "BENCH_FAIR_SECONDS must be a whole number of seconds, at least 2"
{ [ "$MEM_SNAPSHOTS" -ge 1 ] && [ "$MEM_SNAPSHOTS" -lt 100000 ]; } 2>/dev/null || die "BENCH_MEM_SNAPSHOTS must be from 1 to 99999 (names m00000..)"

# ------------------------------------------------------------------ processes and cleanup
PIDS=()
PEER_DIRS=()  # the peers' temp dirs (etcd, Redis): removed by cleanup
stop_pid() {  # stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; only processes this script started
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "[bench] $pid did not stop in 10 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
    for d in "${PEER_DIRS[@]}"; do rm -rf "$d"; done
    PEER_DIRS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$WORK"
mkdir -p "$WORK/bin" "$WORK/tmp" "$WORK/logs"
RESULTS="$WORK/results.jsonl"
COMMANDS="$WORK/commands.txt"
: >"$RESULTS"
: >"$COMMANDS"
SKIPPED=()
T0=$(date +%s)

# note KEY COMMAND...: the first command of each kind goes into BENCHMARKS.md
note() {
    local key=$1; shift
    grep -q "^# $key\$" "$COMMANDS" 2>/dev/null && return 0
    { echo "# $key"; echo "$*" | sed "s|$ROOT/||g"; } >>"$COMMANDS"
}
record() { python3 "$BENCH/bench.py" record "$RESULTS" "$@"; }
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
want_any() { local s; for s in "$@"; do want "$s" && return 0; done; return 1; }
# What the chosen sections use: the Hummingbird peer only for http; the engine bench and gosnap
# only for the in-process sections (BENCH_SECTIONS=multi builds and needs snapshotd alone).
NEED_HB=0; want http && NEED_HB=1
NEED_ENGINE=0; want_any engine replay recovery stall allocs && NEED_ENGINE=1
NEED_GOSNAP=0; want_any engine replay recovery && NEED_GOSNAP=1

# ------------------------------------------------------------------ dependencies and builds
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    sh "$BENCH/install-deps.sh"
fi
TOOLS=(swift go wrk nginx cc python3 curl flock)
want_any http multi latency && TOOLS+=(redis-server redis-cli redis-benchmark)
want multi && TOOLS+=(etcd)
for tool in "${TOOLS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (Benchmarks/install-deps.sh installs the Debian ones)"
done

# Builds take /tmp/swift-build.lock (shared with other builds on this machine), unless the
# caller holds it already for the whole run (BENCH_LOCK_HELD=1: a second flock would wait forever).
swift_build() {
    if [ "${BENCH_LOCK_HELD:-0}" = 1 ]; then swift build "$@"; else flock /tmp/swift-build.lock swift build "$@"; fi
}
TB=$(date +%s)
HB_DIR="$BENCH/HummingbirdPeer"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    if [ $NEED_HB = 1 ]; then
        log "building the Hummingbird peer (release; its own package, Benchmarks/HummingbirdPeer/.build)"
        (cd "$HB_DIR" && swift_build -c release --product HummingbirdPeer) || die "Hummingbird peer build failed"
    fi
    log "building snapshotd (release)"
    swift_build -c release --product snapshotd || die "snapshotd build failed"
    if [ $NEED_ENGINE = 1 ]; then
        log "building snapshot-bench (release)"
        swift_build -c release --product snapshot-bench || die "snapshot-bench build failed"
    fi
fi
SWIFT_BIN="$ROOT/.build/release"
SNAPSHOTD="$SWIFT_BIN/snapshotd"
ENGINE_BENCH=${BENCH_ENGINE_BENCH:-$SWIFT_BIN/snapshot-bench}
HB_PEER="$HB_DIR/.build/release/HummingbirdPeer"
NEEDED=("$SNAPSHOTD")
[ $NEED_ENGINE = 1 ] && NEEDED+=("$ENGINE_BENCH")
[ $NEED_HB = 1 ] && NEEDED+=("$HB_PEER")
for b in "${NEEDED[@]}"; do [ -x "$b" ] || die "missing $b (build it, or unset BENCH_SKIP_BUILD)"; done

GOSNAP="$WORK/bin/gosnap"
if [ $NEED_GOSNAP = 1 ]; then
    log "building gosnap (Go serf 0.9.4)"
    sh "$ROOT/Tests/Interop/build-gosnap.sh" "$GOSNAP"
fi
log "building the C tools"
CC=${CC:-cc}
$CC -O2 -Wall -pthread -o "$WORK/bin/ratecli" "$BENCH/tools/ratecli.c"
$CC -O2 -Wall -pthread -o "$WORK/bin/overloadcli" "$BENCH/tools/overloadcli.c"
$CC -O2 -Wall -o "$WORK/bin/fsyncfloor" "$BENCH/tools/fsyncfloor.c"
$CC -O2 -Wall -pthread -o "$WORK/bin/perfilesync" "$BENCH/tools/perfilesync.c"
$CC -O2 -Wall -shared -fPIC -o "$WORK/bin/alloccount.so" "$BENCH/tools/alloccount.c"
BUILD_SECONDS=$(($(date +%s) - TB))
# The builds leave a few hundred MB of dirty pages: write them back now, not while fdatasync
# is being measured.
sync

# The engine bench's extra modes (--write-file, --replay-file, --compaction-stall,
# --alloc-count) live in Benchmarks/EngineBench/ExtraModes.swift and need one line in main.swift.
# Without it the bench rejects the flag (exit 2); with it a missing file is an error (exit 1).
EXTRA=0
extra_rc=0
if [ $NEED_ENGINE = 1 ]; then
    "$ENGINE_BENCH" --replay-file "$WORK/tmp/nonexistent" >/dev/null 2>&1 || extra_rc=$?
    [ "$extra_rc" -ne 2 ] && EXTRA=1
fi
EXTRA_MISSING="needs the ExtraModes hook in Benchmarks/EngineBench/main.swift"
if [ $EXTRA = 0 ] && [ $NEED_ENGINE = 1 ]; then
    echo "[bench] WARNING: $EXTRA_MISSING: replay, stall and engine allocation figures will be missing" >&2
fi

# ------------------------------------------------------------------ servers
SERVER_PID=
SERVER_ENV=()  # extra environment for the next start_snapshotd, as NAME=VALUE words
wait_http() {  # wait_http PORT PATH: until it answers (any status), or fail
    local i
    for i in $(seq 200); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then die "server on port $1 exited (see $WORK/logs)"; fi
        if curl -s -o /dev/null -m 1 "http://127.0.0.1:$1$2"; then return 0; fi
        sleep 0.1
    done
    die "server on port $1 did not answer in 20 s"
}
start_snapshotd() {  # start_snapshotd NAME PORT [ARGS...]: a fresh store (--snapshot FILE); sets SERVER_PID
    local name=$1 port=$2; shift 2
    rm -rf "$WORK/tmp/$name"
    launch_snapshotd "$name" "$port" --snapshot "$WORK/tmp/$name/snapshot" "$@"
}
launch_snapshotd() {  # launch_snapshotd NAME PORT STORE_ARGS...: as given (--data-dir DIR or --snapshot FILE; nothing removed), until /readyz is 200; sets SERVER_PID
    local name=$1 port=$2; shift 2
    note "snapshotd-$name" "$SNAPSHOTD" serve --listen "127.0.0.1:$port" --log-level warning "$@"
    env "${SERVER_ENV[@]+"${SERVER_ENV[@]}"}" "$SNAPSHOTD" serve --listen "127.0.0.1:$port" \
        --log-level warning "$@" >>"$WORK/logs/snapshotd-$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_http "$port" /healthz
    local i
    for i in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    die "snapshotd $name not ready in 30 s"
}
start_nginx() {  # start_nginx PORT: sets SERVER_PID
    local port=$1 dir="$WORK/tmp/nginx"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
# make bench's nginx peer: one worker, POST /v1/events -> 204 (nginx reads and discards the body).
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$port;
        location = /v1/events { client_max_body_size 16m; return 204; }
    }
}
EOF
    note nginx nginx -p "$dir" -c "$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" >"$WORK/logs/nginx.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_http "$port" /
}
start_hummingbird() {
    local port=$1
    note hummingbird "$HB_PEER" "$port"
    "$HB_PEER" "$port" >"$WORK/logs/hummingbird.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_http "$port" /
}
stop_server() {
    local pid=$1 keep=() p
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
port() { python3 "$BENCH/bench.py" port; }

# wrk_post KEY RUN PORT CONNS SECONDS BODY CTYPE
# cpu_seconds PID: the user + system CPU time of PID and its children (nginx's workers), in
# seconds, from /proc/PID/stat (utime and stime, fields 14 and 15, counted after the command's
# closing parenthesis, which may hold spaces)
CLK_TCK=$(getconf CLK_TCK)
cpu_seconds() {
    local pid=$1 total=0 p ticks
    for p in "$pid" $(pgrep -P "$pid" 2>/dev/null); do
        ticks=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
        total=$((total + ${ticks:-0}))
    done
    python3 -c "print($total / $CLK_TCK)"
}
# cpu_json BEFORE: {"server_cpu_seconds": ...} since BEFORE (a cpu_seconds of MEASURE_PID), or {}
cpu_json() {
    [ -n "${MEASURE_PID:-}" ] && [ -n "$1" ] || { echo '{}'; return; }
    echo "{\"server_cpu_seconds\": $(python3 -c "print($(cpu_seconds "$MEASURE_PID") - $1)")}"
}

# wrk_post KEY RUN PORT CONNS SECONDS BODY CTYPE: wrk POSTing BODY, its result recorded; with
# MEASURE_PID set, the server's CPU time over the run too (the HTTP rows' CPU per request)
wrk_post() {
    local key=$1 run=$2 port=$3 conns=$4 secs=$5 body=$6 ctype=$7 before=
    note "wrk-${key%%.*}" BENCH_BODY="$body" BENCH_CTYPE="$ctype" wrk -t"$WRK_THREADS" -c"$conns" -d"${secs}s" -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$port/"
    [ -n "${MEASURE_PID:-}" ] && before=$(cpu_seconds "$MEASURE_PID")
    BENCH_BODY="$body" BENCH_CTYPE="$ctype" wrk -t"$WRK_THREADS" -c"$conns" -d"${secs}s" -s "$BENCH/wrk/post.lua" \
        "http://127.0.0.1:$port/" >"$WORK/logs/wrk-$key-$run.txt" 2>&1 || die "wrk failed ($key): $(tail -3 "$WORK/logs/wrk-$key-$run.txt")"
    local cpu; cpu=$(cpu_json "$before")
    grep -q "Socket errors: connect [1-9]" "$WORK/logs/wrk-$key-$run.txt" && die "wrk could not connect ($key); did the server die? see $WORK/logs"
    record "$key" "$run" "$cpu" <"$WORK/logs/wrk-$key-$run.txt"
}

ONE="$WORK/tmp/one-event.json"
printf '%s' '{"type":"member-join","members":[{"name":"node-1","addr":"10.0.0.1","port":7946}],"ltime":1}' >"$ONE"
NDJSON="$WORK/tmp/batch.ndjson"
python3 "$BENCH/bench.py" ndjson "$NDJSON" "$NDJSON_BATCH"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
TS=$(date +%s)

# ------------------------------------------------------------------ engine, in process
if want engine; then
    log "engine in-process: $ENGINE_EVENTS events, batch $ENGINE_BATCH; Swift buffered ($ENGINE_INFLIGHT in flight), Go serf, Swift fsync ($ENGINE_FSYNC_INFLIGHT and $ENGINE_INFLIGHT in flight); $ENGINE_RUNS runs"
    for run in $(seq "$ENGINE_RUNS"); do
        for workload in user member; do
            for mode in buffered go fsync fsync-small; do
                if [ $mode = go ]; then
                    note "engine-go" "$GOSNAP" bench throughput --workload "$workload" --events "$ENGINE_EVENTS" --dir "$WORK/tmp"
                    "$GOSNAP" bench throughput --workload "$workload" --events "$ENGINE_EVENTS" --dir "$WORK/tmp" |
                        record "engine.go.buffered.$workload" "$run"
                    continue
                fi
                # fsync mode completes a submission only once durable, so what it takes a second
                # depends on how many are outstanding: the target row uses as many as Go serf's
                # snapshotter holds (its 2048-event channel); 64 is reported beside it.
                inflight=$ENGINE_INFLIGHT key=$mode engine_mode=$mode
                case $mode in
                    fsync) inflight=$ENGINE_FSYNC_INFLIGHT ;;
                    fsync-small) engine_mode=fsync key="fsync$ENGINE_INFLIGHT" ;;
                esac
                note "engine-swift" "$ENGINE_BENCH" --events "$ENGINE_EVENTS" --in-flight "$inflight" --batch "$ENGINE_BATCH" --mode "$engine_mode" --workload "$workload" --json 1 --dir "$WORK/tmp/engine"
                "$ENGINE_BENCH" --events "$ENGINE_EVENTS" --in-flight "$inflight" --batch "$ENGINE_BATCH" \
                    --mode "$engine_mode" --workload "$workload" --json 1 --dir "$WORK/tmp/engine" |
                    record "engine.swift.$key.$workload" "$run"
            done
        done
    done
fi

# ------------------------------------------------------------------ replay
if want replay; then
    if [ $EXTRA = 1 ]; then
        log "replay: $REPLAY_RECORDS records; Go serf v1, snapshotd v1, snapshotd v2; $RUNS runs"
        note "replay-write" "$ENGINE_BENCH" --write-file "$WORK/tmp/replay-v1" --format v1 --records "$REPLAY_RECORDS"
        "$ENGINE_BENCH" --write-file "$WORK/tmp/replay-v1" --format v1 --records "$REPLAY_RECORDS" >/dev/null
        "$ENGINE_BENCH" --write-file "$WORK/tmp/replay-v2" --format v2 --records "$REPLAY_RECORDS" >/dev/null
        # Go serf must accept the v1 file (a read of the whole thing, untimed) before we time it.
        "$GOSNAP" read "$WORK/tmp/replay-v1" >/dev/null 2>"$WORK/logs/gosnap-read.log" || die "Go serf cannot read the v1 file"
        for run in $(seq "$RUNS"); do
            note "replay-go" "$GOSNAP" bench replay "$WORK/tmp/replay-v1"
            "$GOSNAP" bench replay "$WORK/tmp/replay-v1" | record replay.go.v1 "$run"
            note "replay-swift" "$ENGINE_BENCH" --replay-file "$WORK/tmp/replay-v1"
            "$ENGINE_BENCH" --replay-file "$WORK/tmp/replay-v1" | record replay.swift.v1 "$run"
            "$ENGINE_BENCH" --replay-file "$WORK/tmp/replay-v2" | record replay.swift.v2 "$run"
        done
        rm -f "$WORK/tmp/replay-v1" "$WORK/tmp/replay-v2"
    else
        SKIPPED+=("replay: $EXTRA_MISSING")
    fi
fi

# ------------------------------------------------------------------ recovery: checkpoint + log
if want recovery; then
    if [ $EXTRA = 1 ]; then
        log "recovery: checkpoints of $RECOVERY_NODES alive nodes + a log of $RECOVERY_RECORDS events: SnapshotEngine(path:) against Go serf on the same records as v1; $ENGINE_RUNS runs"
        for nodes in $RECOVERY_NODES; do
            store="$WORK/tmp/recovery-$nodes"
            note recovery-store "$ENGINE_BENCH" --recovery-store "$store" --records "$RECOVERY_RECORDS" --checkpoint-nodes "$nodes" --go-file "$store.v1"
            "$ENGINE_BENCH" --recovery-store "$store" --records "$RECOVERY_RECORDS" --checkpoint-nodes "$nodes" --go-file "$store.v1" |
                record "recovery.store.$nodes" 1
            # Go serf must accept the v1 file (a read of the whole thing, untimed) before we time it.
            "$GOSNAP" read "$store.v1" >/dev/null 2>"$WORK/logs/gosnap-read-recovery.log" || die "Go serf cannot read $store.v1"
        done
        sync
        for run in $(seq "$ENGINE_RUNS"); do
            for nodes in $RECOVERY_NODES; do
                store="$WORK/tmp/recovery-$nodes"
                note recovery-go "$GOSNAP" bench replay "$store.v1"
                "$GOSNAP" bench replay "$store.v1" | record "recovery.go.$nodes" "$run"
                note recovery-open "$ENGINE_BENCH" --recovery-open "$store/snapshot"
                "$ENGINE_BENCH" --recovery-open "$store/snapshot" | record "recovery.swift.$nodes" "$run"
            done
        done
        for nodes in $RECOVERY_NODES; do rm -rf "$WORK/tmp/recovery-$nodes" "$WORK/tmp/recovery-$nodes.v1"; done
    else
        SKIPPED+=("recovery: $EXTRA_MISSING")
    fi
fi

# ------------------------------------------------------------------ compaction stall
if want stall; then
    if [ $EXTRA = 1 ]; then
        log "compaction stall: $STALL_NODES alive nodes, 3 compactions a run, fsync and buffered; $RUNS runs"
        for run in $(seq "$RUNS"); do
            # The disk's own longest fdatasync over as many syncs, just before: no writer can
            # answer faster than the disk syncs, so that is the floor of the longest gap.
            mkdir -p "$WORK/tmp/stall"
            note fsyncfloor "$WORK/bin/fsyncfloor" "$WORK/tmp/stall" 10000 100
            "$WORK/bin/fsyncfloor" "$WORK/tmp/stall" 10000 100 | record stall.floor "$run"
            for mode in fsync buffered; do
                note "stall" "$ENGINE_BENCH" --compaction-stall --nodes "$STALL_NODES" --compactions 3 --mode "$mode" --dir "$WORK/tmp/stall"
                "$ENGINE_BENCH" --compaction-stall --nodes "$STALL_NODES" --compactions 3 --mode "$mode" --dir "$WORK/tmp/stall" |
                    record "stall.$mode" "$run"
            done
        done
    else
        SKIPPED+=("compaction stall: $EXTRA_MISSING")
    fi
fi

# ------------------------------------------------------------------ tail latency under checkpoints
if want checkpoint; then
    log "checkpoint tail latency: $CKPT_NODES alive nodes, wrk -t$WRK_THREADS -c$CKPT_CONNS ${CKPT_SECONDS}s one-event POSTs, without and with checkpoints back to back; $RUNS runs"
    P=$(port)
    # No checkpoint but the ones the loop asks for: the runs without have none at all.
    start_snapshotd checkpoint "$P" --min-compact-size 1099511627776
    PID=$SERVER_PID
    note populate python3 "$BENCH/bench.py" populate "$P" "$CKPT_NODES" 1000
    python3 "$BENCH/bench.py" populate "$P" "$CKPT_NODES" 1000 || die "populating $CKPT_NODES nodes failed"
    BENCH_BODY="$ONE" wrk -t1 -c"$CKPT_CONNS" -d1s -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$P/" >/dev/null 2>&1 || die "warm-up failed"
    loop_seconds=$(python3 -c "print($CKPT_SECONDS + 0.5)")
    for run in $(seq "$RUNS"); do
        for phase in quiet busy; do
            curl -sf "http://127.0.0.1:$P/metrics" >"$WORK/logs/ckpt-metrics-before.txt"
            LOOP=
            if [ $phase = busy ]; then
                note compact-loop python3 "$BENCH/bench.py" compact-loop "$P" "$loop_seconds"
                python3 "$BENCH/bench.py" compact-loop "$P" "$loop_seconds" >"$WORK/logs/ckpt-loop-$run.json" &
                LOOP=$!
                PIDS+=("$LOOP")
                sleep 0.2  # the first checkpoint is under way when the load starts
            fi
            note wrk-checkpoint BENCH_BODY="$ONE" BENCH_CTYPE=application/json wrk -t"$WRK_THREADS" -c"$CKPT_CONNS" -d"${CKPT_SECONDS}s" -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$P/"
            BENCH_BODY="$ONE" BENCH_CTYPE=application/json wrk -t"$WRK_THREADS" -c"$CKPT_CONNS" -d"${CKPT_SECONDS}s" -s "$BENCH/wrk/post.lua" \
                "http://127.0.0.1:$P/" >"$WORK/logs/wrk-ckpt-$phase-$run.txt" 2>&1 || die "wrk failed (checkpoint $phase)"
            if [ -n "$LOOP" ]; then
                wait "$LOOP" || die "the checkpoint loop failed"
                stop_server "$LOOP"
            fi
            curl -sf "http://127.0.0.1:$P/metrics" >"$WORK/logs/ckpt-metrics-after.txt"
            before=$(python3 "$BENCH/bench.py" metric "$WORK/logs/ckpt-metrics-before.txt" snapshotd_compactions_total)
            after=$(python3 "$BENCH/bench.py" metric "$WORK/logs/ckpt-metrics-after.txt" snapshotd_compactions_total)
            record "ckpt.$phase" "$run" "{\"checkpoints_during\": $(python3 -c "print(int(float($after) - float($before)))")}" \
                <"$WORK/logs/wrk-ckpt-$phase-$run.txt"
            if [ $phase = busy ]; then record ckpt.loop "$run" <"$WORK/logs/ckpt-loop-$run.json"; fi
        done
    done
    stop_server "$PID"
fi

# ------------------------------------------------------------------ peers with a disk: etcd, Redis (sections http and multi)
# The peers run from their Debian binaries on ports and in temp dirs of their own (under $WORK/tmp:
# the same disk as snapshotd's); cleanup (the EXIT trap) stops them and removes the dirs.
start_etcd() {  # start_etcd PORT: sets SERVER_PID
    local port=$1 peer dir
    peer=$(port)
    dir=$(mktemp -d "$WORK/tmp/etcd.XXXXXX")
    PEER_DIRS+=("$dir")
    local args=(--name bench --data-dir "$dir/data"
        --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port"
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer"
        --initial-cluster "bench=http://127.0.0.1:$peer" --initial-cluster-state new
        --logger zap --log-level warn)
    note etcd etcd "${args[@]}"
    etcd "${args[@]}" >"$WORK/logs/etcd.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for i in $(seq 200); do
        kill -0 "$SERVER_PID" 2>/dev/null || die "etcd exited (see $WORK/logs/etcd.log)"
        curl -sf -m 1 "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"' && return 0
        sleep 0.1
    done
    die "etcd on port $port not healthy in 20 s (see $WORK/logs/etcd.log)"
}
start_redis() {  # start_redis PORT: sets SERVER_PID
    local port=$1 dir
    dir=$(mktemp -d "$WORK/tmp/redis.XXXXXX")
    PEER_DIRS+=("$dir")
    local args=(--port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync always
        --save "" --daemonize no --logfile "$dir/redis.log")
    note redis redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync always --save "''" --daemonize no --logfile "$dir/redis.log"
    redis-server "${args[@]}" >"$WORK/logs/redis.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for i in $(seq 200); do
        kill -0 "$SERVER_PID" 2>/dev/null || die "redis-server exited (see $dir/redis.log)"
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(redis-cli -p "$port" config get appendfsync 2>/dev/null | tail -1)" = always ] ||
        die "redis on port $port did not start (or not with appendfsync always; see $dir/redis.log)"
}
# wrk_multi KEY RUN PORT CONNS SCRIPT ENV...: wrk -t$WRK_THREADS -c CONNS with a Lua script of
# Benchmarks/wrk/ and its environment (NAME=VALUE words)
wrk_multi() {
    local key=$1 run=$2 port=$3 conns=$4 script=$5; shift 5
    note "wrk-${key%.c*}" "$@" wrk -t"$WRK_THREADS" -c"$conns" -d"${MULTI_SECONDS}s" -s "$BENCH/wrk/$script" "http://127.0.0.1:$port/"
    env "$@" wrk -t"$WRK_THREADS" -c"$conns" -d"${MULTI_SECONDS}s" -s "$BENCH/wrk/$script" "http://127.0.0.1:$port/" \
        >"$WORK/logs/wrk-$key-$run.txt" 2>&1 || die "wrk failed ($key): $(tail -3 "$WORK/logs/wrk-$key-$run.txt")"
    grep -q "Socket errors: connect [1-9]" "$WORK/logs/wrk-$key-$run.txt" && die "wrk could not connect ($key); did the server die? see $WORK/logs"
    record "$key" "$run" <"$WORK/logs/wrk-$key-$run.txt"
}
# redis_set KEY RUN PORT CONNS REQUESTS [KEYS]: redis-benchmark SET of the one-event body's size over
# KEYS random keys (default MULTI_NAMES; 1: one key), its CSV line (requests/s, latency) recorded as JSON
redis_set() {
    local key=$1 run=$2 port=$3 conns=$4 n=$5 keys=${6:-$MULTI_NAMES} before=
    local spread=(-r "$keys")
    [ "$keys" = 1 ] && spread=()
    note redis-benchmark redis-benchmark -h 127.0.0.1 -p "$port" -t set "${spread[@]}" -d "$ONE_BYTES" -c "$conns" -n "$n" --csv
    [ -n "${MEASURE_PID:-}" ] && before=$(cpu_seconds "$MEASURE_PID")
    redis-benchmark -h 127.0.0.1 -p "$port" -t set "${spread[@]}" -d "$ONE_BYTES" -c "$conns" -n "$n" --csv \
        >"$WORK/logs/redis-$key-$run.txt" 2>&1 || die "redis-benchmark failed ($key): $(tail -3 "$WORK/logs/redis-$key-$run.txt")"
    local cpu; cpu=$(cpu_json "$before")
    python3 "$BENCH/bench.py" redis-csv "$n" "$conns" <"$WORK/logs/redis-$key-$run.txt" | record "$key" "$run" "$cpu"
}
# redis_requests PORT CONNS SECONDS [KEYS]: a SET count that takes redis-benchmark about SECONDS at
# CONNS (it takes a count, not a duration), from an untimed first pass of 20,000
redis_requests() {
    local port=$1 conns=$2 seconds=$3 keys=${4:-$MULTI_NAMES}
    local spread=(-r "$keys")
    [ "$keys" = 1 ] && spread=()
    redis-benchmark -h 127.0.0.1 -p "$port" -t set "${spread[@]}" -d "$ONE_BYTES" -c "$conns" -n 20000 --csv \
        >"$WORK/logs/redis-sizing-$keys-c$conns.txt" 2>&1 || die "redis-benchmark warm-up failed: $(tail -3 "$WORK/logs/redis-sizing-$keys-c$conns.txt")"
    python3 "$BENCH/bench.py" redis-csv 20000 "$conns" <"$WORK/logs/redis-sizing-$keys-c$conns.txt" |
        python3 -c "import json, sys; print(max(20000, int(json.load(sys.stdin)['requests_per_second'] * $seconds) // 1000 * 1000))"
}

# ------------------------------------------------------------------ HTTP, one event per POST
if want http; then
    log "HTTP one event per POST: snapshotd (fsync and buffered), nginx, Hummingbird, Redis SET (appendfsync always, one key); wrk -t$WRK_THREADS -c8/-c64 ${HTTP_SECONDS}s; $RUNS runs"
    ONE_BYTES=$(wc -c <"$ONE")
    P_OURS=$(port); start_snapshotd http "$P_OURS"; PID_OURS=$SERVER_PID
    P_BUF=$(port); start_snapshotd http-buffered "$P_BUF" --durability buffered; PID_BUF=$SERVER_PID
    P_NGINX=$(port); start_nginx "$P_NGINX"; PID_NGINX=$SERVER_PID
    P_HB=$(port); start_hummingbird "$P_HB"; PID_HB=$SERVER_PID
    P_REDIS=$(port); start_redis "$P_REDIS"; PID_REDIS=$SERVER_PID
    for target in "ours $P_OURS" "buffered $P_BUF" "nginx $P_NGINX" "hummingbird $P_HB"; do
        set -- $target
        BENCH_BODY="$ONE" wrk -t1 -c8 -d1s -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$2/" >/dev/null 2>&1 || die "warm-up of $1 failed"
    done
    declare -A REDIS_ONE_N
    for conns in 8 64; do
        REDIS_ONE_N[$conns]=$(redis_requests "$P_REDIS" "$conns" "$HTTP_SECONDS" 1)
    done
    for run in $(seq "$RUNS"); do
        for conns in 8 64; do
            MEASURE_PID=$PID_OURS wrk_post "http.ours.c$conns" "$run" "$P_OURS" "$conns" "$HTTP_SECONDS" "$ONE" application/json
            MEASURE_PID=$PID_NGINX wrk_post "http.nginx.c$conns" "$run" "$P_NGINX" "$conns" "$HTTP_SECONDS" "$ONE" application/json
            MEASURE_PID=$PID_HB wrk_post "http.hummingbird.c$conns" "$run" "$P_HB" "$conns" "$HTTP_SECONDS" "$ONE" application/json
            MEASURE_PID=$PID_REDIS redis_set "http.redis.c$conns" "$run" "$P_REDIS" "$conns" "${REDIS_ONE_N[$conns]}" 1
            MEASURE_PID=$PID_BUF wrk_post "http.buffered.c$conns" "$run" "$P_BUF" "$conns" "$HTTP_SECONDS" "$ONE" application/json
        done
    done
    stop_server "$PID_REDIS"
    stop_server "$PID_NGINX"
    stop_server "$PID_HB"
    stop_server "$PID_BUF"
    stop_server "$PID_OURS"
fi

if want multi; then
    log "many names: snapshotd spread over $MULTI_NAMES named snapshots vs one, etcd PUTs over $MULTI_NAMES keys, Redis SET (appendfsync always) over $MULTI_NAMES keys; -c8/-c64 ${MULTI_SECONDS}s; $RUNS runs"
    ONE_BYTES=$(wc -c <"$ONE")
    P_SPREAD=$(port); start_snapshotd multi-spread "$P_SPREAD"; PID_SPREAD=$SERVER_PID
    P_SINGLE=$(port); start_snapshotd multi-one "$P_SINGLE"; PID_SINGLE=$SERVER_PID
    P_ETCD=$(port); start_etcd "$P_ETCD"; PID_ETCD=$SERVER_PID
    P_REDIS=$(port); start_redis "$P_REDIS"; PID_REDIS=$SERVER_PID
    # The names exist before anything is timed (a first write creates a snapshot): one POST each,
    # untimed. A 404 means this snapshotd has no named snapshots: the spread rows are not run (the
    # peers still are), and the bench ends with status 3.
    SPREAD=1
    note multi-create python3 "$BENCH/bench.py" create-names "$P_SPREAD" "$MULTI_NAMES" "$ONE"
    create_rc=0
    python3 "$BENCH/bench.py" create-names "$P_SPREAD" "$MULTI_NAMES" "$ONE" 2>"$WORK/logs/multi-create.txt" || create_rc=$?
    cat "$WORK/logs/multi-create.txt" >&2
    case $create_rc in
        0) ;;
        4) SPREAD=0
           echo "[bench] multi: POST /v1/snapshots/s0000/events answered 404: this snapshotd has no named snapshots; the spread rows are NOT RUN" >&2
           SKIPPED+=("multi, spread over $MULTI_NAMES named snapshots: POST /v1/snapshots/{name}/events answered 404 (no named snapshots in this snapshotd)") ;;
        *) die "creating the $MULTI_NAMES named snapshots failed (see above)" ;;
    esac
    # etcd's gateway must take a put and give it back before it is timed.
    curl -sf -X POST -d '{"key":"Y2hlY2s=","value":"b2s="}' "http://127.0.0.1:$P_ETCD/v3/kv/put" >/dev/null || die "etcd: PUT through /v3/kv/put failed"
    curl -sf -X POST -d '{"key":"Y2hlY2s="}' "http://127.0.0.1:$P_ETCD/v3/kv/range" | grep -q '"value":"b2s="' || die "etcd: the put is not read back through /v3/kv/range"
    SPREAD_ENV=("BENCH_BODY=$ONE" BENCH_CTYPE=application/json "BENCH_NAMES=$MULTI_NAMES")
    # The one-snapshot load goes through the same script (one path for every request), so the
    # client does the same work per request in both.
    SINGLE_ENV=("BENCH_BODY=$ONE" BENCH_CTYPE=application/json "BENCH_NAMES=$MULTI_NAMES" BENCH_PATH=/v1/events)
    ETCD_ENV=("BENCH_BODY=$ONE" "BENCH_KEYS=$MULTI_NAMES")
    # Warm-up (1 s each at -c8; not recorded); redis-benchmark takes a request count, not a
    # duration: a first pass at each concurrency sizes -n for about MULTI_SECONDS.
    [ $SPREAD = 1 ] && { env "${SPREAD_ENV[@]}" wrk -t1 -c8 -d1s -s "$BENCH/wrk/spread.lua" "http://127.0.0.1:$P_SPREAD/" >/dev/null 2>&1 || die "warm-up of the spread load failed"; }
    env "${SINGLE_ENV[@]}" wrk -t1 -c8 -d1s -s "$BENCH/wrk/spread.lua" "http://127.0.0.1:$P_SINGLE/" >/dev/null 2>&1 || die "warm-up of the one-snapshot load failed"
    env "${ETCD_ENV[@]}" wrk -t1 -c8 -d1s -s "$BENCH/wrk/etcd-put.lua" "http://127.0.0.1:$P_ETCD/" >/dev/null 2>&1 || die "warm-up of etcd failed"
    declare -A REDIS_N
    for conns in 8 64; do
        REDIS_N[$conns]=$(redis_requests "$P_REDIS" "$conns" "$MULTI_SECONDS")
    done
    echo "[bench] multi: redis-benchmark -n ${REDIS_N[8]} at -c8, ${REDIS_N[64]} at -c64 (about ${MULTI_SECONDS}s each)" >&2
    for run in $(seq "$RUNS"); do
        for conns in 8 64; do
            [ $SPREAD = 1 ] && wrk_multi "multi.spread.c$conns" "$run" "$P_SPREAD" "$conns" spread.lua "${SPREAD_ENV[@]}"
            wrk_multi "multi.one.c$conns" "$run" "$P_SINGLE" "$conns" spread.lua "${SINGLE_ENV[@]}"
            wrk_multi "multi.etcd.c$conns" "$run" "$P_ETCD" "$conns" etcd-put.lua "${ETCD_ENV[@]}"
            redis_set "multi.redis.c$conns" "$run" "$P_REDIS" "$conns" "${REDIS_N[$conns]}"
        done
    done
    # What the peers hold afterwards: every key written, and nothing else lost on the way.
    etcd_keys=$(curl -sf -X POST -d '{"key":"aw==","range_end":"bA==","count_only":true}' "http://127.0.0.1:$P_ETCD/v3/kv/range" |
        python3 -c 'import json, sys; print(int(json.load(sys.stdin).get("count", 0)))')
    redis_keys=$(redis-cli -p "$P_REDIS" dbsize)
    named=n/a snapshots=null
    if [ $SPREAD = 1 ]; then
        named=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_SPREAD/v1/snapshots/s$(printf '%04d' $((MULTI_NAMES - 1)))")
        curl -sf "http://127.0.0.1:$P_SPREAD/metrics" >"$WORK/logs/multi-spread-metrics.txt" || die "GET /metrics failed after the spread load"
        snapshots=$(python3 "$BENCH/bench.py" metric "$WORK/logs/multi-spread-metrics.txt" snapshotd_snapshots)
    fi
    echo "{\"etcd_keys\": $etcd_keys, \"redis_keys\": $redis_keys, \"last_name_status\": \"$named\", \"spread_snapshots\": $snapshots}" | record multi.after 1
    stop_server "$PID_REDIS"
    stop_server "$PID_ETCD"
    stop_server "$PID_SINGLE"
    stop_server "$PID_SPREAD"
    for d in "${PEER_DIRS[@]}"; do rm -rf "$d"; done
    PEER_DIRS=()
    # The design the one log replaces: every snapshot its own file, each fdatasynced, for the
    # same spread (a batch of 64 events over 64 of the $MULTI_NAMES files), one thread and four;
    # beside it the same batches as one append + one fdatasync of one file. Disk only, no HTTP.
    mkdir -p "$WORK/tmp/perfile"
    for run in $(seq "$RUNS"); do
        for threads in 1 4; do
            note perfilesync "$WORK/bin/perfilesync" "$WORK/tmp/perfile" "$MULTI_NAMES" 64 200 "$threads" 92
            "$WORK/bin/perfilesync" "$WORK/tmp/perfile" "$MULTI_NAMES" 64 200 "$threads" 92 | record "multi.perfile.t$threads" "$run"
        done
    done
    rm -rf "$WORK/tmp/perfile"
fi

# ------------------------------------------------------------------ fairness: a quiet snapshot beside a flooding one
if want fairness; then
    log "fairness: a quiet snapshot at $FAIR_RATE one-event POSTs/s (ratecli, 1 connection) for ${FAIR_SECONDS}s alone, beside wrk -t1 -c$FAIR_CONNS one-event POSTs to another snapshot, and beside $FAIR_BATCH-event NDJSON POSTs; $RUNS runs interleaved"
    FLOOD_NDJSON="$WORK/tmp/flood-$FAIR_BATCH.ndjson"
    python3 "$BENCH/bench.py" ndjson "$FLOOD_NDJSON" "$FAIR_BATCH"
    P=$(port)
    rm -rf "$WORK/tmp/fairness"
    launch_snapshotd fairness "$P" --data-dir "$WORK/tmp/fairness"
    PID=$SERVER_PID
    QUIET_PATH=/v1/snapshots/quiet/events
    FLOOD_PATH=/v1/snapshots/flood/events
    # Both snapshots exist before anything is timed (a first write creates one).
    for path in "$QUIET_PATH" "$FLOOD_PATH"; do
        code=$(curl -s -o "$WORK/logs/fairness-create.txt" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            --data-binary @"$ONE" "http://127.0.0.1:$P$path")
        [ "$code" = 200 ] || die "fairness: POST $path answered $code: $(head -c 300 "$WORK/logs/fairness-create.txt")"
    done
    # Warm-up, not recorded.
    "$WORK/bin/ratecli" 127.0.0.1 "$P" "$FAIR_RATE" 1 1 0.5 "$ONE" application/json "$QUIET_PATH" >/dev/null || die "fairness: warm-up of the quiet client failed"
    BENCH_BODY="$ONE" BENCH_CTYPE=application/json BENCH_PATH="$FLOOD_PATH" wrk -t1 -c"$FAIR_CONNS" -d1s -s "$BENCH/wrk/flood.lua" \
        "http://127.0.0.1:$P/" >/dev/null 2>&1 || die "fairness: warm-up of the flood failed"
    warm=$(python3 -c "print(min(1.0, $FAIR_SECONDS / 10))")
    flood_seconds=$((FAIR_SECONDS + 2))  # starts 1 s before the quiet client, ends about 1 s after it
    for run in $(seq "$RUNS"); do
        for variant in alone single ndjson; do
            WRK_PID=
            case $variant in
                single) body=$ONE ctype=application/json batch=1 ;;
                ndjson) body=$FLOOD_NDJSON ctype=application/x-ndjson batch=$FAIR_BATCH ;;
            esac
            if [ $variant != alone ]; then
                note "wrk-flood-$variant" BENCH_BODY="$body" BENCH_CTYPE="$ctype" BENCH_PATH="$FLOOD_PATH" wrk -t1 -c"$FAIR_CONNS" -d"${flood_seconds}s" -s "$BENCH/wrk/flood.lua" "http://127.0.0.1:$P/"
                BENCH_BODY="$body" BENCH_CTYPE="$ctype" BENCH_PATH="$FLOOD_PATH" wrk -t1 -c"$FAIR_CONNS" -d"${flood_seconds}s" -s "$BENCH/wrk/flood.lua" \
                    "http://127.0.0.1:$P/" >"$WORK/logs/wrk-flood-$variant-$run.txt" 2>&1 &
                WRK_PID=$!
                PIDS+=("$WRK_PID")
                sleep 1
            fi
            note ratecli-quiet "$WORK/bin/ratecli" 127.0.0.1 "$P" "$FAIR_RATE" "$FAIR_SECONDS" 1 "$warm" "$ONE" application/json "$QUIET_PATH"
            "$WORK/bin/ratecli" 127.0.0.1 "$P" "$FAIR_RATE" "$FAIR_SECONDS" 1 "$warm" "$ONE" application/json "$QUIET_PATH" \
                >"$WORK/logs/ratecli-quiet-$variant-$run.json" || die "fairness: the quiet client had connection errors: $(cat "$WORK/logs/ratecli-quiet-$variant-$run.json")"
            record "fair.quiet.$variant" "$run" <"$WORK/logs/ratecli-quiet-$variant-$run.json"
            if [ -n "$WRK_PID" ]; then
                kill -0 "$WRK_PID" 2>/dev/null || die "fairness: the flood (wrk) ended before the quiet client did: $(tail -3 "$WORK/logs/wrk-flood-$variant-$run.txt")"
                wait "$WRK_PID" || die "fairness: wrk failed ($variant): $(tail -3 "$WORK/logs/wrk-flood-$variant-$run.txt")"
                stop_server "$WRK_PID"
                grep -q "Socket errors: connect [1-9]" "$WORK/logs/wrk-flood-$variant-$run.txt" && die "fairness: wrk could not connect; did the server die? see $WORK/logs"
                record "fair.flood.$variant" "$run" "{\"batch\": $batch}" <"$WORK/logs/wrk-flood-$variant-$run.txt"
            fi
        done
    done
    curl -sf "http://127.0.0.1:$P/v1/snapshots/quiet/stats" >"$WORK/logs/fairness-quiet-stats.json" || die "fairness: GET /v1/snapshots/quiet/stats failed"
    curl -sf "http://127.0.0.1:$P/v1/snapshots/flood/stats" >"$WORK/logs/fairness-flood-stats.json" || die "fairness: GET /v1/snapshots/flood/stats failed"
    stop_server "$PID"
    rm -rf "$WORK/tmp/fairness"
fi

# ------------------------------------------------------------------ HTTP, NDJSON batches
if want ndjson; then
    log "HTTP NDJSON: $NDJSON_BATCH events a POST, snapshotd (fsync), wrk -t$WRK_THREADS -c8 ${HTTP_SECONDS}s; $RUNS runs"
    P=$(port); start_snapshotd ndjson "$P"; PID=$SERVER_PID
    BENCH_BODY="$NDJSON" BENCH_CTYPE=application/x-ndjson wrk -t1 -c8 -d1s -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$P/" >/dev/null 2>&1
    for run in $(seq "$RUNS"); do
        wrk_post ndjson.ours.c8 "$run" "$P" 8 "$HTTP_SECONDS" "$NDJSON" application/x-ndjson
    done
    stop_server "$PID"
fi

# ------------------------------------------------------------------ fixed-rate latency
if want latency; then
    log "latency: $LAT_RATE requests/s for ${LAT_SECONDS}s over $LAT_CONNS connections (open loop): fsync floor, snapshotd, Redis appendfsync always (the durable peer), nginx (the client's own floor); $RUNS runs"
    P=$(port); start_snapshotd latency "$P"; PID=$SERVER_PID
    P_NGINX=$(port); start_nginx "$P_NGINX"; PID_NGINX=$SERVER_PID
    P_REDIS=$(port); start_redis "$P_REDIS"; PID_REDIS=$SERVER_PID
    "$WORK/bin/ratecli" 127.0.0.1 "$P" 2000 1 8 0.5 "$ONE" application/json >/dev/null  # warm-up
    "$WORK/bin/ratecli" 127.0.0.1 "$P_REDIS" 2000 1 8 0.5 "$ONE" redis >/dev/null
    warm=$(python3 -c "print(min(1.0, $LAT_SECONDS / 5))")
    for run in $(seq "$RUNS"); do
        note fsyncfloor "$WORK/bin/fsyncfloor" "$WORK/tmp/latency" 2000 100
        "$WORK/bin/fsyncfloor" "$WORK/tmp/latency" 2000 100 | record fsyncfloor "$run"
        for target in "ours $P application/json" "redis $P_REDIS redis" "nginx $P_NGINX application/json"; do
            set -- $target
            # snapshotd's own fdatasync histogram around the run: the disk's latency under this
            # very load, which bounds a durable ack (a request that arrives during a sync waits
            # for it and for its own).
            [ "$1" = ours ] && curl -sf "http://127.0.0.1:$2/metrics" >"$WORK/logs/metrics-before-$run.txt"
            note ratecli "$WORK/bin/ratecli" 127.0.0.1 "$2" "$LAT_RATE" "$LAT_SECONDS" "$LAT_CONNS" "$warm" "$ONE" "$3"
            "$WORK/bin/ratecli" 127.0.0.1 "$2" "$LAT_RATE" "$LAT_SECONDS" "$LAT_CONNS" "$warm" "$ONE" "$3" \
                >"$WORK/logs/ratecli-$1-$run.json" || die "ratecli reported connection errors: $(cat "$WORK/logs/ratecli-$1-$run.json")"
            record "latency.$1" "$run" <"$WORK/logs/ratecli-$1-$run.json"
            if [ "$1" = ours ]; then
                curl -sf "http://127.0.0.1:$2/metrics" >"$WORK/logs/metrics-after-$run.txt"
                python3 "$BENCH/bench.py" fsync-load "$WORK/logs/metrics-before-$run.txt" "$WORK/logs/metrics-after-$run.txt" |
                    record latency.fsync_load "$run"
            fi
        done
    done
    stop_server "$PID_REDIS"
    stop_server "$PID_NGINX"
    stop_server "$PID"
fi

# ------------------------------------------------------------------ fdatasync: preallocated vs growing
if want segsync; then
    log "fdatasync after a $SEGSYNC_BYTES-byte append: growing, preallocated (posix_fallocate) and written-zeros files, $SEGSYNC_COUNT each, idle and under wrk -c$SEGSYNC_CONNS on snapshotd; $RUNS runs"
    mkdir -p "$WORK/tmp/segsync"
    P=$(port); start_snapshotd segsync "$P"; PID=$SERVER_PID
    modes=(grow prealloc zeroed)
    for run in $(seq "$RUNS"); do
        k=$(( (run - 1) % ${#modes[@]} ))
        order=("${modes[@]:$k}" "${modes[@]:0:$k}")  # a different mode first in each run
        for load in idle load; do
            WRK_PID=
            if [ $load = load ]; then
                note wrk-segsync BENCH_BODY="$ONE" BENCH_CTYPE=application/json wrk -t"$WRK_THREADS" -c"$SEGSYNC_CONNS" -d600s -s "$BENCH/wrk/post.lua" "http://127.0.0.1:$P/" "(stopped once the measurements are done)"
                BENCH_BODY="$ONE" BENCH_CTYPE=application/json wrk -t"$WRK_THREADS" -c"$SEGSYNC_CONNS" -d600s -s "$BENCH/wrk/post.lua" \
                    "http://127.0.0.1:$P/" >"$WORK/logs/wrk-segsync-$run.txt" 2>&1 &
                WRK_PID=$!
                PIDS+=("$WRK_PID")
                sleep 1
            fi
            for mode in "${order[@]}"; do
                note "fsyncfloor-$mode" "$WORK/bin/fsyncfloor" "$WORK/tmp/segsync" "$SEGSYNC_COUNT" "$SEGSYNC_BYTES" "$mode"
                "$WORK/bin/fsyncfloor" "$WORK/tmp/segsync" "$SEGSYNC_COUNT" "$SEGSYNC_BYTES" "$mode" | record "segsync.$load.$mode" "$run"
            done
            if [ -n "$WRK_PID" ]; then
                kill -0 "$WRK_PID" 2>/dev/null || die "the load (wrk) ended before the measurements did: $(tail -3 "$WORK/logs/wrk-segsync-$run.txt")"
                stop_server "$WRK_PID"
            fi
        done
    done
    stop_server "$PID"
fi

# ------------------------------------------------------------------ memory over an overload
if want overload; then
    log "overload: ${OVERLOAD_SECONDS}s of overloadcli, $OVERLOAD_CONNS connections x $OVERLOAD_NAMES names, fdatasync slowed by ${OVERLOAD_DELAY_MS} ms, $OVERLOAD_ARGS"
    P=$(port)
    # shellcheck disable=SC2086
    start_snapshotd overload "$P" --simulate-sync-delay-ms "$OVERLOAD_DELAY_MS" $OVERLOAD_ARGS
    PID=$SERVER_PID
    RSS="$WORK/logs/overload-rss.txt"
    : >"$RSS"
    ( while kill -0 "$PID" 2>/dev/null; do
          awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null >>"$RSS" || true
          sleep 1
      done ) &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
    EXPECT="$WORK/logs/overload-expect.txt"
    note overload "$WORK/bin/overloadcli" 127.0.0.1 "$P" "$OVERLOAD_SECONDS" "$OVERLOAD_CONNS" "$OVERLOAD_NAMES" "$EXPECT"
    "$WORK/bin/overloadcli" 127.0.0.1 "$P" "$OVERLOAD_SECONDS" "$OVERLOAD_CONNS" "$OVERLOAD_NAMES" "$EXPECT" \
        >"$WORK/logs/overload-client.json" || die "overloadcli failed"
    stop_server "$SAMPLER"
    curl -sf "http://127.0.0.1:$P/v1/snapshot" >"$WORK/logs/overload-snapshot.json" || die "GET /v1/snapshot failed after the overload"
    stop_server "$PID"
    "$SNAPSHOTD" inspect --json "$WORK/tmp/overload/snapshot" >"$WORK/logs/overload-inspect.json" || die "snapshotd inspect failed"
    python3 "$BENCH/bench.py" overload "$RESULTS" "$WORK/logs/overload-client.json" "$RSS" "$EXPECT" \
        "$WORK/logs/overload-snapshot.json" "$WORK/logs/overload-inspect.json" \
        "$OVERLOAD_SECONDS" "$OVERLOAD_WARMUP" "$OVERLOAD_CONNS" "$OVERLOAD_DELAY_MS"
fi

# ------------------------------------------------------------------ memory: 10,000 snapshots x 100 alive nodes
if want memory; then
    log "memory: $MEM_SNAPSHOTS named snapshots x $MEM_NODES alive nodes (one NDJSON POST each, $MEM_CONNS connections) on a fresh --data-dir: VmRSS before and after; then SIGTERM and a restart until /readyz is 200, $RUNS times"
    P=$(port)
    MEM_DIR="$WORK/tmp/memory"
    rm -rf "$MEM_DIR"
    MEM_ARGS=(--data-dir "$MEM_DIR" --max-snapshots $((MEM_SNAPSHOTS + 1)))  # the count includes default
    launch_snapshotd memory "$P" "${MEM_ARGS[@]}"
    PID=$SERVER_PID
    sleep 1
    python3 "$BENCH/bench.py" vmrss "$PID" >"$WORK/logs/memory-rss-before.json"
    note memory-load python3 "$BENCH/bench.py" load-snapshots "$P" "$MEM_SNAPSHOTS" "$MEM_NODES" "$MEM_CONNS"
    python3 "$BENCH/bench.py" load-snapshots "$P" "$MEM_SNAPSHOTS" "$MEM_NODES" "$MEM_CONNS" >"$WORK/logs/memory-load.json" ||
        die "memory: loading $MEM_SNAPSHOTS snapshots failed"
    # Right after the last acknowledgement, and again 5 s later (background work settled).
    python3 "$BENCH/bench.py" vmrss "$PID" >"$WORK/logs/memory-rss-after.json"
    sleep 5
    python3 "$BENCH/bench.py" vmrss "$PID" >"$WORK/logs/memory-rss-settled.json"
    cp "/proc/$PID/smaps" "$WORK/logs/memory-smaps.txt" 2>/dev/null || true
    curl -sf "http://127.0.0.1:$P/metrics" >"$WORK/logs/memory-metrics.txt" || die "memory: GET /metrics failed"
    mem_snapshots=$(python3 "$BENCH/bench.py" metric "$WORK/logs/memory-metrics.txt" snapshotd_snapshots)
    mem_alive=$(python3 "$BENCH/bench.py" metric "$WORK/logs/memory-metrics.txt" snapshotd_store_alive_nodes)
    mem_disk=$(du -sb "$MEM_DIR" | cut -f1)
    python3 "$BENCH/bench.py" memory-summary "$WORK/logs" "$mem_snapshots" "$mem_alive" "$mem_disk" "$MEM_SNAPSHOTS" "$MEM_NODES" |
        record memory.load 1
    for run in $(seq "$RUNS"); do
        t0=$EPOCHREALTIME
        stop_server "$PID"
        t1=$EPOCHREALTIME
        note memory-restart "$SNAPSHOTD" serve --listen "127.0.0.1:$P" --log-level warning "${MEM_ARGS[@]}" "(SIGTERM first; timed from the start until /readyz answers 200, polled every 10 ms)"
        "$SNAPSHOTD" serve --listen "127.0.0.1:$P" --log-level warning "${MEM_ARGS[@]}" >>"$WORK/logs/snapshotd-memory.log" 2>&1 &
        SERVER_PID=$!
        PID=$SERVER_PID
        PIDS+=("$PID")
        ready=
        for _ in $(seq 30000); do
            kill -0 "$PID" 2>/dev/null || die "memory: snapshotd exited on restart (see $WORK/logs/snapshotd-memory.log)"
            if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$P/readyz")" = 200 ]; then ready=$EPOCHREALTIME; break; fi
            sleep 0.01
        done
        [ -n "$ready" ] || die "memory: snapshotd not ready in 300 s after a restart"
        python3 "$BENCH/bench.py" vmrss "$PID" >"$WORK/logs/memory-rss-restart-$run.json"
        curl -sf "http://127.0.0.1:$P/metrics" >"$WORK/logs/memory-metrics-restart-$run.txt" || die "memory: GET /metrics failed after a restart"
        r_alive=$(python3 "$BENCH/bench.py" metric "$WORK/logs/memory-metrics-restart-$run.txt" snapshotd_store_alive_nodes)
        r_snapshots=$(python3 "$BENCH/bench.py" metric "$WORK/logs/memory-metrics-restart-$run.txt" snapshotd_snapshots)
        python3 "$BENCH/bench.py" restart-summary "$WORK/logs/memory-rss-restart-$run.json" "$t0" "$t1" "$ready" "$r_alive" "$r_snapshots" |
            record memory.restart "$run"
    done
    stop_server "$PID"
    rm -rf "$MEM_DIR"
fi

# ------------------------------------------------------------------ allocations per event
if want allocs; then
    log "allocations per event (LD_PRELOAD alloccount.so)"
    if [ $EXTRA = 1 ]; then
        for run in $(seq "$RUNS"); do
            for mode in fsync buffered; do
                for workload in user member; do
                    note alloc-engine LD_PRELOAD="$WORK/bin/alloccount.so" "$ENGINE_BENCH" --alloc-count --events "$ALLOC_EVENTS" --workload "$workload" --mode "$mode" --in-flight "$ENGINE_INFLIGHT" --batch "$ENGINE_BATCH" --dir "$WORK/tmp/alloc"
                    LD_PRELOAD="$WORK/bin/alloccount.so" "$ENGINE_BENCH" --alloc-count --events "$ALLOC_EVENTS" --workload "$workload" \
                        --mode "$mode" --in-flight "$ENGINE_INFLIGHT" --batch "$ENGINE_BATCH" --dir "$WORK/tmp/alloc" |
                        record "alloc.engine.$mode.$workload" "$run"
                done
            done
        done
    else
        SKIPPED+=("engine allocations: $EXTRA_MISSING")
    fi
    # The HTTP path: the server counts; SIGUSR2 appends its count to a file between load phases.
    P=$(port)
    COUNTS="$WORK/logs/alloc-counts.txt"
    : >"$COUNTS"
    reading() {
        local before
        before=$(wc -l <"$COUNTS")
        kill -USR2 "$PID"
        for _ in $(seq 50); do [ "$(wc -l <"$COUNTS")" -gt "$before" ] && return 0; sleep 0.1; done
        die "no allocation count from snapshotd (is alloccount.so loaded?)"
    }
    SERVER_ENV=("ALLOCCOUNT_FILE=$COUNTS" "LD_PRELOAD=$WORK/bin/alloccount.so")
    start_snapshotd alloc "$P"
    PID=$SERVER_PID
    SERVER_ENV=()
    note alloc-http "ALLOCCOUNT_FILE=... LD_PRELOAD=$WORK/bin/alloccount.so snapshotd serve ...; ratecli at 2,000 req/s for 2 s (one event) and 20 req/s for 2 s ($NDJSON_BATCH-event NDJSON), kill -USR2 between"
    "$WORK/bin/ratecli" 127.0.0.1 "$P" 1000 1 8 0.5 "$ONE" application/json >/dev/null  # warm-up
    for run in $(seq "$RUNS"); do
        reading
        "$WORK/bin/ratecli" 127.0.0.1 "$P" 2000 2 8 0.1 "$ONE" application/json >"$WORK/logs/alloc-single.json"
        reading
        "$WORK/bin/ratecli" 127.0.0.1 "$P" 20 2 4 0.1 "$NDJSON" application/x-ndjson >"$WORK/logs/alloc-ndjson.json"
        reading
        read -r single ndjson < <(python3 "$BENCH/bench.py" alloc-deltas "$COUNTS" | awk '{ print $(NF-1), $NF }')
        python3 - "$WORK/logs/alloc-single.json" "$single" 1 <<'EOF' | record alloc.http.single-event-posts "$run"
import json, sys
d = json.load(open(sys.argv[1])); n = d["ok"] * int(sys.argv[3])
print(json.dumps({"requests": d["ok"], "events": n, "allocations": int(sys.argv[2]), "allocations_per_event": int(sys.argv[2]) / n}))
EOF
        python3 - "$WORK/logs/alloc-ndjson.json" "$ndjson" "$NDJSON_BATCH" <<'EOF' | record alloc.http.ndjson-posts "$run"
import json, sys
d = json.load(open(sys.argv[1])); n = d["ok"] * int(sys.argv[3])
print(json.dumps({"requests": d["ok"], "events": n, "allocations": int(sys.argv[2]), "allocations_per_event": int(sys.argv[2]) / n}))
EOF
    done
    stop_server "$PID"
fi

# ------------------------------------------------------------------ report
BENCH_SECONDS=$(($(date +%s) - TS))
log "writing $OUT"
skipped_json=$(printf '%s\n' "${SKIPPED[@]+"${SKIPPED[@]}"}" | python3 -c 'import json,sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))')
serf_version=$(dpkg-query -W -f='${Version}' golang-github-hashicorp-serf-dev 2>/dev/null || echo unknown)
hb_version=$(python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(next(p["state"].get("version") for p in d["pins"] if p["identity"] == "hummingbird"))
except Exception:
    print("unknown")' "$HB_DIR/Package.resolved")
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo || true)
disk=$(df -hT "$WORK/tmp" 2>/dev/null | awk 'NR == 2 { print $2 ", " $1 }' || true)
swift_version=$(swift --version 2>&1 | head -1 || true)
go_version=$(go version 2>/dev/null | awk '{ print $3 }' || true)
nginx_version=$(nginx -v 2>&1 | sed 's/^nginx version: //' || true)
wrk_version=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }' || true)
etcd_version=$(etcd --version 2>/dev/null | awk '/^etcd Version/ { print $3 }' || true)
redis_version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([^ ]*\).*/\1/p' || true)
python3 - "$WORK/meta.json" <<EOF
import json, sys
meta = {
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "nproc": "$(nproc)",
    "cpu": """$cpu_model""",
    "kernel": "$(uname -r)",
    "disk": """$disk""",
    "swift": """$swift_version""",
    "go": "$go_version",
    "nginx": """$nginx_version""",
    "wrk": """$wrk_version""",
    "hummingbird": "$hb_version",
    "serf": "$serf_version (Debian golang-github-hashicorp-serf-dev)",
    "etcd": "${etcd_version:-n/a}",
    "redis": "${redis_version:-n/a}",
    "sections": "$SECTIONS",
    "all_sections": "$ALL_SECTIONS",
    "multi_names": $MULTI_NAMES,
    "multi_seconds": $MULTI_SECONDS,
    "fair_seconds": $FAIR_SECONDS,
    "fair_rate": $FAIR_RATE,
    "fair_conns": $FAIR_CONNS,
    "fair_batch": $FAIR_BATCH,
    "mem_snapshots": $MEM_SNAPSHOTS,
    "mem_nodes": $MEM_NODES,
    "mem_conns": $MEM_CONNS,
    "multi_missing": "no named snapshots in this snapshotd: POST /v1/snapshots/{name}/events answered 404",
    "loadavg": "$LOADAVG",
    "build_seconds": $BUILD_SECONDS,
    "bench_seconds": $BENCH_SECONDS,
    "runs": $RUNS,
    "engine_runs": $ENGINE_RUNS,
    "quick": $( [ "$QUICK" = 1 ] && echo True || echo False ),
    "ndjson_batch": $NDJSON_BATCH,
    "latency_rate": $LAT_RATE,
    "stall_nodes": $STALL_NODES,
    "engine_inflight": $ENGINE_INFLIGHT,
    "engine_fsync_inflight": $ENGINE_FSYNC_INFLIGHT,
    "replay_records": $REPLAY_RECORDS,
    "recovery_records": $RECOVERY_RECORDS,
    "recovery_nodes": "$RECOVERY_NODES",
    "ckpt_nodes": $CKPT_NODES,
    "ckpt_conns": $CKPT_CONNS,
    "ckpt_seconds": $CKPT_SECONDS,
    "segsync_count": $SEGSYNC_COUNT,
    "segsync_bytes": $SEGSYNC_BYTES,
    "segsync_conns": $SEGSYNC_CONNS,
    "extra_missing": "$( [ $EXTRA = 1 ] && echo n/a || echo "$EXTRA_MISSING" )",
    "skipped": $skipped_json,
    "commands_file": "$COMMANDS",
    "method": [
        "Engine: snapshot-bench builds $ENGINE_EVENTS events first (user: rising ltime; member: joins over 5,000 names, every tenth a failure, ltime i+1), then keeps $ENGINE_INFLIGHT submissions of $ENGINE_BATCH event(s) outstanding (fsync mode: $ENGINE_FSYNC_INFLIGHT, the events Go serf\'s snapshotter holds in its channel, eventChSize; and $ENGINE_INFLIGHT, reported) until all complete and the engine is closed. Go: gosnap bench feeds the same mix to serf.NewSnapshotter (minCompactSize huge), paced so teeStream never drops (sends only while len(inCh)+len(streamCh)+2 <= 2048), clock stopped after Wait() (final flush + fsync); the lines written are counted to prove nothing was dropped. Go witnesses the member clock in the producer, and writes a clock line only when its clock moved since the last one; snapshotd writes one per member event.",
        "Replay: the engine bench writes the records of $REPLAY_RECORDS events (joins over 5,000 names, every tenth failed, a clock every 100: the records the engine\'s writer makes of them, encoded straight into the file; run through an engine, a clean close would leave only its checkpoint) as v1 and as v2; Go serf replays the v1 file (time of serf.NewSnapshotter on a fresh copy), snapshotd\'s replayer both (as the engine opens a file, mmap). Page cache warm for all.",
        "Recovery: for each checkpoint size K in ($RECOVERY_NODES), an engine (fsync, no automatic checkpoint) records K joins and stops cleanly (a checkpoint of K alive nodes, the log emptied); a second one records the replay workload\'s $RECOVERY_RECORDS events (over 5,000 of those names) in submissions of 10,000, all acknowledged, and the process exits without a close (as a kill leaves the store: the log\'s 64 MiB preallocated segment holding the records, the next one prepared and unused). Each run copies the store laid out as the original (each file preallocated to its size and only its data extents written, so that never-written space stays unwritten extents as a kill leaves it; synced, not timed) and times SnapshotEngine(path:) on the copy: checkpoint replay, log replay, the new segment\'s preparation. Go serf replays the same records as one v1 file (the checkpoint\'s records, then the log\'s), serf.NewSnapshotter on a fresh copy. Page cache warm for both; $ENGINE_RUNS runs, interleaved. The breakdown (on the original store): the checkpoint file\'s replay alone, the log decoded into SnapshotRecords with nothing applied, the byte scans for zeros over every byte (a nonzero byte anywhere, the trailing zeros: what the open reads only in the data extents SEEK_DATA reports), and StoreReplayer (file + log, read-only).",
        "Stall: $STALL_NODES alive nodes, then $ENGINE_INFLIGHT single-event submissions kept outstanding (joins/failures over the alive set); 3 compactions a run via engine.compact() (with the write-ahead log, a checkpoint written in the background); every completion is timestamped; the figure is the longest gap between consecutive completions overlapping a compaction, beside the same measure outside.",
        "Checkpoint tail latency: snapshotd serve (fsync, --min-compact-size 2^40: no automatic checkpoint), $CKPT_NODES alive nodes posted first (NDJSON, 1,000 a POST); then in each run, wrk -t$WRK_THREADS -c$CKPT_CONNS -d${CKPT_SECONDS}s POSTing one member-join (without), and the same while bench.py compact-loop POSTs /v1/compact again as soon as the last one answered (with: checkpoints back to back over the whole run); p99.9 and max are wrk\'s (from each request\'s send, closed loop); snapshotd_compactions_total is read around each run (0 without).",
        "fdatasync after a small append: fsyncfloor (Benchmarks/tools/fsyncfloor.c) appends $SEGSYNC_BYTES bytes and fdatasyncs, $SEGSYNC_COUNT times, timing the fdatasync alone, to a new file that grows with every append (grow: pwrite at its end), to one preallocated with posix_fallocate to 64 MiB and synced with its directory first (prealloc: as SegmentPreparer makes the log\'s segments), and to one filled with 64 MiB of written zeros first (zeroed: an overwrite of written blocks); which mode goes first rotates; idle, and under load: snapshotd (fsync) taking wrk -c$SEGSYNC_CONNS one-event POSTs on the same disk (its own fdatasyncs, both CPUs busy).",
        "HTTP: wrk -t$WRK_THREADS, keep-alive, POST /v1/events with one 92-byte member-join (application/json), ${HTTP_SECONDS}s a run after a 1 s warm-up, servers started once and hit in turn (snapshotd, nginx, Hummingbird, Redis, snapshotd buffered) for -c8 then -c64. snapshotd in fsync mode answers 200 only once durable; in buffered mode (--durability buffered, Go serf's behaviour) 202 once queued; nginx (one worker) returns 204 and discards the body; Hummingbird collects the body and returns 204. Redis (Debian redis-server, --appendonly yes --appendfsync always: durable, group-committed): redis-benchmark -t set -d 92 on one key, -c 8 / -c 64, no pipelining, -n sized from a 20,000-request warm-up for about ${HTTP_SECONDS}s. Runs with non-2xx answers are excluded from medians. Server CPU per request: the utime + stime (/proc/PID/stat, ${CLK_TCK} ticks a second) of the server's process and its children (nginx's worker) from just before to just after each run, over the requests the run counted; the median of the runs.",
        "Many names (multi): four servers started once and hit in turn (spread, one, etcd, Redis) for -c8 then -c64, ${MULTI_SECONDS}s a run after a warm-up, $RUNS runs interleaved. snapshotd (fsync; one process for the spread load, another for the one-snapshot load, each its own store on the same disk): wrk -t$WRK_THREADS with Benchmarks/wrk/spread.lua POSTing the same 92-byte member-join to /v1/snapshots/sNNNN/events, the name round-robin over s0000..s$(printf '%04d' $((MULTI_NAMES - 1))) ($MULTI_NAMES snapshots, each created before timing by one untimed POST), against the same script on one path, /v1/events (the snapshot named default), so the client does the same work per request. etcd (Debian etcd-server, one member, its own data dir, default durability: the WAL fdatasynced before a put is answered): wrk with Benchmarks/wrk/etcd-put.lua, POST /v3/kv/put {\"key\": base64 of k0000..k$(printf '%04d' $((MULTI_NAMES - 1))) round-robin, \"value\": base64 of the same 92 bytes}; a run with any non-2xx answer fails its row. Redis (Debian redis-server, its own dir and port, --appendonly yes --appendfsync always --save \"\"): redis-benchmark -t set -r $MULTI_NAMES -d 92 -c 8 / -c 64 (no pipelining), -n sized from a 20,000-request warm-up for about ${MULTI_SECONDS}s; its requests/s. Redis's client is redis-benchmark (C, one thread), the others' is wrk (LuaJIT request()): they share the 2 CPUs with the server.",
        "Fairness: one snapshotd (fsync, a fresh --data-dir, default queue: --queue-capacity 2048, --queue-wait 1 s) holding the snapshots quiet and flood (each created first by one untimed POST). The quiet one: ratecli (Benchmarks/tools/ratecli.c) with one keep-alive connection, POST /v1/snapshots/quiet/events of the 92-byte member-join at $FAIR_RATE a second for ${FAIR_SECONDS}s (request i due at start + i/$FAIR_RATE s; latency from the due time to the end of the response, so a late answer also delays the next; the first tenth, at most 1 s, warm-up), its 503s counted. Three variants a run, interleaved (alone, one-event flood, NDJSON flood), $RUNS runs, medians of the runs' percentiles: alone; while wrk -t1 -c$FAIR_CONNS (Benchmarks/wrk/flood.lua, closed loop, statuses counted in response()) POSTs the same one-event body to /v1/snapshots/flood/events; and while it POSTs a $FAIR_BATCH-line NDJSON body there (member events over 5,000 names). The flood starts 1 s before the quiet client and runs $((FAIR_SECONDS + 2))s. The target: the quiet p99 at most 2x its p99 alone, and no 503 for the quiet snapshot.",
        "Memory: snapshotd serve --data-dir (fresh) --max-snapshots $((MEM_SNAPSHOTS + 1)) (the count includes default); VmRSS (/proc/PID/status) 1 s after /readyz is 200, then bench.py load-snapshots POSTs one $MEM_NODES-line NDJSON body of member-joins to each of /v1/snapshots/m00000/events .. m$(printf '%05d' $((MEM_SNAPSHOTS - 1))) (a first write creates the snapshot; node names n000..n$(printf '%03d' $((MEM_NODES - 1))) in each, addresses 10.x.y.z unique over the store) over $MEM_CONNS keep-alive connections, every answer a durable 200; VmRSS right after the last acknowledgement (the figure) and 5 s later; snapshotd_snapshots and snapshotd_store_alive_nodes must read $((MEM_SNAPSHOTS + 1)) and $((MEM_SNAPSHOTS * MEM_NODES)). Per alive node and per snapshot = (RSS after - RSS before) / nodes or / snapshots; the budget: $((MEM_SNAPSHOTS * MEM_NODES)) x 200 B + $MEM_SNAPSHOTS x 8 KiB. Restart ($RUNS times): SIGTERM (its time to exit is the stop time), start the same command on the same store, poll /readyz every 10 ms: ready seconds from the start; VmRSS at that moment.",
        "NDJSON: wrk -c8 posting one $NDJSON_BATCH-line NDJSON body (member events, 10% failed), events/s = requests/s x $NDJSON_BATCH.",
        "Latency: ratecli (Benchmarks/tools/ratecli.c), $LAT_CONNS keep-alive connections, one thread each, against snapshotd (fsync), Redis (Debian redis-server, --appendonly yes --appendfsync always: each SET answered once fdatasynced; ratecli sends RESP SETs of the same 92-byte body to one key) and nginx (return 204, no disk), request i due at start + i/$LAT_RATE s, sent at its due time (clock_nanosleep) or at once when late; latency from the due time to the end of the response (coordinated omission corrected, as wrk2); the first fifth (at most 1 s) is warm-up. fsyncfloor: write(100 B) + fdatasync x 2000 in the same directory, before each latency run.",
        "Overload: snapshotd --simulate-sync-delay-ms $OVERLOAD_DELAY_MS $OVERLOAD_ARGS; overloadcli (Benchmarks/tools/overloadcli.c) keeps $OVERLOAD_CONNS keep-alive connections posting member-joins as fast as they are answered for ${OVERLOAD_SECONDS}s, each connection cycling over its own $OVERLOAD_NAMES names (a cluster of a fixed size, so the state the server must hold does not grow) with a new address on every join; VmRSS sampled every second; the reference is the sample at ${OVERLOAD_WARMUP}s. Afterwards every name must end, in GET /v1/snapshot and in the file (snapshotd inspect after shutdown), with the address of its last acknowledged (2xx) join, or of a later one whose answer was lost: never an older or a refused (503) one. (The first version posted a new name every time: RSS then grows with the cluster, ~110 B a node, which is state, not a leak.)",
        "Allocations: Benchmarks/tools/alloccount.so (LD_PRELOAD) counts malloc/calloc/realloc/memalign-family calls. Engine: counted around the throughput loop for N/5 and N events (N = $ALLOC_EVENTS), per event = difference / (4N/5). HTTP: a preloaded snapshotd, counts read (SIGUSR2) before and after ratecli sends 4,000 single-event POSTs, then 40 NDJSON POSTs; per event = difference / events acknowledged (includes the server's background work in that window).",
    ],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
python3 "$BENCH/bench.py" report "$RESULTS" "$WORK/meta.json" "$OUT"
log "done in $(($(date +%s) - T0)) s: $OUT"
if [ ${#SKIPPED[@]} -gt 0 ]; then
    printf '[bench] NOT RUN: %s\n' "${SKIPPED[@]}" >&2
    exit 3
fi
