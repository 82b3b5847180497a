#!/usr/bin/env bash
# A Docker engine that answers, for `make docker` and `make test-docker`. Prints (stdout) the
# docker client to use; says on stderr what it did. Fails, naming why, when there is none and it
# cannot start one: it never lets a caller skip silently.
#
#  - `docker info` answers: that engine.
#  - Otherwise, as root: installs Debian's docker.io when dockerd is missing, starts
#    `dockerd` in the background (log: $DOCKERD_LOG) and waits up to 60 s for it to answer.
#  - The client: `docker` from PATH when it talks to the engine (a newer client negotiates the
#    API version down to the engine's), else Debian's /usr/bin/docker.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
fail() { echo "docker-engine: FAIL: $*" >&2; exit 1; }
log() { echo "docker-engine: $*" >&2; }

# client: the first of the candidates whose `docker version` reaches the server.
client() {
    local c
    for c in "$(command -v docker || true)" /usr/bin/docker; do
        [ -n "$c" ] && [ -x "$c" ] || continue
        if "$c" version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

if docker=$(client); then
    echo "$docker"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "no Docker engine answers ('docker info'), and starting one needs root (dockerd); run as root, as CI does, or start an engine"

if ! command -v dockerd >/dev/null 2>&1; then
    log "no dockerd: installing docker.io (Debian)"
    apt-get update -qq || fail "apt-get update (for docker.io)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null ||
        fail "apt-get install docker.io"
fi
command -v dockerd >/dev/null 2>&1 || fail "docker.io is installed but there is no dockerd on PATH"

if [ -S /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null 2>&1; then
    rm -f /var/run/docker.sock   # a stale socket from a daemon that is gone
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # Detached from this process group, so that it outlives the make that started it.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
fi
for _ in $(seq 120); do
    if docker=$(client); then
        # Just started, the client on PATH may answer a moment after Debian's: prefer it.
        for _ in $(seq 10); do
            [ "$docker" = "$(command -v docker || true)" ] && break
            sleep 0.5
            docker=$(client) || break
        done
        [ -n "$docker" ] || continue
        log "engine $("$docker" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), client $docker"
        echo "$docker"
        exit 0
    fi
    pgrep -x dockerd >/dev/null 2>&1 || break
    sleep 0.5
done
tail -n 20 "$DOCKERD_LOG" >&2 || true
if pgrep -x dockerd >/dev/null 2>&1; then
    fail "dockerd runs but no docker client reaches it within 60 s (see $DOCKERD_LOG)"
fi
fail "dockerd exited without answering (see $DOCKERD_LOG above)"
