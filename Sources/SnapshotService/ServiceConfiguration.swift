/// How the HTTP API waits on the engine.
public struct ServiceConfiguration: Sendable {
    /// How long an ingest request may wait for queue space before it is answered 503.
    public var queueWait: Double = 1.0
    /// The `Retry-After` (seconds) sent with a 503.
    public var retryAfter = 1
    /// When set, routes that change state require `Authorization: Bearer <token>` with a token
    /// that covers the snapshot they act on. The API starts with these; `SnapshotAPI.replace(grants:)`
    /// swaps them while it serves.
    public var tokenGrants: TokenGrants?
    /// With tokens: also protect the read routes (snapshot, metrics).
    public var protectReads = false
    /// A first write to a snapshot that does not exist creates it with the server's options
    /// (false: 404 until it is created with `PUT /v1/snapshots/{name}`).
    public var autoCreate = true
    /// The most snapshots `GET /v1/snapshots` answers in one page.
    public var maxListPage = 1000

    public init() {}
}
