import Foundation
/// How an engine (a store) keeps its snapshots.
public struct EngineConfiguration: Sendable {
    /// When a submission completes.
    public enum Durability: String, Sendable, CaseIterable {
        /// After its records are on disk: one fdatasync per batch (group commit).
        case fsync
        /// Go serf's behaviour: on enqueue; written at least every 500 ms; fsync on leave,
        /// compaction and close.
        case buffered
    }

    public var durability: Durability = .fsync
    /// The format of a new (or empty) snapshot; an existing file keeps the format it has.
    public var format: SnapshotFormat = .v2
    /// Events the intake queue holds before submitters wait (Go serf's channels hold 2048).
    public var queueCapacity = 2048
    /// A checkpoint starts when the log holds more than max(minCompactSize, 2 × 128 B × alive
    /// nodes) since the last one (Go's rule for compacting its file).
    public var minCompactSize: Int64 = 128 * 1024
    /// Keep the alive set across a leave, and ignore a replayed leave (Serf's RejoinAfterLeave).
    public var rejoinAfterLeave = false
    /// How often the clock is checked and buffered writes are flushed (Go: 500 ms).
    public var flushInterval: Double = 0.5
    /// The earliest a failed checkpoint is tried again (Go: 30 s, for its compaction).
    public var compactionRetryInterval: Double = 30
    /// The write-ahead log's directory; nil: `wal` beside the snapshot file.
    public var logDirectory: String?
    /// The log's segments are cut at this size, and preallocated to it.
    public var segmentSize: Int64 = 64 << 20
    /// Prepare the log's next segment on a thread of its own (false: inline on the writer's,
    /// right after a cut, so that tests see one order of calls).
    public var preparesSegmentsInBackground = true
    /// A snapshot with records this far back in the log is checkpointed, however few they are,
    /// so that old segments can go; nil: max(2 segments, 4 × `minCompactSize`).
    public var laggardLogBytes: Int64?
    /// The most snapshots a store holds, `default` included: creating one more is refused.
    public var maxSnapshots = 10_000
    /// Recovery replays the log in parts of at least this many bytes at once, on every core
    /// (`ChunkedLogReplay`); a log shorter than two parts is replayed in sequence. The tests
    /// make it small, so that short logs are cut too.
    public var recoveryPartMinimum = 4 << 20
    /// Threads recovery replays the log's parts on: one per core, up to 8. The tests make it 2,
    /// so that the parts are replayed in parts on any machine.
    public var recoveryThreads = ChunkedLogReplay.defaultThreads
    /// Recovery replays the snapshot `default`'s checkpoint on a thread of its own, beside the
    /// log's parts, when it is a v2 file at least this large (smaller ones cost less than the
    /// thread; a v1 file's log position is known only once it is read whole).
    public var recoveryParallelCheckpointMinimum: Int64 = 1 << 20
    public var io: any FileIO = POSIXFileIO()
    public var observer: any EngineObserver = NoEngineObserver()

    public init() {}

    /// Go serf's sizing rule: 128 bytes a node, compacted at twice that.
    public func compactionThreshold(aliveNodes: Int) -> Int64 {
        max(minCompactSize, 2 * 128 * Int64(aliveNodes))
    }
}
