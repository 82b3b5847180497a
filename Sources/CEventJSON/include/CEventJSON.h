// CEventJSON: the HTTP ingest path's event decoder. simdjson (on-demand API) parses and validates
// a request body; the result is a compact binary "tape" that the Swift side walks to build
// SnapshotEvent values. The interface is plain C so Swift imports it without C++ interop.
#ifndef CEVENTJSON_H
#define CEVENTJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-extension"
#pragma clang assume_nonnull begin
#define CEJ_NULLABLE _Nullable
#else
#define CEJ_NULLABLE
#endif

/// A reusable decoder: a simdjson parser plus its buffers. Not thread-safe: one per thread.
typedef struct cej_decoder cej_decoder;

/// How a body is framed.
#define CEJ_FORMAT_SINGLE 0 ///< application/json: one object, or an array of objects.
#define CEJ_FORMAT_NDJSON 1 ///< application/x-ndjson: one object per non-blank line.

/// Event kinds, the first byte of every tape record: SnapshotEventKind's ordinals (a unit test of
/// the service checks every case of it against cej_kind_of and cej_kind_name).
#define CEJ_KIND_MEMBER_JOIN 0
#define CEJ_KIND_MEMBER_LEAVE 1
#define CEJ_KIND_MEMBER_FAILED 2
#define CEJ_KIND_MEMBER_UPDATE 3
#define CEJ_KIND_MEMBER_REAP 4
#define CEJ_KIND_USER 5
#define CEJ_KIND_QUERY 6
#define CEJ_KIND_CLOCK 7
#define CEJ_KIND_COUNT 8

/// Flags, the second byte of every tape record.
#define CEJ_FLAG_HAS_LTIME 1
#define CEJ_FLAG_COALESCE 2

/// The outcome of cej_decode. Pointers stay valid until the next call on the same decoder.
///
/// Tape layout (integers in native byte order, unaligned), one record per event:
///   u8 kind, u8 flags, u64 ltime (0 when absent), then by kind:
///   member-*: u32 count, then count times: u32 n, n bytes name, u8 a (4 or 16), a bytes address,
///             u16 port
///   user:     u32 n, n bytes name, u32 p, p bytes payload (base64-decoded)
///   query:    u32 n, n bytes name
///   clock:    nothing more
/// Strings are valid UTF-8 (simdjson guarantees it); addresses are inet_pton output.
typedef struct cej_result {
    const uint8_t *CEJ_NULLABLE tape;
    size_t tape_length;
    size_t event_count;
    /// The zero-based index of the first bad event, or -1 when the failure is not one event's
    /// (malformed body framing, no events, out of memory).
    int64_t error_event;
    /// Why decoding failed, without the "event N: " prefix; NUL-terminated. NULL on success.
    const char *CEJ_NULLABLE error_message;
    size_t error_length;
} cej_result;

/// The type name of an event kind (`member-join`), NUL-terminated, or NULL when kind is not one.
const char *CEJ_NULLABLE cej_kind_name(int kind);

/// The CEJ_KIND_* of a type name of length bytes, or -1 when it names no kind.
int cej_kind_of(const char *name, size_t length);

/// A new decoder, or NULL when memory is exhausted. Cheap: buffers are allocated on first use.
cej_decoder *CEJ_NULLABLE cej_decoder_create(void);

/// Frees a decoder and everything it returned.
void cej_decoder_destroy(cej_decoder *CEJ_NULLABLE decoder);

/// Frees the buffers a large request grew (beyond 1 MiB each), keeping the small ones that
/// ordinary requests reuse. Invalidates the last result.
void cej_decoder_trim(cej_decoder *decoder);

/// Decodes and validates a whole body (all-or-nothing). Returns true and fills the tape fields
/// of result, or returns false and fills its error fields. body may be NULL when length is 0.
bool cej_decode(cej_decoder *decoder, const void *CEJ_NULLABLE body, size_t length, int format,
                cej_result *result);

#if defined(__clang__)
#pragma clang assume_nonnull end
#pragma clang diagnostic pop
#endif

#ifdef __cplusplus
}
#endif

#endif // CEVENTJSON_H
