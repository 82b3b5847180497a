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
    /// status, and seconds since the request head was complete.
    public var responseSent: (@Sendable (_ method: String, _ path: String, _ status: Int, _ seconds: Double) -> Void)?

    public init() {}
}
