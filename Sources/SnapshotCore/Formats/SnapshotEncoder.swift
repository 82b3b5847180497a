/// Writes records in one on-disk format. Encoding is kept apart from file management so that
/// formats slot in side by side.
public protocol SnapshotEncoder: SendableMetatype {
    static var format: SnapshotFormat { get }
    /// The bytes a new file of this format starts with; with a log position, a checkpoint's
    /// header: the file holds everything in the log before that position.
    static func header(logPosition: UInt64?, into buffer: inout [UInt8])
    static func encode(_ record: SnapshotRecord, into buffer: inout [UInt8])
}

extension SnapshotEncoder {
    /// The header of a file that records no log position.
    public static func header(into buffer: inout [UInt8]) {
        header(logPosition: nil, into: &buffer)
    }
}

extension V1Format: SnapshotEncoder {
    public static var format: SnapshotFormat { .v1 }

    public static func header(logPosition: UInt64?, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: headerLine.utf8)
        if let logPosition { appendLogPositionLine(logPosition, to: &buffer) }
    }
}
