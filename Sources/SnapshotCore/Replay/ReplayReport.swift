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
    /// Bytes of an incomplete last record, provably an interrupted append (cut before new appends).
    public var tornTailBytes: Int64 = 0
    /// When the file was created, from a v2 header (ns since 1970).
    public var createdAt: UInt64?
    /// The log position the file says it covers (a checkpoint: everything in the log before it
    /// is in the file); nil when it says none (Go's files, older snapshotd files) or when the
    /// v2 header extension that held it is damaged.
    public var logPosition: UInt64?
    /// Where the engine kept the damaged file before repairing it (`PATH.damaged-<UTC time>`).
    public var preservedCopy: String?

    /// True when every byte of the file checked out.
    public var isClean: Bool { skipped.isEmpty && tornTailBytes == 0 }
    /// True when replay found damage: bytes that are neither records nor a torn tail. A torn
    /// tail alone is the normal trace of a crash (no acknowledged record is in it).
    public var isDamaged: Bool { !skipped.isEmpty }

    public init() {}
}
