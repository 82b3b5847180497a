/// What a format decoder finds as it is fed a snapshot file, format-neutral: the decoders'
/// public, record-by-record API (replay itself takes borrowed `RecordView`s; the tests check
/// that both give the same).
public enum ReplayItem: Equatable, Sendable {
    /// A valid record starting at `offset`.
    case record(SnapshotRecord, offset: Int64)
    /// Bytes that are valid but carry no state (comments, headers, old coordinate lines).
    case ignored(offset: Int64)
    /// Bytes that could not be used: counted, reported with their offset, and skipped.
    case skipped(offset: Int64, length: Int64, reason: String)
}

/// An incremental decoder of one snapshot format: a value you feed bytes to, with no I/O.
public protocol SnapshotDecoder {
    /// Consumes `chunk` (the next bytes of the file) and reports what it completes.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ visit: (ReplayItem) -> Void)
    /// Ends the input. Returns the length of the file's valid prefix: bytes past it are a torn
    /// tail (an incomplete last record) that the writer truncates before appending.
    mutating func finish(_ visit: (ReplayItem) -> Void) -> Int64
    /// The creation time a format's header records (ns since 1970), when it has one.
    var createdAt: UInt64? { get }
    /// The log position a checkpoint's header says the file covers, when it says one.
    var logPosition: UInt64? { get }
}

extension SnapshotDecoder {
    public var createdAt: UInt64? { nil }
    public var logPosition: UInt64? { nil }
}
