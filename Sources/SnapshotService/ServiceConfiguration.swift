/// How the HTTP API waits on the engine.
public struct ServiceConfiguration: Sendable {
    /// How long an ingest request may wait for queue space before it is answered 503.
    public var queueWait: Double = 1.0
    /// The `Retry-After` (seconds) sent with a 503.
    public var retryAfter = 1
    /// When set, routes that change state require `Authorization: Bearer <token>`.
    public var bearerToken: String?
    /// With a token: also protect the read routes (snapshot, metrics).
    public var protectReads = false

    public init() {}
}
