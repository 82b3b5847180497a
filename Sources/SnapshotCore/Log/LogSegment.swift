/// One segment file of the write-ahead log, as the log's writer and reader track it.
///
/// Segment files are named `<sequence as 16 hex digits>.wal`, so that names sort in log order;
/// the log position of a record is its segment's base plus its offset after the header.
struct LogSegment: Sendable, Equatable {
    static let suffix = ".wal"

    var sequence: UInt64
    var path: String
    /// The log position of the segment's first record (its header's base).
    var base: UInt64
    /// The log position after its last record.
    var end: UInt64

    static func name(sequence: UInt64) -> String {
        let hex = String(sequence, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + suffix
    }

    /// The sequence a segment's file name carries; nil for any other name (copies, temporaries).
    static func sequence(ofName name: String) -> UInt64? {
        guard name.count == 16 + suffix.count, name.hasSuffix(suffix) else { return nil }
        return UInt64(name.prefix(16), radix: 16)
    }
}
