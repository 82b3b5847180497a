import CEventJSON
import SnapshotCore

/// Decodes the body of an event ingest request into `SnapshotEvent`s, using simdjson (through
/// the CEventJSON target) to parse and validate it and a compact binary tape to hand the result
/// over.
///
/// A body is validated as a whole before any event is returned: the first bad event fails the
/// request, and the error names it. The schema (the HTTP API):
///
///     {"type":"member-join","members":[{"name":"foo","addr":"127.0.0.1","port":5000}],"ltime":7}
///     {"type":"user","ltime":42,"name":"deploy","payload":"<base64>","coalesce":false}
///     {"type":"query","ltime":50,"name":"uptime"}
///     {"type":"clock","ltime":100}
///
/// Member events are `member-join`, `member-leave`, `member-failed`, `member-update` and
/// `member-reap`; their `ltime` is optional and `members` must be a non-empty array. `ltime` is an
/// unsigned 64-bit integer; `payload` (optional) is standard padded base64; `coalesce` (optional)
/// defaults to false; `port` is 0...65535; `addr` is textual IPv4 or IPv6. Optional fields may be
/// null. Integers follow JSON Schema: any number whose exact value is whole counts (`408.0`,
/// `4.08e2`), read from its digits without rounding. A field the event's type does not have
/// (`"ltme"`, or `name` in a clock event) and a member key other than name, addr and port are
/// refused, naming the field, so that a misspelled field is never silently dropped; the body must
/// still be valid JSON throughout (nested at most 64 deep), which is checked first.
///
/// A decoder owns a parser and buffers that it reuses, so it is not thread-safe (and not
/// `Sendable`). Creating one is cheap, so a request can make its own; a hot path may keep one per
/// thread instead. Buffers a large request grows beyond 1 MiB are freed after each call.
public final class EventDecoder {
    /// How a body frames its events, from the request's content type.
    public enum Format: Sendable, Hashable {
        /// `application/json`: one event object, or an array of them.
        case single
        /// `application/x-ndjson` (or `application/ndjson`): one event object per line; blank
        /// lines are ignored.
        case ndjson
    }

    private let handle: OpaquePointer

    public init() {
        guard let handle = cej_decoder_create() else { fatalError("EventDecoder: out of memory") }
        self.handle = handle
    }

    deinit {
        cej_decoder_destroy(handle)
    }

    /// Decodes a whole body: every event, or an error naming the first bad one.
    public func decode(_ body: some Collection<UInt8>, format: Format) throws(EventDecodingError) -> [SnapshotEvent] {
        let decoded = body.withContiguousStorageIfAvailable { bytes in
            Result { () throws(EventDecodingError) in try decode(UnsafeRawBufferPointer(bytes), format: format) }
        }
        if let decoded { return try decoded.get() }
        return try Array(body).withUnsafeBytes { bytes in
            Result { () throws(EventDecodingError) in try decode(bytes, format: format) }
        }.get()
    }

    /// Decodes a whole body: every event, or an error naming the first bad one.
    public func decode(_ body: UnsafeRawBufferPointer, format: Format) throws(EventDecodingError) -> [SnapshotEvent] {
        defer { cej_decoder_trim(handle) }
        var result = cej_result()
        let framing = format == .ndjson ? CEJ_FORMAT_NDJSON : CEJ_FORMAT_SINGLE
        guard cej_decode(handle, body.baseAddress, body.count, framing, &result) else {
            throw Self.error(from: result)
        }
        guard let tape = result.tape else { throw EventDecodingError(eventIndex: nil, reason: "no events") }
        var reader = TapeReader(UnsafeRawBufferPointer(start: tape, count: result.tape_length))
        var events: [SnapshotEvent] = []
        events.reserveCapacity(result.event_count)
        for index in 0..<result.event_count {
            guard let event = reader.event() else {
                throw EventDecodingError(eventIndex: index, reason: "internal error: malformed event tape")
            }
            if let reason = event.validationError { throw EventDecodingError(eventIndex: index, reason: reason) }
            events.append(event)
        }
        return events
    }

    private static func error(from result: cej_result) -> EventDecodingError {
        let reason = result.error_message.map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: result.error_length), as: UTF8.self)
        }
        return EventDecodingError(
            eventIndex: result.error_event >= 0 ? Int(result.error_event) : nil,
            reason: reason ?? "invalid request body"
        )
    }
}

extension SnapshotEventKind {
    /// The kind a tape record's first byte (a `CEJ_KIND_*`) names: `SnapshotEventKind`'s
    /// ordinals are CEventJSON's kinds (EventKindVocabularyTests checks every case).
    init?(tapeKind: UInt8) {
        self.init(rawValue: Int(tapeKind))
    }
}

@available(*, unavailable, message: "an EventDecoder reuses its buffers; keep one per thread")
extension EventDecoder: Sendable {}

/// Walks the tape CEventJSON writes (its layout is in CEventJSON.h). The C++ side validated every
/// event before writing it, so a read past the end is a bug, and traps.
private struct TapeReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The next event, or nil if the tape holds something no valid event encodes.
    mutating func event() -> SnapshotEvent? {
        guard let kind = SnapshotEventKind(tapeKind: take(UInt8.self)) else { return nil }
        let flags = Int32(take(UInt8.self))
        let ltime = take(UInt64.self)
        switch kind {
        case .user:
            let name = string()
            let payload = Array(take(count: Int(take(UInt32.self))))
            return .user(ltime: ltime, name: name, payload: payload, coalesce: flags & CEJ_FLAG_COALESCE != 0)
        case .query:
            return .query(ltime: ltime, name: string())
        case .clock:
            return .clock(ltime: ltime)
        case .memberJoin, .memberLeave, .memberFailed, .memberUpdate, .memberReap:
            guard let memberKind = kind.memberKind else { return nil }
            let count = Int(take(UInt32.self))
            var members: [Member] = []
            members.reserveCapacity(count)
            for _ in 0..<count {
                let name = string()
                guard let address = IPAddress(bytes: take(count: Int(take(UInt8.self)))) else { return nil }
                members.append(Member(name: name, address: address, port: take(UInt16.self)))
            }
            return .member(memberKind, members: members, ltime: flags & CEJ_FLAG_HAS_LTIME != 0 ? ltime : nil)
        }
    }

    private mutating func take(count: Int) -> UnsafeRawBufferPointer {
        precondition(count <= bytes.count - offset, "event tape overrun")
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    private mutating func take<T: FixedWidthInteger>(_: T.Type) -> T {
        take(count: MemoryLayout<T>.size).loadUnaligned(as: T.self)
    }

    /// A u32 length, then UTF-8 (which simdjson validated).
    private mutating func string() -> String {
        String(decoding: take(count: Int(take(UInt32.self))), as: UTF8.self)
    }
}
