/// A cluster member as a member event names it: the fields a snapshot records.
public struct Member: Hashable, Sendable {
    public var name: String
    public var address: IPAddress
    public var port: UInt16

    public init(name: String, address: IPAddress, port: UInt16) {
        self.name = name
        self.address = address
        self.port = port
    }

    /// The address as Go serf records it (`net.TCPAddr.String()`).
    public var recordedAddress: String { address.goHostPort(port: port) }
}

/// The member event types of Serf. Only join, leave and failed change the alive set;
/// update and reap only trigger the clock check, as in Go serf. Their names are
/// `SnapshotEventKind`'s.
public enum MemberEventKind: Sendable, Hashable, CaseIterable {
    case join
    case leave
    case failed
    case update
    case reap

    /// The kind of event this is.
    public var eventKind: SnapshotEventKind {
        switch self {
        case .join: .memberJoin
        case .leave: .memberLeave
        case .failed: .memberFailed
        case .update: .memberUpdate
        case .reap: .memberReap
        }
    }

    /// Its name, `member-join` and so on.
    public var name: String { eventKind.name }

    /// The member event kind of a name (`member-join`), or nil for another name.
    public init?(name: some StringProtocol) {
        guard let kind = SnapshotEventKind(name: name)?.memberKind else { return nil }
        self = kind
    }
}
