#!/usr/bin/env bash
# `make docker`: builds docker/Dockerfile into $DOCKER_IMAGE (snapshotd:latest) on whatever engine
# scripts/docker-engine.sh finds or starts.
#   scripts/docker-build.sh [CONTEXT]     CONTEXT: the build context (default: the repository)
#
# Base images (the Dockerfile's SWIFT_IMAGE and RUNTIME_IMAGE build arguments):
#   SWIFT_IMAGE / RUNTIME_IMAGE set    those
#   DOCKER_BASE=official               the Dockerfile's defaults (swift:X-bookworm, debian:bookworm-slim)
#   DOCKER_BASE=local                  local equivalents (scripts/docker-base-images.sh)
#   DOCKER_BASE=auto (default)         the official ones when the engine has them or can pull
#                                      them, else the local equivalents
# Prints the build's duration and the image's size.
set -euo pipefail

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
CONTEXT=${1:-$ROOT}
IMAGE=${DOCKER_IMAGE:-snapshotd:latest}
DOCKER_BASE=${DOCKER_BASE:-auto}
fail() { echo "docker-build: FAIL: $*" >&2; exit 1; }
log() { echo "docker-build: $*" >&2; }

DOCKER=$("$ROOT/scripts/docker-engine.sh") || fail "no Docker engine (see above)"
export DOCKER
[ -f "$CONTEXT/docker/Dockerfile" ] || fail "no docker/Dockerfile in the build context $CONTEXT"

default_of() { sed -n "s/^ARG $1=//p" "$CONTEXT/docker/Dockerfile" | head -n 1; }
swift_image=${SWIFT_IMAGE:-}
runtime_image=${RUNTIME_IMAGE:-}
if [ -z "$swift_image" ] || [ -z "$runtime_image" ]; then
    official_swift=$(default_of SWIFT_IMAGE)
    official_runtime=$(default_of RUNTIME_IMAGE)
    [ -n "$official_swift" ] && [ -n "$official_runtime" ] || fail "docker/Dockerfile declares no ARG SWIFT_IMAGE=/RUNTIME_IMAGE= defaults"
    available() { "$DOCKER" image inspect "$1" >/dev/null 2>&1 || timeout 300 "$DOCKER" pull -q "$1" >/dev/null 2>&1; }
    base=$DOCKER_BASE
    if [ "$base" = auto ]; then
        if available "$official_swift" && available "$official_runtime"; then
            base=official
        else
            base=local
            log "no registry gives $official_swift and $official_runtime: local equivalents"
        fi
    fi
    case $base in
        official)
            swift_image=${swift_image:-$official_swift}
            runtime_image=${runtime_image:-$official_runtime}
            ;;
        local)
            made=$("$ROOT/scripts/docker-base-images.sh") || fail "scripts/docker-base-images.sh"
            swift_image=${swift_image:-$(sed -n 's/^SWIFT_IMAGE=//p' <<<"$made")}
            runtime_image=${runtime_image:-$(sed -n 's/^RUNTIME_IMAGE=//p' <<<"$made")}
            ;;
        *) fail "DOCKER_BASE=$DOCKER_BASE: auto, official or local" ;;
    esac
fi

log "docker build -f docker/Dockerfile --build-arg SWIFT_IMAGE=$swift_image --build-arg RUNTIME_IMAGE=$runtime_image -t $IMAGE $CONTEXT"
start=$(date +%s)
"$DOCKER" build -f "$CONTEXT/docker/Dockerfile" \
    --build-arg "SWIFT_IMAGE=$swift_image" --build-arg "RUNTIME_IMAGE=$runtime_image" \
    -t "$IMAGE" "$CONTEXT" || fail "docker build of $IMAGE"
seconds=$(($(date +%s) - start))
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE in $seconds s: $size bytes ($((size / 1000000)) MB)"
