import Dispatch
import Foundation

/// snapshotd's checksummed format (docs/FORMAT.md): a 24-byte header, then records
///
///     length u32 LE | type u8 | payload (length bytes) | crc32c u32 LE over length, type, payload
///
/// Every byte of the file is under a checksum, so a flipped bit anywhere is detected; replay
/// skips a damaged record and resynchronises on the next valid one.
public enum V2Format {
    /// `\x89SERFSN2`: the high first byte keeps a v2 file from ever reading as v1 text.
    public static let magic: [UInt8] = [0x89, 0x53, 0x45, 0x52, 0x46, 0x53, 0x4E, 0x32]
    public static let version: UInt16 = 2
    public static let headerSize = 24
    /// Length, type and checksum around each payload.
    public static let recordOverhead = 9
    /// The largest payload a record may carry; a longer length field is damage. Names are
    /// limited to `SnapshotEvent.maxNameBytes`, so every record fits with room to spare.
    public static let maxPayload = 64 * 1024

    enum RecordType: UInt8 {
        case alive = 1, notAlive = 2, clock = 3, eventClock = 4, queryClock = 5, leave = 6
    }

    /// magic (8) | version u16 | flags u16 (0) | created, ns since 1970, u64 | crc32c of the 20 before.
    public static func header(createdAt nanoseconds: UInt64, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: magic)
        appendLE(version, to: &buffer)
        appendLE(UInt16(0), to: &buffer)
        appendLE(nanoseconds, to: &buffer)
        appendLE(buffer[start...].withUnsafeBytes { CRC32C.checksum($0) }, to: &buffer)
    }

    public static func encode(_ record: SnapshotRecord, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: [0, 0, 0, 0])  // length, filled in below
        switch record {
        case .alive(let name, let address):
            buffer.append(RecordType.alive.rawValue)
            appendLE(UInt32(name.utf8.count), to: &buffer)
            buffer.append(contentsOf: name.utf8)
            buffer.append(contentsOf: address.utf8)
        case .notAlive(let name):
            buffer.append(RecordType.notAlive.rawValue)
            buffer.append(contentsOf: name.utf8)
        case .clock(let n):
            buffer.append(RecordType.clock.rawValue)
            appendLE(n, to: &buffer)
        case .eventClock(let n):
            buffer.append(RecordType.eventClock.rawValue)
            appendLE(n, to: &buffer)
        case .queryClock(let n):
            buffer.append(RecordType.queryClock.rawValue)
            appendLE(n, to: &buffer)
        case .leave:
            buffer.append(RecordType.leave.rawValue)
        }
        let length = UInt32(buffer.count - start - 5)
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.littleEndian, toByteOffset: start, as: UInt32.self)
        }
        appendLE(buffer[start...].withUnsafeBytes { CRC32C.checksum($0) }, to: &buffer)
    }

    /// The most bytes one record (or the header) takes.
    static let maxRecordSize = maxPayload + recordOverhead

    /// Decodes a payload whose checksum already verified; nil when its layout is wrong.
    static func decodePayload(type: UInt8, _ payload: UnsafeRawBufferPointer) -> SnapshotRecord? {
        decodePayloadView(type: type, payload)?.record
    }

    /// `decodePayload` without Strings: the view borrows `payload`.
    static func decodePayloadView(type: UInt8, _ payload: UnsafeRawBufferPointer) -> RecordView? {
        guard let kind = RecordType(rawValue: type) else { return nil }
        switch kind {
        case .alive:
            guard payload.count >= 4 else { return nil }
            let nameLength = Int(UInt32(littleEndian: payload.loadUnaligned(as: UInt32.self)))
            guard nameLength <= payload.count - 4 else { return nil }
            return .alive(name: UnsafeRawBufferPointer(rebasing: payload[4..<(4 + nameLength)]),
                          address: UnsafeRawBufferPointer(rebasing: payload[(4 + nameLength)...]))
        case .notAlive:
            return .notAlive(name: payload)
        case .clock, .eventClock, .queryClock:
            guard payload.count == 8 else { return nil }
            let n = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
            return .clock(kind == .clock ? .clock : kind == .eventClock ? .eventClock : .queryClock, n)
        case .leave:
            return payload.isEmpty ? .leave : nil
        }
    }

    static func appendLE<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }
}

extension V2Format: SnapshotEncoder {
    public static var format: SnapshotFormat { .v2 }

    public static func header(into buffer: inout [UInt8]) {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
        header(createdAt: now, into: &buffer)
    }
}
