/// One snapshot of a store, as its list shows it.
public struct SnapshotSummary: Sendable, Equatable {
    public var name: SnapshotName
    public var options: SnapshotOptions
    public var aliveCount: Int
    public var leaving: Bool
}
