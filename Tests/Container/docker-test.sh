#!/usr/bin/env bash
# The container image on a real Docker engine (`make test-docker`, part of `make test`). Every
# check fails the run; without an engine it fails naming why (scripts/docker-engine.sh starts
# one as root, installing docker.io when missing). Ports are published on 127.0.0.1 only.
#
#  1. The image builds from a clean context (the repository's files as git lists them, without
#     build trees or a local Package.resolved), by `make docker`'s script; its size is reported
#     and bounded: the runtime stage adds only the binary and libsimdjson to its base.
#  2. It runs as uid 10001 with --read-only --cap-drop ALL --security-opt no-new-privileges and
#     becomes `healthy` by its own HEALTHCHECK, on the default port and on one SNAPSHOTD_LISTEN sets.
#  3. Under a stream of POSTs, `docker stop` exits 0 within the grace period (and snapshotd
#     exits 0); every acknowledged event (200, "durable":true) is there when a new container
#     starts on the volume. The same after `docker kill` (SIGKILL), read offline with
#     `snapshotd inspect --json` on the volume.
#  4. A bind-mounted data directory owned by root: serve exits 1 with the README's message.
#  5. docker-compose up (Debian's docker-compose) with Prometheus (a local image from Debian's
#     prometheus package unless PROMETHEUS_IMAGE is given): through Prometheus's HTTP API, the
#     snapshotd target is up and a snapshotd metric has a sample.
set -euo pipefail

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$ROOT"
HERE=Tests/Container
IMAGE=${DOCKER_IMAGE:-snapshotd:latest}
RUN_ID=snapshotd-test-$$
GRACE=30   # docker stop -t, as compose's stop_grace_period
T0=$(date +%s)

REPORT=docker-test
REPORT_T0=$T0
# shellcheck source=Tests/Container/report.sh
. "$ROOT/Tests/Container/report.sh"

