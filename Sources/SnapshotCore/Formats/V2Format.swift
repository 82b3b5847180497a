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

    /// Header flag bit 0: the log position extension follows the header.
    public static let logPositionFlag: UInt16 = 1
    /// The extension after a header with `logPositionFlag`: position u64 | crc32c of those 8 bytes.
    public static let logPositionExtensionSize = 12
    /// The header of a checkpoint: the header and its log position extension.
    public static let checkpointHeaderSize = headerSize + logPositionExtensionSize

    /// magic (8) | version u16 | flags u16 (0) | created, ns since 1970, u64 | crc32c of the 20 before.
    public static func header(createdAt nanoseconds: UInt64, into buffer: inout [UInt8]) {
        header(createdAt: nanoseconds, logPosition: nil, into: &buffer)
    }

    /// The header; with a log position, flag bit 0 set and the 12-byte extension after it
    /// (a checkpoint: the file holds everything in the log before `logPosition`).
    public static func header(createdAt nanoseconds: UInt64, logPosition: UInt64?, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: magic)
        appendLE(version, to: &buffer)
        appendLE(logPosition == nil ? UInt16(0) : logPositionFlag, to: &buffer)
        appendLE(nanoseconds, to: &buffer)
        appendLE(buffer[start...].withUnsafeBytes { CRC32C.checksum($0) }, to: &buffer)
        guard let logPosition else { return }
        let extensionStart = buffer.count
        appendLE(logPosition, to: &buffer)
        appendLE(buffer[extensionStart...].withUnsafeBytes { CRC32C.checksum($0) }, to: &buffer)
    }

    /// The position a log position extension holds; nil when its checksum fails.
    static func decodeLogPosition(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count == logPositionExtensionSize else { return nil }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<8])) == stored else { return nil }
        return UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    }

    public static func encode(_ record: SnapshotRecord, into buffer: inout [UInt8]) {
        encode(record, into: &buffer, prefix: nil)
    }

    /// Appends `record`, after `prefix` (little-endian) when there is one, in the same append,
    /// the checksum taken over the prefix too: the write-ahead log's record (`LogFormat.encode`,
    /// the prefix its snapshot identity) in one pass, rather than a v2 record checksummed, then
    /// checksummed again with the identity in front (measured with callgrind: the second
    /// checksum and the separate 4-byte append cost ~280 instructions a record).
    static func encode(_ record: SnapshotRecord, into buffer: inout [UInt8], prefix: UInt32?) {
        switch record {
        case .alive(var name, var address):
            name.withUTF8 { name in
                address.withUTF8 { address in
                    appendRecord(.alive, payloadCount: 4 + name.count + address.count, into: &buffer, prefix: prefix) { payload in
                        payload.storeBytes(of: UInt32(name.count).littleEndian, as: UInt32.self)
                        UnsafeMutableRawBufferPointer(rebasing: payload[4...]).copyMemory(from: UnsafeRawBufferPointer(name))
                        UnsafeMutableRawBufferPointer(rebasing: payload[(4 + name.count)...]).copyMemory(from: UnsafeRawBufferPointer(address))
                    }
                }
            }
        case .notAlive(var name):
            name.withUTF8 { name in
                appendRecord(.notAlive, payloadCount: name.count, into: &buffer, prefix: prefix) { $0.copyMemory(from: UnsafeRawBufferPointer(name)) }
            }
        case .clock(let n): appendClock(.clock, n, into: &buffer, prefix: prefix)
        case .eventClock(let n): appendClock(.eventClock, n, into: &buffer, prefix: prefix)
        case .queryClock(let n): appendClock(.queryClock, n, into: &buffer, prefix: prefix)
        case .leave: appendRecord(.leave, payloadCount: 0, into: &buffer, prefix: prefix) { _ in }
        }
    }

    private static func appendClock(_ type: RecordType, _ n: UInt64, into buffer: inout [UInt8], prefix: UInt32?) {
        appendRecord(type, payloadCount: 8, into: &buffer, prefix: prefix) { $0.storeBytes(of: n.littleEndian, as: UInt64.self) }
    }

    /// Whether an `alive` record for this node fits in a v2 record (a v1 file can hold longer
    /// names than v2 records carry; the engine itself takes names of at most
    /// `SnapshotEvent.maxNameBytes`).
    public static func fits(name: String, address: String) -> Bool {
        4 + name.utf8.count + address.utf8.count <= maxPayload
    }

    /// Zero bytes to grow a buffer by a whole record at once.
    private static let zeros = [UInt8](repeating: 0, count: maxRecordSize)

    /// Appends one framed record: grows `buffer` by the record's size once, lets `writePayload`
    /// fill the payload in place, then writes length, type and checksum around it (measured:
    /// a third of the instructions of appending field by field).
    @inline(__always)
    private static func appendRecord(_ type: RecordType, payloadCount: Int, into buffer: inout [UInt8], prefix: UInt32?,
                                     _ writePayload: (UnsafeMutableRawBufferPointer) -> Void) {
        let start = buffer.count
        let lead = prefix == nil ? 0 : 4
        let total = lead + payloadCount + recordOverhead
        if total <= zeros.count {
            buffer.append(contentsOf: zeros[..<total])  // contiguous: one memcpy, unlike a repeated element
        } else {
            // Longer than a record may be: written all the same (replay reports it as damage);
            // `fits(name:address:)` is how a caller avoids it.
            buffer.append(contentsOf: repeatElement(0, count: total))
        }
        buffer.withUnsafeMutableBytes { raw in
            let whole = UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + total)])
            if let prefix { whole.storeBytes(of: prefix.littleEndian, toByteOffset: 0, as: UInt32.self) }
            let record = UnsafeMutableRawBufferPointer(rebasing: whole[lead...])
            record.storeBytes(of: UInt32(payloadCount).littleEndian, toByteOffset: 0, as: UInt32.self)
            record[4] = type.rawValue
            writePayload(UnsafeMutableRawBufferPointer(rebasing: record[5..<(5 + payloadCount)]))
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: whole[0..<(lead + 5 + payloadCount)]))
            record.storeBytes(of: crc.littleEndian, toByteOffset: 5 + payloadCount, as: UInt32.self)
        }
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

    public static func header(logPosition: UInt64?, into buffer: inout [UInt8]) {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
        header(createdAt: now, logPosition: logPosition, into: &buffer)
    }
}
