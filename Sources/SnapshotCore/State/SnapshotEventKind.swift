/// Every kind of `SnapshotEvent`, and its name: the `type` of the event JSON, the `type` label of
/// `snapshotd_events_accepted_total`, and serf's `SERF_EVENT`. The one list of them: the metrics
/// make a counter for each case, and the service's decoder checks (in a test) that CEventJSON's
/// kinds are these.
///
/// The raw value is the case's ordinal, dense from 0 in declaration order, so that a table can
/// be an array indexed by kind.
public enum SnapshotEventKind: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case memberJoin
    case memberLeave
    case memberFailed
    case memberUpdate
    case memberReap
    case user
    case query
    case clock

    public var name: String {
        switch self {
        case .memberJoin: "member-join"
        case .memberLeave: "member-leave"
        case .memberFailed: "member-failed"
        case .memberUpdate: "member-update"
        case .memberReap: "member-reap"
        case .user: "user"
        case .query: "query"
        case .clock: "clock"
        }
    }

    /// The kind a name names, or nil.
    public init?(name: some StringProtocol) {
        guard let kind = Self.allCases.first(where: { $0.name.utf8.elementsEqual(name.utf8) }) else { return nil }
        self = kind
    }

    /// The member event kind, or nil for user events, queries and clocks.
    public var memberKind: MemberEventKind? {
        switch self {
        case .memberJoin: .join
        case .memberLeave: .leave
        case .memberFailed: .failed
        case .memberUpdate: .update
        case .memberReap: .reap
        case .user, .query, .clock: nil
        }
    }

    public var description: String { name }
}
