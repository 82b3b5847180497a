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
    /// Where the engine kept the damaged file before repairing it (`PATH.damaged-<UTC time>`).
    public var preservedCopy: String?

    /// True when every byte of the file checked out.
    public var isClean: Bool { skipped.isEmpty && tornTailBytes == 0 }
    /// True when replay found damage: bytes that are neither records nor a torn tail. A torn
    /// tail alone is the normal trace of a crash (no acknowledged record is in it).
    public var isDamaged: Bool { !skipped.isEmpty }

    public init() {}
}

/// The on-disk formats snapshotd reads and writes.
public enum SnapshotFormat: String, Sendable, CaseIterable {
    /// Go serf's text format.
    case v1
    /// snapshotd's checksummed binary format (docs/FORMAT.md).
    case v2

    /// The format of a file from its first bytes; nil for an empty file. A file that starts
    /// with bytes within three bit flips of the v2 magic is v2 with a damaged header: v1 text
    /// never starts with a byte of 0x80 or more.
    public static func detect(_ prefix: some Collection<UInt8>) -> SnapshotFormat? {
        guard let first = prefix.first else { return nil }
        let head = Array(prefix.prefix(V2Format.magic.count))
        var flips = (V2Format.magic.count - head.count) * 8
        for (a, b) in zip(head, V2Format.magic) { flips += (a ^ b).nonzeroBitCount }
        return flips <= 3 || first >= 0x80 ? .v2 : .v1
    }

    var encoder: any SnapshotEncoder.Type {
        switch self {
        case .v1: V1Format.self
        case .v2: V2Format.self
        }
    }
}
