/// A consistent view of the store as a whole, as of the writer's last batch.
public struct StoreStatus: Sendable {
    /// Snapshots, `default` included.
    public var snapshots = 1
    /// Bytes of the write-ahead log's segments in use, and its position after the last record.
    public var logBytes: UInt64 = 0
    public var logPosition: UInt64 = 0
    /// Rounds of checkpoints completed, and whether one is running.
    public var checkpointRounds = 0
    public var checkpointing = false
    /// The last write or checkpoint error; nil once a later write succeeded.
    public var lastError: String?
    public var closed = false

    public init() {}
}
