/// One record of a snapshot file, whatever its on-disk format.
public enum SnapshotRecord: Equatable, Sendable {
    /// `alive: NAME ADDR`: the node is alive at ADDR (Go's `host:port`).
    case alive(name: String, address: String)
    /// `not-alive: NAME`: the node left or failed.
    case notAlive(name: String)
    /// `clock: N`: the member Lamport clock last seen (clock time - 1).
    case clock(UInt64)
    /// `event-clock: N`: the highest user-event Lamport time seen.
    case eventClock(UInt64)
    /// `query-clock: N`: the highest query Lamport time seen.
    case queryClock(UInt64)
    /// `leave`: the agent left the cluster.
    case leave

    /// The names `kind` takes, in the order of `RecordView.Kind`.
    public static let kinds = ["alive", "not-alive", "clock", "event-clock", "query-clock", "leave"]

    /// A short name for counts by type (`inspect`, metrics).
    public var kind: String {
        switch self {
        case .alive: "alive"
        case .notAlive: "not-alive"
        case .clock: "clock"
        case .eventClock: "event-clock"
        case .queryClock: "query-clock"
        case .leave: "leave"
        }
    }
}
