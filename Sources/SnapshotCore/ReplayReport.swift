/// What replaying a snapshot file found. Nothing is skipped silently: every skipped region is
/// listed with its offset and the reason.
public struct ReplayReport: Sendable, Equatable {
    public struct Skipped: Sendable, Equatable {
        public var offset: Int64
        public var length: Int64
        public var reason: String
    }

    public var format: SnapshotFormat = .v1
    /// Valid records applied, in total and by kind (`alive`, `clock`, ...).
    public var records = 0
    public var recordsByKind: [String: Int] = [:]
    /// Comment and other state-free lines.
    public var ignored = 0
    public var skipped: [Skipped] = []
    /// Bytes of the file that replay used; past this lies a torn tail.
    public var validLength: Int64 = 0
    /// Bytes of an incomplete last record (truncated away before new appends).
    public var tornTailBytes: Int64 = 0

    public init() {}
}

/// The on-disk formats snapshotd reads and writes.
public enum SnapshotFormat: String, Sendable, CaseIterable {
    /// Go serf's text format.
    case v1
}
