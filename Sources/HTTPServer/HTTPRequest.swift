/// A complete request as parsed from the wire.
public struct HTTPRequest: Sendable {
    /// The method token, case-sensitive as sent: "GET", "POST", ...
    public var method: String
    /// The raw request-target, e.g. "/v1/snapshot?order=random" (or "http://host/path" in absolute-form).
    public var target: String
    /// The path of the target, before any '?', still percent-encoded. For the absolute-form
    /// it is the path part of the URI ("/" when empty); for "OPTIONS *" it is "*".
    public var path: String
    /// The decoded query parameters ('+' is a space; when a name repeats, the last value wins).
    public var query: [String: String]
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    public var versionMinor: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// `DispatchTime.now().uptimeNanoseconds` when the request head was complete (0 outside a server).
    public var receivedAt: UInt64
    /// The client's numeric address and port, `127.0.0.1:51234` or `[::1]:51234` ("" outside a
    /// server, or when the socket could not tell).
    public var remoteAddress: String
    /// The segments captured by the `{name}` segments of the route pattern the request
    /// matched, set by `Router` before it calls the handler (empty for an exact path).
    public var pathParameters = HTTPPathParameters()

    /// Builds a request; `path` and `query` are derived from `target`.
    public init(
        method: String,
        target: String,
        versionMinor: Int = 1,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        receivedAt: UInt64 = 0,
        remoteAddress: String = ""
    ) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.body = body
        self.receivedAt = receivedAt
        self.remoteAddress = remoteAddress
        let parts = RequestTarget.split(target)
        self.path = parts.path
        self.query = parts.query.map(RequestTarget.decodeQuery) ?? [:]
    }

    /// Whether the connection may stay open after the response, from the version and the
    /// `Connection` field: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`.
    public var keepAlive: Bool {
        if versionMinor >= 1 {
            return !headers.containsToken("close", in: "Connection")
        }
        return headers.containsToken("keep-alive", in: "Connection")
            && !headers.containsToken("close", in: "Connection")
    }
}
