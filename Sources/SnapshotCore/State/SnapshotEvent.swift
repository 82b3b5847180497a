/// One event handed to the snapshot engine. Mirrors the events Go serf's snapshotter consumes,
/// plus an explicit clock observation (the agent's member Lamport clock, witnessed).
public enum SnapshotEvent: Sendable, Equatable {
    /// A member event; `ltime`, when present, is witnessed before the event is applied.
    case member(MemberEventKind, members: [Member], ltime: UInt64?)
    /// A user event: only its Lamport time is recorded (`event-clock:`).
    case user(ltime: UInt64, name: String, payload: [UInt8], coalesce: Bool)
    /// A query: only its Lamport time is recorded (`query-clock:`).
    case query(ltime: UInt64, name: String)
    /// The agent's member clock: witnessed, then recorded as `clock: ltime` when it advances.
    case clock(ltime: UInt64)

    /// The kind of event: its name is the label for metrics and logs (`member-join`, `user`,
    /// `query`, `clock`).
    public var kind: SnapshotEventKind {
        switch self {
        case .member(let kind, _, _): kind.eventKind
        case .user: .user
        case .query: .query
        case .clock: .clock
        }
    }

    /// Why this event cannot be recorded, or nil when it can. A member name with a line break
    /// would corrupt the line-based v1 format, so it is refused at the edge.
    public var validationError: String? {
        if case .member(_, let members, _) = self {
            for member in members {
                if member.name.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
                    return "member name must not contain a line break: \(member.name.debugDescription)"
                }
                if member.name.utf8.count > Self.maxNameBytes {
                    return "member name is longer than \(Self.maxNameBytes) bytes"
                }
            }
        }
        return nil
    }

    /// The longest member name recorded (Serf's own names are far shorter).
    public static let maxNameBytes = 16 * 1024
}
