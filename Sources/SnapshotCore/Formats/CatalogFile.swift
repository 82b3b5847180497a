/// The catalog file (`.catalog` in the store's snapshots directory; docs/FORMAT.md): the
/// catalog as of a log position, written whole (temporary file, fsync, rename), so that the
/// log's catalog records before that position can go with their segments.
///
///     magic `\x89SNAPCAT` | version u16 | flags u16 (0) | position u64 | next id u32 | crc32c of the 24 bytes before
///
/// then one create record per snapshot, framed as log records (`LogFormat.encode`). A value
/// codec; no I/O.
enum CatalogFile {
    static let magic: [UInt8] = [0x89, 0x53, 0x4E, 0x41, 0x50, 0x43, 0x41, 0x54]
    static let version: UInt16 = 1
    static let headerSize = 28

    struct Decoded: Equatable {
        /// Every catalog record before this log position is in the file.
        var position: UInt64
        var catalog: Catalog
        /// Bytes that are not valid records (the valid ones are kept).
        var damaged: Bool
    }

    static func encode(_ catalog: Catalog, position: UInt64) -> [UInt8] {
        var bytes = magic
        V2Format.appendLE(version, to: &bytes)
        V2Format.appendLE(UInt16(0), to: &bytes)
        V2Format.appendLE(position, to: &bytes)
        V2Format.appendLE(catalog.nextID, to: &bytes)
        V2Format.appendLE(bytes.withUnsafeBytes { CRC32C.checksum($0) }, to: &bytes)
        for record in catalog.createRecords { LogFormat.encode(record, into: &bytes) }
        return bytes
    }

    /// The header's position and next identity; nil when it is damaged or cut short.
    static func header(_ bytes: UnsafeRawBufferPointer) -> (position: UInt64, nextID: UInt32)? {
        guard bytes.count >= headerSize, bytes[0..<8].elementsEqual(magic),
              UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) == version,
              CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<24]))
                == UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        else { return nil }
        return (UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self)),
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
    }

    /// The catalog a file holds; nil when its header is damaged (nothing in it can be trusted
    /// to be this store's). Damaged records are skipped, as the log's are.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded? {
        guard let (position, nextID) = header(bytes) else { return nil }
        var catalog = Catalog(nextID: nextID)
        var snapshotRecords = 0
        let report = LogSegmentDecoder(headerSize: headerSize, base: { _ in 0 }).decodeViews(bytes, { _, _, _ in
            snapshotRecords += 1
        }, catalog: { _, record in
            if case .create = record { catalog.apply(record, at: 0) }
        })
        return Decoded(position: position, catalog: catalog,
                       damaged: !report.damaged.isEmpty || report.tornTail > 0 || snapshotRecords > 0)
    }
}