TMP=$(mktemp -d)
CONTAINERS=()
VOLUMES=()
COMPOSE_UP=
cleanup() {
    set +e
    if [ -n "$COMPOSE_UP" ]; then
        docker-compose -p "$RUN_ID" -f docker/compose.yaml down -v --remove-orphans >/dev/null 2>&1
    fi
    for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1; done
    for v in "${VOLUMES[@]}"; do "$DOCKER" volume rm -f "$v" >/dev/null 2>&1; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- 0 ----------------------------------------------------------------------------------------
section "0. the engine"
DOCKER=$(scripts/docker-engine.sh) || fail "no Docker engine, and none could be started (see above): make test-docker needs one (root, Debian's docker.io)"
export DOCKER
ok "engine $("$DOCKER" version --format '{{.Server.Version}}, API {{.Server.APIVersion}}'), client $DOCKER ($("$DOCKER" version --format '{{.Client.Version}}'))"

# --- 1 ----------------------------------------------------------------------------------------
section "1. the image, built from a clean context"
CONTEXT=$TMP/context
mkdir -p "$CONTEXT"
# The repository's files (tracked, and new ones not ignored), as a fresh clone would have them.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | tar -C "$ROOT" --null -T - -c | tar -C "$CONTEXT" -x
for absent in .build Package.resolved .build-static data; do
    [ ! -e "$CONTEXT/$absent" ] || fail "the clean context has $absent"
done
ok "clean context: $(find "$CONTEXT" -type f | wc -l) files, no .build*, Package.resolved or data"
start=$(date +%s)
set +e
scripts/docker-build.sh "$CONTEXT" 2>&1 | tee "$TMP/build.log" | grep --line-buffered -E '^(docker-build|docker-base-images|docker-engine|Step [0-9]+/)'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { tail -n 40 "$TMP/build.log" >&2; fail "make docker's build (scripts/docker-build.sh) of $IMAGE"; }
BUILD_SECONDS=$(($(date +%s) - start))
ok "built $IMAGE in $BUILD_SECONDS s (base images included when they had to be made)"

size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
runtime_base=$(sed -n 's/.*--build-arg RUNTIME_IMAGE=\([^ ]*\).*/\1/p' "$TMP/build.log" | head -n 1)
[ -n "$runtime_base" ] || fail "the build log names no RUNTIME_IMAGE"
base_size=$("$DOCKER" image inspect -f '{{.Size}}' "$runtime_base")
binary_size=$("$DOCKER" run --rm --entrypoint stat "$IMAGE" -c %s /usr/local/bin/snapshotd)
added=$((size - base_size))
ok "image size: $size bytes ($((size / 1000000)) MB): base $runtime_base $((base_size / 1000000)) MB + $((added / 1000000)) MB (the binary: $((binary_size / 1000000)) MB)"
# Beyond the binary: libsimdjson14 (about 1 MB), the user, /data; apt's lists are removed.
[ $((added - binary_size)) -lt 5000000 ] ||
    fail "the runtime stage adds $((added - binary_size)) bytes besides the binary (more than libsimdjson and the user)"
ok "the runtime stage adds $(((added - binary_size) / 1000)) kB besides the binary"
"$DOCKER" run --rm --entrypoint ldd "$IMAGE" /usr/local/bin/snapshotd >"$TMP/ldd.txt" 2>&1 || { cat "$TMP/ldd.txt" >&2; fail "ldd in the image"; }
! grep -q 'not found' "$TMP/ldd.txt" || { cat "$TMP/ldd.txt" >&2; fail "a shared library is missing in the image"; }
! grep -Eiq 'libswift|libFoundation|libdispatch' "$TMP/ldd.txt" || fail "the binary in the image links the Swift runtime dynamically"
ok "in the image, ldd: $(awk '$2 == "=>" { printf "%s ", $1 }' "$TMP/ldd.txt")(nothing missing)"

# --- helpers ----------------------------------------------------------------------------------
HARDENED=(--read-only --cap-drop ALL --security-opt no-new-privileges)

# run_container NAME [docker run options...]: detached, hardened, port 8080 (or $CPORT) published
# on a free loopback port; sets HOSTPORT.
run_container() {
    local name=$1
    shift
    CONTAINERS+=("$name")
    "$DOCKER" run -d --name "$name" "${HARDENED[@]}" -p "127.0.0.1::${CPORT:-8080}" "$@" "$IMAGE" >/dev/null ||
        fail "docker run $name"
    HOSTPORT=$("$DOCKER" port "$name" "${CPORT:-8080}/tcp" | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -n 1)
    [ -n "$HOSTPORT" ] || fail "$name: port ${CPORT:-8080} is not published on 127.0.0.1 ($("$DOCKER" port "$name"))"
}

# wait_healthy NAME [SECONDS]: until its HEALTHCHECK says healthy (interval 10 s).
wait_healthy() {
    local name=$1 limit=${2:-90} status=
    for _ in $(seq "$limit"); do
        status=$("$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$name")
        [ "$status" = healthy ] && return 0
        [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$name")" = true ] || break
        sleep 1
    done
    "$DOCKER" logs "$name" 2>&1 | tail -n 20 >&2
    "$DOCKER" inspect -f '{{json .State.Health}}' "$name" >&2
    fail "$name is not healthy after $limit s (health: $status)"
}

http() { # METHOD URL [BODY]: prints the body; fails unless 2xx
    python3 - "$@" <<'EOF'
import sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
EOF
}

# stream PORT OUT: POSTs member-join events from 4 clients (one keep-alive connection each)
# until the server goes away or 60 s pass; writes each acknowledged member's name to OUT (one a
# line, only after a 200 with "durable":true) and its counts to OUT.summary.
stream() {
    python3 - "$1" "$2" <<'EOF' &
import http.client, json, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
acked, lock, errors, stop = [], threading.Lock(), {}, time.time() + 60
def client(k):
    conn, i = None, 0
    while time.time() < stop:
        name = f"s{k}-{i}"
        body = json.dumps({"type": "member-join", "ltime": i + 1,
                           "members": [{"name": name, "addr": "127.0.0.1", "port": 7946}]})
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status == 200 and json.loads(data).get("durable") is True:
                with lock:
                    acked.append(name)
            i += 1
        except Exception as e:  # the server stopping: refused, reset, closed
            with lock:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            if conn is not None:
                conn.close()
            conn = None
            # Connection errors after the stop are expected; keep trying briefly, then end.
            if sum(errors.values()) > 200:
                return
            time.sleep(0.02)
threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
with open(out, "w") as f:
    f.write("".join(n + "\n" for n in acked))
with open(out + ".summary", "w") as f:
    f.write(f"{len(acked)} acknowledged; client errors after the stop: {errors}\n")
EOF
    STREAM_PID=$!
}

check_all_there() { # ACKED_FILE NAMES_FILE WHAT
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
have = set(l.strip() for l in open(sys.argv[2]) if l.strip())
missing = [n for n in acked if n not in have]
if not acked:
    sys.exit(f"no event was acknowledged before {sys.argv[3]}: the stream did not run")
if missing:
    sys.exit(f"{len(missing)} of {len(acked)} acknowledged members are missing after {sys.argv[3]}, e.g. {missing[:5]}")
print(f"all {len(acked)} acknowledged members are there after {sys.argv[3]} ({len(have)} alive)")
EOF
}

alive_names() { # PORT -> names of the alive nodes, one a line
    http GET "http://127.0.0.1:$1/v1/snapshot" | python3 -c 'import json, sys; print("\n".join(n["name"] for n in json.load(sys.stdin)["alive_nodes"]))'
}

# --- 2 ----------------------------------------------------------------------------------------
section "2. hardened, and healthy by its own HEALTHCHECK"
VOL=$RUN_ID-data
VOLUMES+=("$VOL")
run_container "$RUN_ID-a" -v "$VOL:/data"
wait_healthy "$RUN_ID-a"
ok "default port: $RUN_ID-a healthy by its HEALTHCHECK ($("$DOCKER" inspect -f '{{(index .State.Health.Log 0).Output}}' "$RUN_ID-a" | tr -d '\n')), published on 127.0.0.1:$HOSTPORT"
status=$("$DOCKER" exec "$RUN_ID-a" cat /proc/1/status)
uid=$(awk '/^Uid:/ { print $2 ":" $3 }' <<<"$status")
gid=$(awk '/^Gid:/ { print $2 }' <<<"$status")
[ "$uid" = "10001:10001" ] && [ "$gid" = 10001 ] || fail "snapshotd runs as uid $uid gid $gid, not 10001"
ok "snapshotd (pid 1 in the container) runs as uid 10001, gid 10001"
capeff=$(awk '/^CapEff:/ { print $2 }' <<<"$status")
capbnd=$(awk '/^CapBnd:/ { print $2 }' <<<"$status")
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' <<<"$status")
[ "$capeff" = 0000000000000000 ] && [ "$capbnd" = 0000000000000000 ] || fail "capabilities: CapEff $capeff CapBnd $capbnd"
[ "$nnp" = 1 ] || fail "NoNewPrivs is $nnp"
ok "no capability (CapEff and CapBnd 0), NoNewPrivs 1"
if "$DOCKER" exec "$RUN_ID-a" sh -c 'echo x > /usr/local/bin/x' 2>/dev/null; then fail "the root file system is writable"; fi
[ "$("$DOCKER" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$RUN_ID-a")" = true ] || fail "ReadonlyRootfs is not set"
ok "read-only root file system (a write to /usr/local/bin fails)"
answer=$(http POST "http://127.0.0.1:$HOSTPORT/v1/events" '{"type":"user","ltime":5,"name":"x","payload":""}')
[[ "$answer" == *'"durable":true'* ]] || fail "POST /v1/events: $answer"
ok "POST /v1/events (a user event) through 127.0.0.1:$HOSTPORT: $answer"
"$DOCKER" rm -f "$RUN_ID-a" >/dev/null

CPORT=9123 run_container "$RUN_ID-p" -e SNAPSHOTD_LISTEN=0.0.0.0:9123 -v "$RUN_ID-p:/data"
VOLUMES+=("$RUN_ID-p")
wait_healthy "$RUN_ID-p"
http GET "http://127.0.0.1:$HOSTPORT/readyz" >/dev/null || fail "/readyz on 127.0.0.1:$HOSTPORT (container port 9123)"
ok "SNAPSHOTD_LISTEN=0.0.0.0:9123: healthy by the same HEALTHCHECK ($("$DOCKER" inspect -f '{{(index .State.Health.Log 0).Output}}' "$RUN_ID-p" | tr -d '\n'))"
"$DOCKER" rm -f "$RUN_ID-p" >/dev/null

# --- 3 ----------------------------------------------------------------------------------------
section "3. docker stop and docker kill under a stream of POSTs"
# under_load HOW: a container on a fresh volume, the stream, then HOW (stop|kill).
under_load() {
    local how=$1 vol=$RUN_ID-$1 name=$RUN_ID-$1-1
    VOLUMES+=("$vol")
    run_container "$name" -v "$vol:/data"
    wait_healthy "$name"
    stream "$HOSTPORT" "$TMP/$how.acked"
    sleep 3
    local start end
    start=$(date +%s%N)
    if [ "$how" = stop ]; then
        "$DOCKER" stop -t "$GRACE" "$name" >/dev/null || fail "docker stop $name: exit $?"
    else
        "$DOCKER" kill "$name" >/dev/null || fail "docker kill $name: exit $?"
    fi
    end=$(date +%s%N)
    STOP_MS=$(((end - start) / 1000000))
    wait "$STREAM_PID" || fail "the POST stream failed"
    EXIT=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$name")
    "$DOCKER" logs "$name" >"$TMP/$how.log" 2>&1
    VOL_NOW=$vol
}

under_load stop
[ "$EXIT" -eq 0 ] || { tail -n 20 "$TMP/stop.log" >&2; fail "after docker stop, snapshotd exited $EXIT, not 0"; }
[ "$STOP_MS" -lt $((GRACE * 1000)) ] || fail "docker stop took $STOP_MS ms: the grace period ($GRACE s) ran out"
ok "docker stop -t $GRACE under load: exit 0 after $STOP_MS ms; $(cat "$TMP/stop.acked.summary")"
run_container "$RUN_ID-stop-2" -v "$VOL_NOW:/data"
wait_healthy "$RUN_ID-stop-2"
alive_names "$HOSTPORT" >"$TMP/stop.alive" || fail "GET /v1/snapshot after the restart"
result=$(check_all_there "$TMP/stop.acked" "$TMP/stop.alive" "docker stop and a new container (GET /v1/snapshot)") || fail "$result"
ok "$result"
"$DOCKER" rm -f "$RUN_ID-stop-2" >/dev/null

under_load kill
[ "$EXIT" -eq 137 ] || fail "after docker kill, the exit code is $EXIT, not 137 (SIGKILL)"
ok "docker kill under load: SIGKILL (exit 137) after $STOP_MS ms; $(cat "$TMP/kill.acked.summary")"
"$DOCKER" run --rm "${HARDENED[@]}" -v "$VOL_NOW:/data" "$IMAGE" inspect --json /data/snapshot >"$TMP/kill.json" 2>"$TMP/kill.inspect.err" ||
    { cat "$TMP/kill.inspect.err" >&2; fail "snapshotd inspect --json on the volume after docker kill"; }
python3 -c 'import json, sys; print("\n".join(n["name"] for n in json.load(open(sys.argv[1]))["alive_nodes"]))' "$TMP/kill.json" >"$TMP/kill.alive" ||
    { head -c 600 "$TMP/kill.json" >&2; fail "inspect --json: no list of alive nodes"; }
result=$(check_all_there "$TMP/kill.acked" "$TMP/kill.alive" "docker kill (snapshotd inspect --json on the volume)") || fail "$result"
ok "$result"
run_container "$RUN_ID-kill-2" -v "$VOL_NOW:/data"
wait_healthy "$RUN_ID-kill-2"
alive_names "$HOSTPORT" >"$TMP/kill.alive2" || fail "GET /v1/snapshot after docker kill"
result=$(check_all_there "$TMP/kill.acked" "$TMP/kill.alive2" "docker kill and a new container (GET /v1/snapshot)") || fail "$result"
ok "$result"
"$DOCKER" rm -f "$RUN_ID-kill-2" >/dev/null

# --- 4 ----------------------------------------------------------------------------------------
section "4. a bind-mounted data directory owned by root"
rootdir=$TMP/root-owned
install -d -o root -g root -m 0755 "$rootdir"
set +e
timeout 60 "$DOCKER" run --rm "${HARDENED[@]}" -v "$rootdir:/data" "$IMAGE" >"$TMP/denied.log" 2>&1
status=$?
set -e
[ "$status" -eq 1 ] || { cat "$TMP/denied.log" >&2; fail "serve on a root-owned bind mount: exit $status, not 1"; }
grep -q 'cannot open the snapshot: .*Permission denied' "$TMP/denied.log" ||
    { cat "$TMP/denied.log" >&2; fail "serve on a root-owned bind mount does not say 'cannot open the snapshot: ... Permission denied'"; }
[ -z "$(ls -A "$rootdir")" ] || fail "something was written in the root-owned directory: $(ls -A "$rootdir")"
ok "root-owned bind mount: exit 1, \"$(grep -o 'cannot open the snapshot.*' "$TMP/denied.log" | head -n 1)\""

# --- 5 ----------------------------------------------------------------------------------------
section "5. docker-compose up with Prometheus"
if ! command -v docker-compose >/dev/null 2>&1; then
    echo "docker-test: installing docker-compose (Debian)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; } ||
        fail "apt-get install docker-compose"
fi
ok "docker-compose $(docker-compose version --short)"
if [ -z "${PROMETHEUS_IMAGE:-}" ]; then
    PROMETHEUS_IMAGE=snapshotd-local/prometheus:bookworm
    if ! "$DOCKER" image inspect "$PROMETHEUS_IMAGE" >/dev/null 2>&1; then
        "$DOCKER" build -q --build-arg "BASE=$runtime_base" -t "$PROMETHEUS_IMAGE" - <"$HERE/prometheus.Dockerfile" >"$TMP/prom-build.log" 2>&1 ||
            { cat "$TMP/prom-build.log" >&2; fail "building $PROMETHEUS_IMAGE from Debian's prometheus"; }
    fi
    ok "$PROMETHEUS_IMAGE: Debian's prometheus $("$DOCKER" run --rm "$PROMETHEUS_IMAGE" --version 2>&1 | sed -n 's/^prometheus, version \([^ ]*\).*/\1/p')"
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
export PROMETHEUS_IMAGE SNAPSHOTD_HOST_PORT PROMETHEUS_HOST_PORT
SNAPSHOTD_HOST_PORT=$(free_port)
PROMETHEUS_HOST_PORT=$(free_port)
COMPOSE_UP=1
start=$(date +%s)
docker-compose -p "$RUN_ID" -f docker/compose.yaml up -d --no-build >"$TMP/compose.log" 2>&1 ||
    { cat "$TMP/compose.log" >&2; fail "docker-compose up"; }
ok "docker-compose -p $RUN_ID -f docker/compose.yaml up -d: snapshotd healthy, then Prometheus ($(($(date +%s) - start)) s); 127.0.0.1:$SNAPSHOTD_HOST_PORT, 127.0.0.1:$PROMETHEUS_HOST_PORT"
for service in snapshotd prometheus; do
    id=$(docker-compose -p "$RUN_ID" -f docker/compose.yaml ps -q "$service")
    [ -n "$id" ] || fail "compose has no $service container"
    bindings=$("$DOCKER" inspect -f '{{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{.HostIp}} {{end}}{{end}}' "$id")
    for ip in $bindings; do [ "$ip" = 127.0.0.1 ] || fail "$service publishes a port on $ip, not 127.0.0.1"; done
done
ok "both services publish their ports on 127.0.0.1 only"
prom=http://127.0.0.1:$PROMETHEUS_HOST_PORT
up=
for _ in $(seq 60); do
    targets=$(http GET "$prom/api/v1/targets" 2>/dev/null || true)
    up=$(python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    sys.exit(0)
for t in d["data"]["activeTargets"]:
    if t["labels"].get("job") == "snapshotd":
        print(t["health"], t["scrapeUrl"], t.get("lastError", ""))
' "$targets")
    [[ "$up" == up* ]] && break
    sleep 1
done
[[ "$up" == up* ]] || { docker-compose -p "$RUN_ID" -f docker/compose.yaml logs --tail 20 >&2 || true; fail "Prometheus's snapshotd target is not up: ${up:-no such target}"; }
ok "Prometheus /api/v1/targets: job snapshotd $up"
query='snapshotd_queue_capacity_events'
sample=
for _ in $(seq 30); do
    sample=$(http GET "$prom/api/v1/query?query=$query" | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["data"]["result"] if d.get("status") == "success" else []
print(r[0]["value"][1] if r else "")')
    [ -n "$sample" ] && break
    sleep 1
done
[ "$sample" = 2048 ] || fail "Prometheus /api/v1/query?query=$query: ${sample:-no sample} (expected 2048, the default queue capacity)"
ok "Prometheus /api/v1/query?query=$query: a sample, $sample"
docker-compose -p "$RUN_ID" -f docker/compose.yaml down -v >"$TMP/down.log" 2>&1 || { cat "$TMP/down.log" >&2; fail "docker-compose down"; }
COMPOSE_UP=
ok "docker-compose down -v"

echo
echo "docker-test: $passed passed, 0 failed, $(($(date +%s) - T0)) s (image $IMAGE: $((size / 1000000)) MB, build $BUILD_SECONDS s)"
