/// Observation points of an `HTTPServer`, so that callers can feed metrics or logs without this
/// module knowing about them. All are optional and are called on the server's internal queues:
/// they must be quick and thread-safe.
public struct HTTPServerHooks: Sendable {
    /// A connection was accepted and is being served (not called for connections refused with 503
    /// because of `maxConnections`).
    public var connectionOpened: (@Sendable () -> Void)?
    /// A connection reported by `connectionOpened` is closed.
    public var connectionClosed: (@Sendable () -> Void)?
    /// Called for every response the server sends (handler responses and the server's own errors),
    /// when it is queued for writing, with the request method and path when known ("" otherwise),
    /// status, seconds since the request head was complete, and the client's address
    /// (`HTTPRequest.remoteAddress`).
    public var responseSent: (@Sendable (_ method: String, _ path: String, _ status: Int, _ seconds: Double,
                                         _ client: String) -> Void)?
    /// `accept(2)` failed with this errno for a reason other than an interrupted call or an
    /// aborted connection: out of descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), a
    /// firewall (EPERM). Pending connections wait in the listen backlog meanwhile (on EMFILE and
    /// the like the server pauses accepting for 100 ms, then tries again). Called at most for
    /// every attempt, so a caller that logs should rate-limit.
    public var acceptFailed: (@Sendable (_ errno: Int32) -> Void)?

    public init() {}
}
