#!/usr/bin/env bash
# libFuzzer targets (issue 7): the HTTP request parser, the event JSON decoder (Swift over the
# simdjson C++ target) and the v2 snapshot decoder.
#
#   Tests/Fuzz/fuzz.sh build                    compile the fuzzers into .build/fuzz/ (when stale)
#   Tests/Fuzz/fuzz.sh run SECONDS [TARGET...]  build, then run each target for SECONDS
#
# Targets: http-parser, event-json, v2-decoder. Each run starts from the committed seeds
# (Tests/Fuzz/corpus/TARGET/, read only) plus the inputs earlier runs found
# (.build/fuzz/corpus/TARGET/). A crash leaves its input in .build/fuzz/artifacts/ and fails the
# run (replay it with `SWIFT_BACKTRACE=enable=no .build/fuzz/TARGET FILE`); turn it into a regression test in the normal
# test targets, then fix it. The last lines print each target's executions. Needs the Swift
# toolchain's clang (compiler-rt's libFuzzer) and libsimdjson-dev.
set -euo pipefail
# Swift's crash backtracer off, for every fuzzer this script runs: libFuzzer and ASan report a
# crash with its input, and ASan would follow a trap's real message with a report against the
# backtracer's own stack reads, which reads like a memory bug.
export SWIFT_BACKTRACE=enable=no

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=.build/fuzz
SWIFTC=${SWIFTC:-swiftc}
CLANG=${CLANG:-$(dirname "$(command -v "$SWIFTC")")/clang}
TARGETS="http-parser event-json v2-decoder"

SWIFT_FLAGS=(-swift-version 6 -enable-upcoming-feature ExistentialAny -parse-as-library
             -sanitize=fuzzer,address -O -g -use-ld=lld)
C_FLAGS=(-O1 -g -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)

HTTP_SOURCES="HTTPRequestParser RequestHeadScanner HTTPParserLimits HTTPParseError HTTPParseEvent
              HTTPRequest HTTPHeaders HTTPPathParameters PathPattern RequestTarget ASCIIBytes HTTPCharacterClass CommonFieldText"
EVENT_CORE_SOURCES="SnapshotEvent SnapshotEventKind Member IPAddress"
V2_CORE_SOURCES="V2Decoder V2Format CRC32C SnapshotRecord ReplayItem SnapshotEncoder ReplayReport SnapshotFormat RecordView ReplayVisitor
                 V1Format V1Decoder"

paths() { # DIR NAMES... -> the NAME.swift files anywhere below DIR (a target's folders)
    local dir=$1 name file; shift
    for name in $*; do
        file=$(find "$dir" -name "$name.swift" -print -quit)
        [ -n "$file" ] || { echo "fuzz: $name.swift not found under $dir" >&2; exit 1; }
        printf '%s\n' "$file"
    done
}

# Rebuilds OUTPUT when it is missing or older than the fuzz sources or any target source.
stale() {
    [ ! -x "$1" ] || [ -n "$(find Tests/Fuzz/*.swift Tests/Fuzz/fuzz.sh Sources/HTTPServer Sources/CEventJSON \
        Sources/CCRC32C Sources/SnapshotCore Sources/SnapshotService -newer "$1" -print -quit)" ]
}

build_http_parser() {
    stale $OUT/http-parser || return 0
    echo "fuzz: building $OUT/http-parser"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" -module-name HTTPServer \
        $(paths Sources/HTTPServer $HTTP_SOURCES) Tests/Fuzz/HTTPParserFuzz.swift -o $OUT/http-parser
}

build_event_json() {
    stale $OUT/event-json || return 0
    echo "fuzz: building $OUT/event-json"
    local objects=$OUT/obj/event-json modules=$OUT/modules/event-json
    rm -rf "$objects" "$modules"
    mkdir -p "$objects" "$modules/CEventJSON"
    for source in Sources/CEventJSON/*.cpp; do
        "$CLANG++" -std=c++17 "${C_FLAGS[@]}" -ISources/CEventJSON/include -c "$source" \
            -o "$objects/$(basename "$source" .cpp).o"
    done
    printf 'module CEventJSON {\n    header "%s/Sources/CEventJSON/include/CEventJSON.h"\n    export *\n}\n' \
        "$ROOT" > "$modules/CEventJSON/module.modulemap"
    # SnapshotCore's event model as a module, since EventDecoder.swift imports SnapshotCore.
    "$SWIFTC" "${SWIFT_FLAGS[@]}" -module-name SnapshotCore -wmo -c \
        -emit-module -emit-module-path "$modules/SnapshotCore.swiftmodule" \
        $(paths Sources/SnapshotCore $EVENT_CORE_SOURCES) -o "$objects/SnapshotCore.o"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" -module-name SnapshotService -I "$modules" -I "$modules/CEventJSON" \
        Sources/SnapshotService/EventDecoder.swift Sources/SnapshotService/EventDecodingError.swift \
        Tests/Fuzz/EventJSONFuzz.swift "$objects"/*.o -lsimdjson -lstdc++ -o $OUT/event-json
}

build_v2_decoder() {
    stale $OUT/v2-decoder || return 0
    echo "fuzz: building $OUT/v2-decoder"
    local objects=$OUT/obj/v2-decoder modules=$OUT/modules/v2-decoder
    rm -rf "$objects" "$modules"
    mkdir -p "$objects" "$modules/CCRC32C"
    "$CLANG" "${C_FLAGS[@]}" -ISources/CCRC32C/include -c Sources/CCRC32C/crc32c.c -o "$objects/crc32c.o"
    printf 'module CCRC32C {\n    header "%s/Sources/CCRC32C/include/CCRC32C.h"\n    export *\n}\n' \
        "$ROOT" > "$modules/CCRC32C/module.modulemap"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" -module-name SnapshotCore -I "$modules/CCRC32C" \
        $(paths Sources/SnapshotCore $V2_CORE_SOURCES) Tests/Fuzz/V2DecoderFuzz.swift \
        "$objects/crc32c.o" -o $OUT/v2-decoder
}

build() {
    mkdir -p $OUT
    build_http_parser
    build_event_json
    build_v2_decoder
}

run() {
    local seconds=$1; shift
    local targets=${*:-$TARGETS}
    build
    mkdir -p $OUT/artifacts
    local summary="" failed=0
    for target in $targets; do
        mkdir -p "$OUT/corpus/$target"
        local log=$OUT/$target.log status=0
        echo "fuzz: $target for ${seconds}s"
        # Leak detection stays off: the Swift runtime's caches live until exit by design (and the
        # backtracer is off, above).
        ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
            "$OUT/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
            -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$target-" \
            "$OUT/corpus/$target" "Tests/Fuzz/corpus/$target" > "$log" 2>&1 || status=$?
        local execs corpus
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        corpus=$(find "$OUT/corpus/$target" "Tests/Fuzz/corpus/$target" -type f | wc -l)
        summary+="fuzz: $target: ${execs:-?} executions in ${seconds}s, corpus $corpus inputs"
        if [ "$status" -ne 0 ]; then
            failed=1
            summary+=", FAILED (status $status; see $log and $OUT/artifacts/)"
            grep -E '^(==[0-9]+==ERROR|Fatal error|SUMMARY)|deadly signal|Test unit written' "$log" | head -5 >&2 || true
        fi
        summary+=$'\n'
    done
    printf '%s' "$summary"
    return $failed
}

case "${1:-}" in
    build) build ;;
    run) shift; run "${1:?seconds}" "${@:2}" ;;
    *) echo "usage: $0 build | run SECONDS [TARGET...]" >&2; exit 2 ;;
esac
