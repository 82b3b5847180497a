/// A change to a store's catalog, the map of snapshot names to the identities their records
/// carry in the write-ahead log: kept in the log (as records of `LogFormat.catalogSnapshot`) and
/// in the catalog file (`CatalogFile`). A value with its payload codec; no I/O.
///
///     create: op 1 | id u32 LE | flags u8 (bit 0: v1 file, bit 1: rejoin-after-leave) | name
///     delete: op 2 | id u32 LE
///     reset:  op 3 | id u32 LE
public enum CatalogRecord: Sendable, Equatable {
    case create(id: UInt32, name: SnapshotName, options: SnapshotOptions)
    case delete(id: UInt32)
    /// The snapshot's state is empty from here on (an import that replaces it: the records that
    /// rebuild the imported state follow, in the same write).
    case reset(id: UInt32)

    static let createOp: UInt8 = 1
    static let deleteOp: UInt8 = 2
    static let resetOp: UInt8 = 3

    /// The payload bytes.
    var payload: [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .create(let id, let name, let options):
            bytes.append(Self.createOp)
            V2Format.appendLE(id, to: &bytes)
            bytes.append((options.format == .v1 ? 1 : 0) | (options.rejoinAfterLeave ? 2 : 0))
            bytes.append(contentsOf: name.rawValue.utf8)
        case .delete(let id):
            bytes.append(Self.deleteOp)
            V2Format.appendLE(id, to: &bytes)
        case .reset(let id):
            bytes.append(Self.resetOp)
            V2Format.appendLE(id, to: &bytes)
        }
        return bytes
    }

    /// The record a payload holds; nil when its layout is wrong, its flags unknown or its name
    /// not a valid snapshot name (so that no decoded name reaches the file system unchecked).
    init?(payload: UnsafeRawBufferPointer) {
        guard payload.count >= 5 else { return nil }
        let id = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 1, as: UInt32.self))
        switch payload[0] {
        case Self.createOp:
            guard payload.count >= 7, payload[5] & ~3 == 0,
                  let name = try? SnapshotName(String(decoding: payload[6...], as: UTF8.self)),
                  name.rawValue.utf8.count == payload.count - 6
            else { return nil }
            let flags = payload[5]
            self = .create(id: id, name: name, options: SnapshotOptions(format: flags & 1 != 0 ? .v1 : .v2,
                                                                        rejoinAfterLeave: flags & 2 != 0))
        case Self.deleteOp:
            guard payload.count == 5 else { return nil }
            self = .delete(id: id)
        case Self.resetOp:
            guard payload.count == 5 else { return nil }
            self = .reset(id: id)
        default:
            return nil
        }
    }
}
