/// The write-ahead log's on-disk format (docs/FORMAT.md, "The write-ahead log"): one log holds
/// the records of every snapshot, in segments. A segment is a 24-byte header, then records
///
///     snapshot u32 LE | length u32 LE | type u8 | payload (length bytes) | crc32c u32 LE
///
/// where the checksum covers the snapshot, length, type and payload, and type and payload are
/// a v2 record's (`V2Format`), or, for the store's catalog, a `CatalogRecord` (type
/// `catalogType`, snapshot `catalogSnapshot`). A segment is preallocated with zeros: a run of
/// zeros to its end is space not yet written, never damage. Formats only: no I/O (the log's
/// writer does that).
public enum LogFormat {
    /// `\x89SNAPWAL`: the high first byte keeps a segment from ever reading as v1 text.
    public static let magic: [UInt8] = [0x89, 0x53, 0x4E, 0x41, 0x50, 0x57, 0x41, 0x4C]
    public static let version: UInt16 = 1
    public static let headerSize = 24
    /// Snapshot, length, type and checksum around each payload.
    public static let recordOverhead = 13
    /// The record type of a catalog change: outside v2's types, so a v2 file never holds one.
    public static let catalogType: UInt8 = 0x40
    /// The snapshot field of a catalog record: no snapshot's identity (those count up from 0).
    public static let catalogSnapshot = UInt32.max

    /// magic (8) | version u16 | flags u16 (0) | base u64 (the log position of the byte after
    /// the header) | crc32c of the 20 bytes before.
    public static func header(base: UInt64, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: magic)
        V2Format.appendLE(version, to: &buffer)
        V2Format.appendLE(UInt16(0), to: &buffer)
        V2Format.appendLE(base, to: &buffer)
        V2Format.appendLE(buffer[start...].withUnsafeBytes { CRC32C.checksum($0) }, to: &buffer)
    }

    /// The base position a valid header names; nil when the header is damaged or cut short.
    public static func base(ofHeader bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count >= headerSize, bytes[0..<8].elementsEqual(magic),
              UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) == version,
              CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<20]))
                == UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        else { return nil }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
    }

    /// Appends `record` of snapshot `snapshot` as one log record: a v2 record behind the
    /// snapshot's identity, its checksum taken over the identity too.
    public static func encode(_ record: SnapshotRecord, snapshot: UInt32, into buffer: inout [UInt8]) {
        V2Format.encode(record, into: &buffer, prefix: snapshot)
    }

    /// Appends a catalog change as one log record.
    public static func encode(_ record: CatalogRecord, into buffer: inout [UInt8]) {
        let payload = record.payload
        let start = buffer.count
        V2Format.appendLE(catalogSnapshot, to: &buffer)
        V2Format.appendLE(UInt32(payload.count), to: &buffer)
        buffer.append(catalogType)
        buffer.append(contentsOf: payload)
        V2Format.appendLE(buffer[start...].withUnsafeBytes { CRC32C.checksum($0) }, to: &buffer)
    }
}
