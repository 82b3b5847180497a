/// Writes records in one on-disk format. Encoding is kept apart from file management so that
/// formats slot in side by side.
public protocol SnapshotEncoder: SendableMetatype {
    static var format: SnapshotFormat { get }
    /// The bytes a new file of this format starts with.
    static func header(into buffer: inout [UInt8])
    static func encode(_ record: SnapshotRecord, into buffer: inout [UInt8])
}

extension V1Format: SnapshotEncoder {
    public static var format: SnapshotFormat { .v1 }

    public static func header(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: headerLine.utf8)
    }
}
