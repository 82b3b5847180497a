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
/// update and reap only trigger the clock check, as in Go serf.
public enum MemberEventKind: String, Sendable, CaseIterable {
    case join = "member-join"
    case leave = "member-leave"
    case failed = "member-failed"
    case update = "member-update"
    case reap = "member-reap"
}
