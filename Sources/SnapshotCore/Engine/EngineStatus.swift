/// A consistent view of the engine, as of its last completed batch.
public struct EngineStatus: Sendable {
    /// The state as of the last batch written to the file (in `fsync` mode: the last durable
    /// batch; in `buffered` mode: the last flush, at most `flushInterval` behind).
    public var state = SnapshotState()
    /// Bytes in the snapshot file.
    public var fileBytes: Int64 = 0
    public var compactions = 0
    public var compacting = false
    /// The last write or compaction error; nil once a later write succeeded.
    public var lastError: String?
    public var closed = false

    public init() {}
}
