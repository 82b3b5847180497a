/// A consistent view of the engine, as of its last completed batch.
public struct EngineStatus: Sendable {
    /// The state as of the last batch written to the file (in `fsync` mode: the last durable
    /// batch; in `buffered` mode: the last flush, at most `flushInterval` behind).
    public var state = SnapshotState()
    /// Bytes in the snapshot file (the last checkpoint).
    public var fileBytes: Int64 = 0
    /// Bytes of the write-ahead log's segments in use, and its position after the last record.
    public var logBytes: UInt64 = 0
    public var logPosition: UInt64 = 0
    /// The log position the last durable checkpoint covers.
    public var checkpointPosition: UInt64 = 0
    public var compactions = 0
    public var compacting = false
    /// The last write or compaction error; nil once a later write succeeded.
    public var lastError: String?
    public var closed = false

    public init() {}
}
