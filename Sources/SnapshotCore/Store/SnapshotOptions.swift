/// How one snapshot of a store is kept: the format of its file at rest, and Serf's
/// RejoinAfterLeave (the alive set survives a leave, and a replayed leave is ignored).
public struct SnapshotOptions: Sendable, Equatable, Hashable {
    public var format: SnapshotFormat
    public var rejoinAfterLeave: Bool

    public init(format: SnapshotFormat = .v2, rejoinAfterLeave: Bool = false) {
        self.format = format
        self.rejoinAfterLeave = rejoinAfterLeave
    }
}
