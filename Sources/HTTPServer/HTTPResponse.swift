/// A response produced by a handler (or by the server for its own errors).
///
/// The server adds `Content-Length`, `Date` and, when needed, `Connection`; any
/// `Content-Length`, `Transfer-Encoding` or `Connection` given in `headers` is ignored.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Extra header fields, sent in this order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with `Content-Type: application/json` and the given body.
    public static func json(status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        guard !headers.isEmpty else { return HTTPResponse(status: status, headers: jsonHeaders, body: body) }
        var all = headers
        all.append(jsonHeaders[0])
        return HTTPResponse(status: status, headers: all, body: body)
    }

    /// One array every JSON response without other headers shares (none allocated per response).
    private static let jsonHeaders = [("Content-Type", "application/json")]
}
