/// Receives what the engine does, for metrics. Called from the engine's own threads: keep
/// each call short and non-blocking. Every method has a default that does nothing.
public protocol EngineObserver: Sendable {
    /// A submission was admitted: how many events of each type.
    func accepted(_ events: [SnapshotEvent])
    /// Events were refused, and why.
    func refused(count: Int, reason: SnapshotError)
    /// A batch was written with one write(2): records, bytes and the seconds it took.
    func wrote(records: Int, bytes: Int, seconds: Double)
    /// An fdatasync or fsync completed and how long it took.
    func synced(seconds: Double)
    func compacted(_ result: CompactionResult)
    func failed(_ error: SnapshotError)
}

extension EngineObserver {
    public func accepted(_ events: [SnapshotEvent]) {}
    public func refused(count: Int, reason: SnapshotError) {}
    public func wrote(records: Int, bytes: Int, seconds: Double) {}
    public func synced(seconds: Double) {}
    public func compacted(_ result: CompactionResult) {}
    public func failed(_ error: SnapshotError) {}
}

/// The observer used when none is given.
public struct NoEngineObserver: EngineObserver {
    public init() {}
}
