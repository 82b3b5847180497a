/// Why the engine refused or failed a request. Every refusal is distinct and reaches the
/// caller: no event is dropped silently.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The intake queue stayed full until the submitter's deadline.
    case queueFull
    /// The snapshot is leaving: events are no longer recorded.
    case leaving
    /// The engine is closed (or closing) and takes nothing more.
    case closed
    /// An event cannot be recorded (for example a name with a line break).
    case invalidEvent(index: Int, reason: String)
    /// Writing or syncing the file failed; nothing of this submission was recorded.
    case writeFailed(String)
    /// Compaction failed; the old snapshot is intact.
    case compactionFailed(String)
    /// No snapshot of this name (or it was deleted).
    case unknownSnapshot(String)
    /// The request conflicts with what the store holds (a create with other options, the
    /// snapshot `default` deleted, a name whose file the store cannot explain).
    case conflict(String)
    /// Creating one more snapshot would pass the store's limit.
    case tooManySnapshots(limit: Int)

    public var description: String {
        switch self {
        case .queueFull: "the intake queue is full"
        case .leaving: "the snapshot is leaving: events are no longer recorded"
        case .closed: "the snapshot engine is closed"
        case .invalidEvent(let index, let reason): "event \(index): \(reason)"
        case .writeFailed(let message): "write failed: \(message)"
        case .compactionFailed(let message): "compaction failed: \(message)"
        case .unknownSnapshot(let name): "no snapshot named \"\(name)\""
        case .conflict(let message): message
        case .tooManySnapshots(let limit): "the store holds its limit of \(limit) snapshots (--max-snapshots): delete one first"
        }
    }

    /// Why, without the details: the `reason` label of the refused-events counter.
    public var reason: Reason {
        switch self {
        case .queueFull: .queueFull
        case .leaving: .leaving
        case .closed: .closed
        case .invalidEvent: .invalid
        case .writeFailed: .writeFailed
        case .compactionFailed: .compactionFailed
        case .unknownSnapshot: .unknownSnapshot
        case .conflict: .conflict
        case .tooManySnapshots: .tooManySnapshots
        }
    }

    /// Every reason a request is refused or fails: the one list of them, which the metrics
    /// iterate to make a `snapshotd_events_refused_total{reason=...}` counter each.
    ///
    /// The raw value is the case's ordinal, dense from 0 in declaration order, so that a table
    /// can be an array indexed by reason.
    public enum Reason: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case queueFull
        case leaving
        case closed
        case invalid
        case writeFailed
        case compactionFailed
        case unknownSnapshot
        case conflict
        case tooManySnapshots

        /// A stable label (`queue_full`): metrics label values depend on it.
        public var label: String {
            switch self {
            case .queueFull: "queue_full"
            case .leaving: "leaving"
            case .closed: "closed"
            case .invalid: "invalid"
            case .writeFailed: "write_failed"
            case .compactionFailed: "compaction_failed"
            case .unknownSnapshot: "unknown_snapshot"
            case .conflict: "conflict"
            case .tooManySnapshots: "too_many_snapshots"
            }
        }

        public var description: String { label }
    }
}

/// A completed submission.
public struct Acknowledgement: Sendable, Equatable {
    /// Events taken.
    public var accepted: Int
    /// True when the events' records were on disk (fdatasync) before this completion.
    public var durable: Bool
}

/// A completed compaction.
public struct CompactionResult: Sendable, Equatable {
    public var bytesBefore: Int64
    public var bytesAfter: Int64
    public var seconds: Double
}
